"""Reads for the access request pages: the requests each person may see, and their instances as BCC has them now.

An approver must see what approving would do: which instances, and whose key pair each holds
now (binding replaces it). That is read from BCC when the page is opened, one list call per
region for the whole page (``instanceIds`` filter), never taken from the request; when BCC
cannot be read the page says so and still shows the requests.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

from keypairs.bcc.errors import BccError
from keypairs.bcc.factory import get_client
from keypairs.models import AccessRequest, KeyPairRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstanceNow:
    """An instance of a request as BCC has it now; ``known`` is False when BCC could not be read."""

    instance_id: str
    name: str = ""
    keypair_id: str = ""
    holder: str = ""  # "alice's web (k-…)" when the portal knows the key pair; the id alone otherwise
    known: bool = True
    gone: bool = False


def pending_requests():
    return (
        AccessRequest.objects.filter(status=AccessRequest.Status.PENDING)
        .select_related("requester", "keypair_request", "rule")
        .order_by("decide_by", "created_at")
    )


def requests_of(person):
    return AccessRequest.objects.filter(requester=person).select_related("keypair_request", "decided_by", "rule")


def visible_request(person, public_id, *, approver: bool) -> AccessRequest | None:
    """The request if ``person`` may see it: approvers see every one, requesters their own."""
    requests = AccessRequest.objects.select_related("requester", "keypair_request", "decided_by", "rule")
    if not approver:
        requests = requests.filter(requester=person)
    return requests.filter(public_id=public_id).first()


def instances_now(access_requests: Iterable[AccessRequest]) -> dict[int, list[InstanceNow]]:
    """Each request's instances as BCC has them now, by request pk: one BCC list call per region."""
    access_requests = list(access_requests)
    wanted: dict[str, set[str]] = defaultdict(set)
    for access_request in access_requests:
        wanted[access_request.region].update(access_request.instance_ids)
    seen: dict[tuple[str, str], object] = {}
    unreadable: set[str] = set()
    for region, ids in wanted.items():
        try:
            for instance in get_client(region).list_instances(instance_ids=sorted(ids)):
                seen[(region, instance.instance_id)] = instance
        except (BccError, ImproperlyConfigured) as error:
            logger.warning("Instances of access requests in %s not read from BCC: %s", region, type(error).__name__)
            unreadable.add(region)
    owners = _keypairs_known(seen.values())
    return {
        access_request.pk: [
            _now(access_request.region, instance_id, seen, unreadable, owners)
            for instance_id in access_request.instance_ids
        ]
        for access_request in access_requests
    }


def _now(region, instance_id, seen, unreadable, owners) -> InstanceNow:
    if region in unreadable:
        return InstanceNow(instance_id, known=False)
    instance = seen.get((region, instance_id))
    if instance is None:
        return InstanceNow(instance_id, gone=True)
    keypair_id = instance.keypair_id or ""
    return InstanceNow(
        instance_id, name=instance.name, keypair_id=keypair_id, holder=owners.get(keypair_id, keypair_id)
    )


def _keypairs_known(instances) -> dict[str, str]:
    ids = {instance.keypair_id for instance in instances if instance.keypair_id}
    if not ids:
        return {}
    records = KeyPairRequest.objects.filter(keypair_id__in=ids, status=KeyPairRequest.Status.CREATED).select_related(
        "owner"
    )
    return {
        record.keypair_id: f"{record.owner.get_username()}: {record.name} ({record.keypair_id})" for record in records
    }
