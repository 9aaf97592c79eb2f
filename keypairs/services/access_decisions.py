"""Approving and denying access requests, and binding at once what was approved.

An access request (``AccessRequest``, made by ``access_request_create``) asks to bind the
requester's key pair to instances under a rule that requires approval. An approver decides:

- **Nobody decides their own request.** Refused before anything changes, and audited as
  refused (a security event): an approver who is also a developer asks another approver.
- **Once.** Only a pending request not past ``decide_by`` is decided, by one conditional
  UPDATE ("where still pending and not past its time"): two approvers who press at once
  decide it once, and the second is told it was decided already.
- **With a reason** to deny (the requester reads it); optional to approve.
- **Audited** ``access_approved`` / ``access_denied``: the approver as actor, the request,
  its instances and the reason in the detail.

On approval the portal binds at once, under its own BCC account, through
``keypairs.services.binding.keypair_bind``. Each instance's current key pair is read from BCC
first (``keypairs.bcc_instances.instances_now``: one list call), never taken from the request,
which may be days old: the owner of a key pair replaced since is the one told. The bind's
``actor`` is **the approver**: the binding happens because of their decision, and the audit
rows and the mail to a replaced owner name the person who answers for it (the requester is
named in the request, and owns the key pair bound). A time-limited request binds until ``now +
duration``.

A bind that fails after the approval leaves the request approved (the decision stands) with
the instances not bound shown on its page, audited (``bind_failed``, by the binding service
or here when BCC could not be read), and said in the mail to the requester; an approver
retries with ``access_request_retry_bind``, which binds only the instances this request never
bound. The requester is mailed each decision and each bind's result; an undelivered mail is
audited ``mail_failed``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import format_lazy
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from keypairs.access_mail import mail_person
from keypairs.audit import Origin, audit_record
from keypairs.bcc.errors import BccError, BccTransportError
from keypairs.bcc_instances import instances_now
from keypairs.models import AccessRequest, AuditEvent, InstanceBinding
from keypairs.services.bcc_failures import transport_reason
from keypairs.services.binding import TargetInstance, keypair_bind
from keypairs.services.errors import ServiceError, ServiceRefused
from portal.auth.roles import may_approve_access

logger = logging.getLogger(__name__)

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Status = AccessRequest.Status

NOT_AN_APPROVER = _("Only approvers decide access requests.")
OWN_REQUEST = _("Nobody decides their own access request: another approver must decide it.")
REASON_REQUIRED = _("Say why you deny it: the requester reads your reason.")
REASON_TOO_LONG = _("The reason may be at most {limit} characters long.")
ALREADY_DECIDED = _("This request is no longer waiting for a decision: it is {status}. Nothing was changed.")
PAST_DECIDE_BY = _("This request waited past its decide-by time ({when}) and can no longer be decided.")
NOT_APPROVED = _("Only an approved request is bound; this one is {status}.")
NOTHING_TO_RETRY = _("Every instance of this request was bound already: nothing to retry.")
READ_MISCONFIGURED = _("the portal's BCC settings are incomplete")
READ_REFUSED = _("BCC refused")
NO_INSTANCE_LEFT = _("BCC no longer has any of these instances (they may have been released); nothing was bound.")
CANNOT_READ = _(
    "The portal could not read the instances from BCC ({reason}), so nothing was bound. "
    "The request stays approved: retry the bind in a few minutes."
)
REASON_LIMIT = AccessRequest._meta.get_field("decision_reason").max_length

APPROVED_MAIL = "access_request_approved"
DENIED_MAIL = "access_request_denied"
BIND_RETRIED_MAIL = "access_request_bind_retried"


@dataclass(frozen=True)
class BindOutcome:
    """What binding an approved request did: the instances bound, those not, and why not (a sentence)."""

    bound: tuple[str, ...] = ()
    not_bound: tuple[str, ...] = ()
    # Lazy where it can be: the requester's mail says it in their language, the approver's page in theirs.
    failure: str = ""


@dataclass(frozen=True)
class Decision:
    access_request: AccessRequest
    bind: BindOutcome | None = None


def access_request_approve(
    *, approver, access_request: AccessRequest, reason: str = "", origin: Origin, now: datetime | None = None
) -> Decision:
    """Approve a pending request, bind its instances at once and tell the requester; see the module docstring."""
    now = now or timezone.now()
    _refuse_unless_may_decide(approver, access_request, Action.ACCESS_APPROVED, origin)
    reason = _checked_reason(reason, required=False)
    decided = _decide(access_request, approver=approver, status=Status.APPROVED, reason=reason, now=now)
    _audit_decision(decided, Action.ACCESS_APPROVED, approver=approver, reason=reason, origin=origin)
    outcome = bind_approved(actor=approver, access_request=decided, origin=origin, now=now)
    _mail_requester(decided, APPROVED_MAIL, outcome, origin=origin)
    return Decision(decided, outcome)


def access_request_deny(
    *, approver, access_request: AccessRequest, reason: str, origin: Origin, now: datetime | None = None
) -> Decision:
    """Deny a pending request with a reason and tell the requester; see the module docstring."""
    now = now or timezone.now()
    _refuse_unless_may_decide(approver, access_request, Action.ACCESS_DENIED, origin)
    reason = _checked_reason(reason, required=True)
    decided = _decide(access_request, approver=approver, status=Status.DENIED, reason=reason, now=now)
    _audit_decision(decided, Action.ACCESS_DENIED, approver=approver, reason=reason, origin=origin)
    _mail_requester(decided, DENIED_MAIL, None, origin=origin)
    return Decision(decided)


def access_request_retry_bind(
    *, approver, access_request: AccessRequest, origin: Origin, now: datetime | None = None
) -> BindOutcome:
    """Bind the instances of an approved request that it never bound (after a failed bind); tell the requester."""
    now = now or timezone.now()
    _refuse_unless_may_decide(approver, access_request, Action.BIND_REQUESTED, origin)
    access_request.refresh_from_db()
    if access_request.status != Status.APPROVED:
        raise ServiceRefused(
            str(NOT_APPROVED).format(status=access_request.get_status_display().lower()), http_status=409
        )
    if not instances_never_bound(access_request):
        raise ServiceRefused(str(NOTHING_TO_RETRY), http_status=409, code="nothing_to_retry")
    outcome = bind_approved(actor=approver, access_request=access_request, origin=origin, now=now)
    _mail_requester(access_request, BIND_RETRIED_MAIL, outcome, origin=origin)
    return outcome


def instances_never_bound(access_request: AccessRequest) -> list[str]:
    """The request's instances it has no binding for (in any state): those a retry binds."""
    done = set(InstanceBinding.objects.filter(access_request=access_request).values_list("instance_id", flat=True))
    return [instance_id for instance_id in access_request.instance_ids if instance_id not in done]


def bind_approved(*, actor, access_request: AccessRequest, origin: Origin, now: datetime) -> BindOutcome:
    """Bind the request's instances not bound yet, each read fresh from BCC; never raises ``ServiceError``."""
    wanted = instances_never_bound(access_request)
    keypair_request = access_request.keypair_request
    try:
        targets = _read_instances(access_request.region, wanted)
    except (BccError, ImproperlyConfigured) as error:
        failure = format_lazy(CANNOT_READ, reason=_reason(error))
        audit_record(
            action=Action.BIND_FAILED,
            outcome=Outcome.FAILURE,
            actor=actor,
            origin=origin,
            region=keypair_request.region,
            keypair_name=keypair_request.name,
            keypair_id=keypair_request.keypair_id,
            bcc_error_code=getattr(error, "code", "") or "",
            detail=f"access request {access_request.public_id}: instances not read from BCC",
        )
        return BindOutcome(not_bound=tuple(wanted), failure=failure)
    gone = tuple(instance_id for instance_id in wanted if instance_id not in {t.instance_id for t in targets})
    if not targets:
        return BindOutcome(not_bound=gone, failure=NO_INSTANCE_LEFT)
    expires_at = now + access_request.duration if access_request.duration else None
    try:
        result = keypair_bind(
            actor=actor,
            keypair_request=keypair_request,
            instances=targets,
            origin=origin,
            rule=access_request.rule,
            access_request=access_request,
            expires_at=expires_at,
        )
    except ServiceError as error:  # audited by the binding service; the approval stands
        return BindOutcome(not_bound=tuple(wanted), failure=error.message)
    not_bound = tuple(result.failed) + gone
    return BindOutcome(bound=result.bound, not_bound=not_bound, failure=NO_INSTANCE_LEFT if gone else "")


def _read_instances(region: str, instance_ids: list[str]) -> list[TargetInstance]:
    """Each instance as BCC has it now (one list call, as the bind page reads them); gone ones left out."""
    held = instances_now(region=region, instance_ids=instance_ids)
    return [
        TargetInstance(instance_id, name=held[instance_id].name, keypair_id=held[instance_id].keypair_id or "")
        for instance_id in instance_ids
        if instance_id in held
    ]


def _reason(error: Exception) -> str:
    """Why the read failed, as the middle of a sentence: never BCC's raw answer."""
    if isinstance(error, ImproperlyConfigured):
        return READ_MISCONFIGURED
    if isinstance(error, BccTransportError):
        return transport_reason(error)
    return getattr(error, "code", "") or READ_REFUSED


def _checked_reason(reason: str, *, required: bool) -> str:
    reason = " ".join((reason or "").split())
    if required and not reason:
        raise ServiceRefused(str(REASON_REQUIRED), http_status=400, code="reason_required")
    if len(reason) > REASON_LIMIT:
        raise ServiceRefused(str(REASON_TOO_LONG).format(limit=REASON_LIMIT), http_status=400, code="reason_too_long")
    return reason


def _refuse_unless_may_decide(approver, access_request: AccessRequest, action: str, origin: Origin) -> None:
    if not may_approve_access(approver):
        raise ServiceRefused(str(NOT_AN_APPROVER), http_status=403, code="not_an_approver")
    if approver.pk == access_request.requester_id:
        keypair_request = access_request.keypair_request
        audit_record(
            action=action,
            outcome=Outcome.DENIED,
            actor=approver,
            origin=origin,
            region=keypair_request.region,
            keypair_name=keypair_request.name,
            keypair_id=keypair_request.keypair_id,
            is_security_event=True,
            detail=f"refused: {approver.get_username()} tried to decide their own access request "
            f"{access_request.public_id}",
        )
        raise ServiceRefused(str(OWN_REQUEST), http_status=403, code="own_request")


def _decide(access_request: AccessRequest, *, approver, status: str, reason: str, now: datetime) -> AccessRequest:
    """The one conditional UPDATE that decides; refuses with what the request is now when it did not."""
    decided = AccessRequest.objects.filter(pk=access_request.pk, status=Status.PENDING, decide_by__gt=now).update(
        status=status, decided_by=approver, decided_at=now, decision_reason=reason
    )
    access_request.refresh_from_db()
    if decided:
        return access_request
    if access_request.status == Status.PENDING:
        raise ServiceRefused(
            str(PAST_DECIDE_BY).format(when=date_format(localtime(access_request.decide_by), "DATETIME_FORMAT")),
            http_status=409,
            code="past_decide_by",
        )
    raise ServiceRefused(
        str(ALREADY_DECIDED).format(status=access_request.get_status_display().lower()),
        http_status=409,
        code="already_decided",
    )


def _audit_decision(access_request: AccessRequest, action: str, *, approver, reason: str, origin: Origin) -> None:
    keypair_request = access_request.keypair_request
    audit_record(
        action=action,
        outcome=Outcome.SUCCESS,
        actor=approver,
        origin=origin,
        region=keypair_request.region,
        keypair_name=keypair_request.name,
        keypair_id=keypair_request.keypair_id,
        detail=f"request {access_request.public_id} by {access_request.requester.get_username()}; "
        f"instances: {', '.join(access_request.instance_ids)}; reason: {reason or '(none given)'}",
    )


def _mail_requester(access_request: AccessRequest, template: str, outcome: BindOutcome | None, *, origin) -> None:
    context = {
        "requester": access_request.requester.get_username(),
        "access_request": access_request,
        "keypair": access_request.keypair_request,
        "approver": access_request.decided_by.get_username() if access_request.decided_by else "",
        "bind": outcome,
        "request_path": reverse("access_request_detail", kwargs={"public_id": access_request.public_id}),
    }
    mail_person(
        person=access_request.requester,
        template=template,
        context=context,
        keypair_request=access_request.keypair_request,
        origin=origin,
    )
