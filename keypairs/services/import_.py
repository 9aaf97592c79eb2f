"""Importing a public key the developer already holds: record the intent, call BCC, record the outcome.

The create flow's guarantees hold here (``keypairs.services.create``): the intent is committed
before BCC is called and its ``form_token`` is unique (a double-submitted form imports once),
BCC is called outside any transaction with a ``clientToken``, the per-user cap, the rate limit
and the shared quota apply, and audit rows (import requested, imported, import failed) are
written outside transactions, so no rollback erases them.

What differs, and why:

- No private key ever passes through the portal, so there is no delivery and no download
  token; a successful import lands on the key pair's page.
- The key is checked by ``keypairs.public_keys.public_key_inspect`` before this service is
  called (the form does it); the service takes the ``InspectedPublicKey`` and sends BCC its
  normalized line. The SHA256 fingerprint is stored with the intent, so a lost answer can be
  matched later.
- An import whose answer was lost left no private key anywhere: the key pair, if BCC made it,
  is as good as one whose answer arrived. Reconciliation (``keypairs.reconcile``) therefore
  finds it by name and fingerprint and KEEPS it, marking the request created, where a lost
  create's key pair is deleted. For the same reason a late answer is stored even after
  reconciliation took the request over.
- ``Keypair.KeypairPublicKeyExist``: BCC holds a key pair with this public key already. If it
  is one of the person's own (their records, matched by fingerprint), the failure carries it
  so the page can link to it; a key pair of anyone else is never named.

The steps both flows share (the intent, the limits, a failure settled) are in
``keypairs.services._intent``.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from keypairs.audit import Origin, ensure_outside_transaction
from keypairs.bcc.errors import KEYPAIR_PUBLIC_KEY_EXISTS, BccApiError, BccError, BccOutcomeUnknown
from keypairs.bcc.factory import get_client
from keypairs.delivery_crypto import form_token_hash
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.public_keys import InspectedPublicKey
from keypairs.services import _intent
from keypairs.services._auditor import auditor_for
from keypairs.services.bcc_failures import error_code
from keypairs.services.errors import ServiceFailed

logger = logging.getLogger(__name__)

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Status = KeyPairRequest.Status

IMPORT_FORM_ALREADY_USED = _("This form was already used. Reload the page to import another public key.")
PUBLIC_KEY_EXISTS_OWN = _(
    "This public key is already in BCC: it is your key pair %(name)s. Nothing was imported; use that key pair."
)
PUBLIC_KEY_EXISTS = _(
    "This public key is already in BCC, in a key pair that is not yours. Nothing was imported. "
    "Use another key pair of your own, or generate one in your browser."
)

FLOW = _intent.Flow(verb="import", failed=Action.IMPORT_FAILED, logger=logger)


@dataclass(frozen=True)
class ImportResult:
    """What ``keypair_import`` did, when it did not raise; ``replayed``: the form had been submitted before."""

    keypair_request: KeyPairRequest
    replayed: bool = False


class PublicKeyAlreadyInBcc(ServiceFailed):
    """BCC refused the import: the public key is in a key pair already.

    ``own_keypair`` is the person's own record of that key pair (found by fingerprint), or None:
    someone else's key pair, or one the portal does not know, is never named or linked.
    """

    def __init__(self, message: str, *, own_keypair: KeyPairRequest | None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.own_keypair = own_keypair


def keypair_import(
    *,
    user,
    form_token: str,
    name: str,
    description: str,
    region: str,
    public_key: InspectedPublicKey,
    origin: Origin,
) -> ImportResult:
    """Import ``public_key`` (already checked by ``public_key_inspect``) into BCC as ``user``'s key pair.

    Raises ``ServiceRefused`` when the limits refuse or the form is someone else's, and
    ``ServiceFailed`` (``PublicKeyAlreadyInBcc`` for a key BCC holds already) when the import
    was tried and did not make a key pair. An unknown outcome is reconciled at once: a key pair
    found in BCC is kept and the result returned as success; otherwise ``ServiceFailed`` says
    what is known.
    """
    ensure_outside_transaction()
    token_hash = form_token_hash(form_token)
    earlier = _intent.earlier_attempt(token_hash)
    if earlier is not None:
        return _replayed(earlier, user=user)
    _intent.check_limits(FLOW, user=user, name=name, region=region, claim=token_hash, origin=origin)
    intent = _intent.record_intent(
        user=user,
        token_hash=token_hash,
        kind=KeyPairRequest.Kind.IMPORT,
        client_token=secrets.token_hex(32),
        region=region,
        name=name,
        description=description,
        # Known before BCC answers: a lost answer is matched by this fingerprint.
        public_key=public_key.openssh_line,
        fingerprint_sha256=public_key.sha256_fingerprint,
    )
    if intent is None:
        return _replayed(_intent.earlier_attempt(token_hash), user=user)

    audit = auditor_for(user=user, origin=origin, keypair_request=intent)
    audit(
        action=Action.IMPORT_REQUESTED, outcome=Outcome.SUCCESS, detail=f"fingerprint {public_key.sha256_fingerprint}"
    )

    started = time.monotonic()
    try:
        keypair = get_client(region).import_keypair(
            name=name, description=description, public_key=public_key.openssh_line, client_token=intent.client_token
        )
    except BccError as error:
        return _failed(intent, error, user=user, audit=audit, origin=origin)
    except ImproperlyConfigured as error:
        _intent.settle_misconfigured(FLOW, intent, error, audit=audit, origin=origin)
    latency_ms = int((time.monotonic() - started) * 1000)

    # A late answer (reconciliation took the request over meanwhile) is stored all the same:
    # the imported key pair is kept either way, and the first to settle writes the audit row.
    with transaction.atomic():
        stored = KeyPairRequest.objects.filter(pk=intent.pk, status__in=(Status.PENDING, Status.UNKNOWN)).update(
            status=Status.CREATED,
            keypair_id=keypair.keypair_id,
            fingerprint_bcc=keypair.fingerprint,
            bcc_created_at=keypair.created_time,
            bcc_request_id=keypair.request_id or "",
            error_code="",
            error_message="",
            completed_at=timezone.now(),
        )
    intent.refresh_from_db()
    if stored:
        audit(
            action=Action.IMPORTED,
            outcome=Outcome.SUCCESS,
            keypair_id=keypair.keypair_id,
            bcc_request_id=keypair.request_id or "",
            latency_ms=latency_ms,
        )
    return ImportResult(intent)


def _replayed(earlier: KeyPairRequest | None, *, user) -> ImportResult:
    earlier = _intent.refuse_someone_elses(earlier, user=user, message=gettext(IMPORT_FORM_ALREADY_USED))
    return ImportResult(earlier, replayed=True)


def _failed(intent: KeyPairRequest, error: BccError, *, user, audit, origin: Origin) -> ImportResult:
    code = error_code(error)
    if isinstance(error, BccApiError) and error.code == KEYPAIR_PUBLIC_KEY_EXISTS:
        facing: ServiceFailed = _already_in_bcc(intent, user=user, code=code)
    else:
        facing = _intent.failure_for(error, region=intent.region, reference=origin.portal_request_id, code=code)
    _intent.settle_failure(FLOW, intent, error, facing, audit=audit, origin=origin)
    if isinstance(error, BccOutcomeUnknown):
        # Reconciliation looks for the key pair by name and fingerprint, and keeps it if it is there.
        reconciliation = _intent.reconcile_lost_answer(FLOW, intent, error, origin=origin)
        if reconciliation.keypair_request.status == Status.CREATED:
            return ImportResult(reconciliation.keypair_request)
        raise _intent.not_made(reconciliation, code=code)
    facing.keypair_request = intent
    raise facing


def _already_in_bcc(intent: KeyPairRequest, *, user, code: str) -> PublicKeyAlreadyInBcc:
    """BCC holds this public key already: name the key pair only if it is the person's own."""
    own = (
        KeyPairRequest.objects.filter(owner=user, fingerprint_sha256=intent.fingerprint_sha256, status=Status.CREATED)
        .exclude(pk=intent.pk)
        .order_by("-created_at")
        .first()
    )
    message = gettext(PUBLIC_KEY_EXISTS_OWN) % {"name": own.name} if own else gettext(PUBLIC_KEY_EXISTS)
    return PublicKeyAlreadyInBcc(message, own_keypair=own, http_status=409, code=code)
