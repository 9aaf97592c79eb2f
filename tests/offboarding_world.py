"""Helpers for the offboarding tests: key pairs made for real in the sandbox, and what became of them."""

from __future__ import annotations

import uuid

from keypairs import services
from keypairs.audit import Origin
from keypairs.bcc.errors import KEYPAIR_NOT_EXIST, BccApiError
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, Departure, KeyPairRequest
from tests.sandbox_instances import linux_instances

ORIGIN = Origin()


def made(owner, name: str, region: str = "bj") -> KeyPairRequest:
    """A key pair created for ``owner`` through the create service, in the sandbox."""
    result = services.keypair_create(
        user=owner,
        form_token=uuid.uuid4().hex,
        browser_session="browser",
        name=name,
        description="",
        region=region,
        origin=ORIGIN,
    )
    return result.keypair_request


def in_bcc(keypair_request: KeyPairRequest) -> bool:
    """Whether the sandbox still has the key pair, asked through the BCC client."""
    try:
        get_client(keypair_request.region).get_keypair(keypair_request.keypair_id)
    except BccApiError as error:
        assert error.code == KEYPAIR_NOT_EXIST
        return False
    return True


def bind(sandbox, keypair_request: KeyPairRequest, *instance_ids: str) -> None:
    """Bind the key pair to new Linux instances of these ids in the sandbox (which binds only to instances it has)."""
    linux_instances(sandbox, keypair_request.region, ids=list(instance_ids))
    get_client(keypair_request.region).attach_keypair(keypair_request.keypair_id, instance_ids=list(instance_ids))


def fresh(keypair_request: KeyPairRequest) -> KeyPairRequest:
    return KeyPairRequest.objects.get(pk=keypair_request.pk)


def actions(*names: str) -> list[tuple[str, str]]:
    rows = AuditEvent.objects.order_by("id")
    if names:
        rows = rows.filter(action__in=names)
    return list(rows.values_list("action", "detail"))


def departure_of(user) -> Departure:
    return Departure.objects.get(person=user)
