"""Creating a key pair: record the intent, call BCC, record the outcome, deliver the key.

Order matters here, because BCC returns a private key once, ever:

1. The intent (a ``KeyPairRequest`` in ``pending``) is committed before BCC is called, so a
   worker that dies mid-call leaves a row that says so; ``form_token`` is unique, so a
   double-submitted form finds the first attempt instead of making a second key pair.
2. BCC is called outside any transaction: no database lock is held across the network.
3. On success the outcome and the encrypted delivery are committed together. If that commit
   fails, the key pair would be orphaned in BCC with its private key lost, so it is deleted
   there and the user is told.
4. Audit rows are written after each step's transaction, never inside one, so a rollback can
   never erase the record of a failure (see ``keypairs.audit``).
5. Before any of this, the per-user cap and rate limit (``keypairs.limits``) may refuse the
   create: nothing is recorded but an audit row, and BCC is not called. A resubmitted form is
   not a new create, so it is answered before the limits are asked.
6. A create with no answer is reconciled at once (``keypairs.reconcile``): the key pair it may
   have made is looked up in BCC and deleted, and the user is told what was found. The answer
   is stored only while the request is still ``pending``: once reconciliation has taken a
   request over, a late answer's key pair is deleted instead of delivered.

Failures are reported the way every write service reports them (``keypairs.services.errors``):
``ServiceRefused`` when nothing was done, ``ServiceFailed`` when the attempt is recorded.
Delivery claims, reports and purges live in ``keypairs.delivery``. The steps an import shares
with this flow (the intent, the limits, a failure settled) are in ``keypairs.services._intent``.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import NoReturn

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, transaction
from django.utils.translation import gettext, gettext_noop

from keypairs import messages
from keypairs.audit import Origin, ensure_outside_transaction
from keypairs.bcc.errors import KEYPAIR_NOT_EXIST, BccApiError, BccError, BccOutcomeUnknown
from keypairs.bcc.factory import get_client
from keypairs.bcc.fingerprints import sha256_fingerprint_or_blank
from keypairs.delivery import delivery_create
from keypairs.delivery_crypto import download_token_for, form_token_hash
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.services import _intent
from keypairs.services._auditor import auditor_for
from keypairs.services.bcc_failures import error_code
from keypairs.services.errors import ServiceFailed

logger = logging.getLogger(__name__)

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Status = KeyPairRequest.Status

# In English, marked for translation and translated where it is used (tests compare with it).
FORM_ALREADY_USED = gettext_noop("This form was already used. Reload the page to create another key pair.")
# The codes recorded when BCC created a key pair whose private key the portal could not store:
# deleted again in BCC, or left there (an orphan an operator must delete).
NOT_STORED = "delivery_not_stored"
ORPHANED = "delivery_not_stored_keypair_orphaned"
# The code recorded when BCC answered after reconciliation had taken the request over.
ANSWERED_TOO_LATE = "answered_after_reconciliation"

FLOW = _intent.Flow(verb="create", failed=Action.FAILED, logger=logger)


class _NoLongerPending(Exception):
    """The request was taken over (reconciled) while BCC was answering it."""


@dataclass(frozen=True)
class CreateResult:
    """What ``keypair_create`` did, when it did not raise.

    ``download_token`` is set when a private key is (or may soon be) waiting for this form's
    download: the caller hands it to the owner's browser and forgets it. A resubmitted form
    gets it again (it derives from the form token, the browser's session and the server's
    ``DOWNLOAD_TOKEN_KEY``), so a browser that kept only the second response can still
    download. ``replayed`` means the form had been submitted before, and this is the earlier
    attempt, however it ended (its page says how: a replay is never raised as a failure).
    """

    keypair_request: KeyPairRequest
    download_token: str | None = field(default=None, repr=False)
    replayed: bool = False


def keypair_create(
    *,
    user,
    form_token: str,
    browser_session: str,
    name: str,
    description: str,
    region: str,
    origin: Origin,
) -> CreateResult:
    """Create a key pair in BCC for ``user`` and hold its private key for one download.

    ``browser_session`` names the submitting browser (its session key): the download token
    is bound to it, so only that browser, resubmitting the form, gets a working one again.
    Raises ``ServiceRefused`` when the portal's limits refuse the create (``code`` is the
    ``keypairs.limits`` kind) or the form is someone else's (``FORM_NOT_YOURS``), and
    ``ServiceFailed`` when the create was tried and nothing can be downloaded.
    """
    ensure_outside_transaction()
    # Derived before anything is written or BCC is called: a missing key must stop here.
    download_token = _download_token(form_token=form_token, browser_session=browser_session)
    token_hash = form_token_hash(form_token)
    earlier = _intent.earlier_attempt(token_hash)
    if earlier is not None:
        return _replayed(earlier, user=user, download_token=download_token)
    _intent.check_limits(FLOW, user=user, name=name, region=region, claim=token_hash, origin=origin)
    intent = _intent.record_intent(
        user=user,
        token_hash=token_hash,
        # Sent to BCC as clientToken: a transport-level replay can never make a second key pair.
        client_token=secrets.token_hex(32),
        region=region,
        name=name,
        description=description,
    )
    if intent is None:
        # A concurrent submission of the same form won: this one is no new create.
        return _replayed(_intent.earlier_attempt(token_hash), user=user, download_token=download_token)

    audit = auditor_for(user=user, origin=origin, keypair_request=intent)
    audit(action=Action.REQUESTED, outcome=Outcome.SUCCESS)

    started = time.monotonic()
    try:
        keypair = get_client(region).create_keypair(
            name=name, description=description, client_token=intent.client_token
        )
    except BccError as error:
        _failed(intent, error, audit=audit, origin=origin)
    except ImproperlyConfigured as error:
        # get_client refuses incomplete BCC settings.
        _intent.settle_misconfigured(FLOW, intent, error, audit=audit, origin=origin)
    latency_ms = _ms_since(started)

    try:
        with transaction.atomic():
            if not KeyPairRequest.objects.select_for_update().filter(pk=intent.pk, status=Status.PENDING).exists():
                raise _NoLongerPending
            _intent.finish(
                intent,
                status=Status.CREATED,
                keypair_id=keypair.keypair_id,
                public_key=keypair.public_key,
                fingerprint_bcc=keypair.fingerprint,
                fingerprint_sha256=sha256_fingerprint_or_blank(keypair.public_key),
                bcc_created_at=keypair.created_time,
                bcc_request_id=keypair.request_id or "",
            )
            _, token = delivery_create(
                keypair_request=intent,
                private_key_pem=keypair.private_key or "",
                token=download_token,
            )
    except _NoLongerPending:
        _answered_too_late(intent, keypair_id=keypair.keypair_id, audit=audit, origin=origin)
    except (DatabaseError, ValueError):
        logger.exception("Could not store the delivery of key pair %s; deleting it in BCC", keypair.keypair_id)
        _undo_unstored(intent, keypair_id=keypair.keypair_id, audit=audit, origin=origin)

    audit(
        action=Action.CREATED,
        outcome=Outcome.SUCCESS,
        keypair_id=keypair.keypair_id,
        bcc_request_id=keypair.request_id or "",
        latency_ms=latency_ms,
    )
    return CreateResult(intent, download_token=token)


def _download_token(*, form_token: str, browser_session: str) -> str:
    return download_token_for(
        form_token=form_token, browser_session=browser_session, server_key=settings.DOWNLOAD_TOKEN_KEY
    )


def _replayed(earlier: KeyPairRequest | None, *, user, download_token: str) -> CreateResult:
    earlier = _intent.refuse_someone_elses(earlier, user=user, message=gettext(FORM_ALREADY_USED))
    # Still being created, or created: the first response's cookie may never have reached the
    # browser, so this response carries the same one. Another session resubmitting the form
    # gets a token derived from its own session, which opens nothing.
    waiting = earlier.status in (Status.PENDING, Status.CREATED)
    token = download_token if waiting else None
    return CreateResult(earlier, download_token=token, replayed=True)


def _failed(intent: KeyPairRequest, error: BccError, *, audit, origin: Origin) -> NoReturn:
    code = error_code(error)
    facing = _intent.failure_for(error, region=intent.region, reference=origin.portal_request_id, code=code)
    _intent.settle_failure(FLOW, intent, error, facing, audit=audit, origin=origin)
    if isinstance(error, BccOutcomeUnknown):
        # The key pair the call may have made is looked up in BCC and deleted; the sentence
        # was written on the request by the reconciliation, whatever it found.
        raise _intent.not_made(_intent.reconcile_lost_answer(FLOW, intent, error, origin=origin), code=code)
    facing.keypair_request = intent
    raise facing


def _undo_unstored(intent: KeyPairRequest, *, keypair_id: str, audit, origin: Origin) -> NoReturn:
    """The key pair exists in BCC but its private key could not be stored: delete it there."""
    if _delete_in_bcc(intent, keypair_id=keypair_id, origin=origin, why="its private key could not be stored"):
        detail = "private key could not be stored; key pair deleted in BCC"
        code = NOT_STORED
        facing = ServiceFailed(messages.NOT_STORED, http_status=500, code=code, keypair_request=intent)
    else:
        message = messages.NOT_STORED_NOT_DELETED.format(keypair_id=keypair_id, reference=origin.portal_request_id)
        detail = "private key could not be stored; deleting the key pair in BCC failed"
        code = ORPHANED
        facing = ServiceFailed(message, http_status=500, code=code, operators_must_act=True, keypair_request=intent)
    try:
        with transaction.atomic():
            _intent.finish(
                intent, status=Status.FAILED, keypair_id=keypair_id, error_code=code, error_message=facing.message
            )
    except DatabaseError:
        logger.exception("Could not record the failure of key pair request %s", intent.public_id)
    audit(action=Action.FAILED, outcome=Outcome.FAILURE, keypair_id=keypair_id, bcc_error_code=code, detail=detail)
    raise facing


def _answered_too_late(intent: KeyPairRequest, *, keypair_id: str, audit, origin: Origin) -> NoReturn:
    """BCC answered after reconciliation took the request over (its worker looked lost).

    The reconciliation owns the request now and may already have told the user it failed, so
    this key pair is never delivered: it is deleted (a reconciliation that found it first makes
    that a no-op), and the request's status is left to the reconciliation.
    """
    if not _delete_in_bcc(intent, keypair_id=keypair_id, origin=origin, why="BCC answered after reconciliation"):
        message = messages.NOT_STORED_NOT_DELETED.format(keypair_id=keypair_id, reference=origin.portal_request_id)
        audit(
            action=Action.FAILED,
            outcome=Outcome.FAILURE,
            keypair_id=keypair_id,
            bcc_error_code=ANSWERED_TOO_LATE,
            detail="BCC answered after reconciliation; deleting the key pair failed",
        )
        raise ServiceFailed(
            message, http_status=504, code=ANSWERED_TOO_LATE, operators_must_act=True, keypair_request=intent
        )
    audit(
        action=Action.FAILED,
        outcome=Outcome.FAILURE,
        keypair_id=keypair_id,
        bcc_error_code=ANSWERED_TOO_LATE,
        detail="BCC answered after reconciliation; key pair deleted in BCC",
    )
    raise ServiceFailed(messages.ANSWER_TOO_LATE, http_status=504, code=ANSWERED_TOO_LATE, keypair_request=intent)


def _delete_in_bcc(intent: KeyPairRequest, *, keypair_id: str, origin: Origin, why: str) -> bool:
    """Delete a key pair whose private key nobody will ever get; True once it is gone from BCC.

    Already gone counts as deleted. On failure the operators get a log line naming the orphan.
    """
    try:
        get_client(intent.region).delete_keypair(keypair_id)
    except BccError as error:
        if isinstance(error, BccApiError) and error.code == KEYPAIR_NOT_EXIST:
            return True
        logger.error(
            "Key pair %s in %s is orphaned: %s and deleting it failed (%s). Delete it by hand. portal_request_id=%s",
            keypair_id,
            intent.region,
            why,
            error,
            origin.portal_request_id or "-",
        )
        return False
    return True


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
