"""The steps creating and importing a key pair share: an intent recorded before BCC is called.

Both services follow the same order (``keypairs.services.create`` explains why): a form
submitted before is answered as a replay, the portal's limits may refuse (an audit row, nothing
else), the intent is committed with its unique form token before BCC is called, and a failure
settles the intent (``failed`` or ``unknown``) in its own transaction before its audit row is
written, outside any transaction. A lost answer is then reconciled at once.

What differs stays in each service: their sentences, the replay's answer, what a lost answer's
key pair becomes (a create's is deleted, an import's kept), BCC's refusals only an import
meets. A ``Flow`` names the rest: the verb in the operators' log lines, the audit action of a
failure, and the service's own logger, so its lines keep the name they always had.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from keypairs import limits, messages
from keypairs.audit import Origin, audit_record
from keypairs.bcc import errors
from keypairs.bcc.errors import BccApiError, BccError, BccOutcomeUnknown
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.reconcile import Reconciliation, keypair_reconcile
from keypairs.services.bcc_failures import SETTINGS_INCOMPLETE, input_refusal, is_misconfiguration, transport_reason
from keypairs.services.errors import ServiceFailed, ServiceRefused

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Status = KeyPairRequest.Status

# The code of the refusal of someone else's form: never reveal what it created.
FORM_NOT_YOURS = "form_already_used"


@dataclass(frozen=True)
class Flow:
    """What tells one service's intents apart in the steps below."""

    verb: str  # "create", "import": the operators' log lines say which
    failed: str  # the audit action of a failure: Action.FAILED, Action.IMPORT_FAILED
    logger: logging.Logger


def earlier_attempt(token_hash: str) -> KeyPairRequest | None:
    """The intent this form made before, if it was submitted before."""
    return KeyPairRequest.objects.filter(form_token_hash=token_hash).first()


def refuse_someone_elses(earlier: KeyPairRequest | None, *, user, message: str) -> KeyPairRequest:
    """The earlier attempt, if it is ``user``'s; anyone else's form is refused without a word about it."""
    if earlier is None or earlier.owner_id != user.pk:
        raise ServiceRefused(message, http_status=409, code=FORM_NOT_YOURS)
    return earlier


def check_limits(flow: Flow, *, user, name: str, region: str, claim: str, origin: Origin) -> None:
    """Raise ``ServiceRefused`` when the portal's limits refuse; no ``KeyPairRequest`` is made for it."""
    refusal = limits.limit_check(user=user, region=region, claim=claim)
    if refusal is None:
        return
    audit_record(
        action=flow.failed,
        outcome=Outcome.DENIED,
        actor=user,
        origin=origin,
        region=region,
        keypair_name=name,
        bcc_error_code=limits.PORTAL_LIMIT,
        detail=refusal.detail,
    )
    raise ServiceRefused(
        refusal.message, http_status=refusal.http_status, code=refusal.kind, retry_after=refusal.retry_after
    )


def record_intent(*, user, token_hash: str, **fields) -> KeyPairRequest | None:
    """Commit the intent before BCC is called; None when a concurrent submission of the form won.

    That submission is no new create, so the rate limit's claim on this one is given back.
    """
    try:
        with transaction.atomic():
            return KeyPairRequest.objects.create(owner=user, form_token_hash=token_hash, **fields)
    except IntegrityError:
        limits.rate_limit_release(user=user, claim=token_hash)
        return None


def settle_failure(
    flow: Flow, intent: KeyPairRequest, error: BccError, facing: ServiceFailed, *, audit, origin: Origin
) -> None:
    """Record what BCC's failure means: the intent ``failed`` (or ``unknown``), then its audit row.

    The caller has worded ``facing``; a lost answer is left to the caller to reconcile, which
    tells the operators itself if it cannot.
    """
    unknown = isinstance(error, BccOutcomeUnknown)
    if facing.operators_must_act and not unknown:
        # The operators' copy: the code and BCC's request id, never a key, token or body.
        flow.logger.error(
            "BCC %s failed and needs an operator: code=%s region=%s bcc_request_id=%s portal_request_id=%s: %s",
            flow.verb,
            facing.code,
            intent.region,
            error.request_id or "-",
            origin.portal_request_id or "-",
            error,
        )
    with transaction.atomic():
        finish(
            intent,
            status=Status.UNKNOWN if unknown else Status.FAILED,
            bcc_request_id=error.request_id or "",
            error_code=facing.code,
            error_message=str(facing.message)[:500],
        )
    audit(
        action=Action.OUTCOME_UNKNOWN if unknown else flow.failed,
        outcome=Outcome.UNKNOWN if unknown else Outcome.FAILURE,
        bcc_request_id=error.request_id or "",
        bcc_error_code=facing.code,
        latency_ms=error.latency_ms,
        # For an unknown outcome, what happened on the wire (read_timeout, connection_lost, a
        # gateway's bad_response) tells an operator where to look.
        detail=f"{error} ({error.reason})" if unknown else str(error),
    )


def failure_for(error: BccError, *, region: str, reference: str, code: str) -> ServiceFailed:
    """The sentence for a create or import that BCC refused or that never got an answer."""
    if isinstance(error, BccApiError):
        refused_input = input_refusal(error, code=code)
        if refused_input is not None:
            return refused_input
        if error.code == errors.KEYPAIR_QUOTA_EXCEEDED:
            return ServiceFailed(messages.QUOTA_EXCEEDED.format(region=region), http_status=409, code=code)
        if is_misconfiguration(error):
            message = messages.PORTAL_MISCONFIGURED.format(reference=reference)
            return ServiceFailed(message, http_status=502, code=code, operators_must_act=True)
        return ServiceFailed(messages.BCC_FAILED.format(code=error.code), http_status=502, code=code)
    if isinstance(error, BccOutcomeUnknown):
        message = messages.OUTCOME_UNKNOWN.format(reference=reference)
        return ServiceFailed(message, http_status=504, code=code, operators_must_act=True)
    # Every other transport error is certain: the request never reached BCC.
    message = messages.BCC_UNAVAILABLE.format(reason=transport_reason(error))
    return ServiceFailed(message, http_status=503, code=code)


def reconcile_lost_answer(
    flow: Flow, intent: KeyPairRequest, error: BccOutcomeUnknown, *, origin: Origin
) -> Reconciliation:
    """No answer came: ask BCC now what the call made (``keypairs.reconcile`` decides what to do with it)."""
    flow.logger.warning(
        "BCC %s outcome unknown (%s): region=%s bcc_request_id=%s portal_request_id=%s; reconciling",
        flow.verb,
        error.reason,
        intent.region,
        error.request_id or "-",
        origin.portal_request_id or "-",
    )
    return keypair_reconcile(keypair_request=intent, origin=origin)


def not_made(reconciliation: Reconciliation, *, code: str) -> ServiceFailed:
    """The failure of an intent reconciliation did not find made; its sentence is on the request."""
    settled = reconciliation.keypair_request
    return ServiceFailed(
        settled.error_message,
        http_status=504,
        code=code,
        operators_must_act=not reconciliation.settled,
        keypair_request=settled,
    )


def settle_misconfigured(
    flow: Flow, intent: KeyPairRequest, error: ImproperlyConfigured, *, audit, origin: Origin
) -> NoReturn:
    """No BCC client could be made: nothing was sent, and only an operator can fix it.

    Production does not start without BCC settings, but a development portal can get here; the
    intent must not stay "pending" forever.
    """
    message = messages.PORTAL_MISCONFIGURED.format(reference=origin.portal_request_id)
    facing = ServiceFailed(
        message, http_status=502, code=SETTINGS_INCOMPLETE, operators_must_act=True, keypair_request=intent
    )
    # ImproperlyConfigured from the factory names settings, never their values.
    flow.logger.error(
        "BCC %s failed and needs an operator: code=%s region=%s portal_request_id=%s: %s",
        flow.verb,
        SETTINGS_INCOMPLETE,
        intent.region,
        origin.portal_request_id or "-",
        error,
    )
    with transaction.atomic():
        finish(intent, status=Status.FAILED, error_code=SETTINGS_INCOMPLETE, error_message=facing.message)
    audit(action=flow.failed, outcome=Outcome.FAILURE, bcc_error_code=SETTINGS_INCOMPLETE, detail=str(error))
    raise facing


def finish(intent: KeyPairRequest, **values) -> None:
    """Save ``values`` on the intent, with the time it ended."""
    values["completed_at"] = timezone.now()
    for name, value in values.items():
        setattr(intent, name, value)
    intent.save(update_fields=list(values))
