"""Time limits on access: requests nobody decided in time, and bindings whose time is over.

Run by ``manage.py expire_access`` (cron, every 5 minutes). Every step is idempotent and
claims its rows with a conditional UPDATE, so a row is acted on once even if two runs overlap
(the command also holds a ``single_run`` lease):

1. ``expire_requests``: a pending request past ``decide_by`` becomes ``expired``, audited
   ``access_request_expired``, and the requester is mailed.
2. ``warn_ending``: a time-limited binding (``expires_at``) within ``ACCESS_EXPIRY_WARNING_HOURS``
   of its end gets ``expiry_warned_at`` claimed, and the key pair's owner is mailed once (one
   mail per key pair, listing its instances).
3. ``end_bindings``: a binding past its end is unbound through ``keypair_unbind`` (no actor: the
   portal's own doing, ``why="access ended"``) and the owner is mailed after. Each instance is
   read from BCC first (``get_instance``): one that no longer holds the key pair (replaced or
   unbound in BCC's console, or released) is ended as such without asking BCC to detach
   something it does not have. An unbind BCC refuses or never answers stays ``bound`` with the
   attempt counted by the binding service (``unbind_attempts``, ``last_error``), is retried on
   every run, and is listed on the admin page "Bindings that could not be removed".

Nothing here raises for BCC's faults: each step returns lines for the command to print.
``could_not_ask`` is set when BCC could not be asked at all (no connection, the portal's own
BCC settings refused or missing): the command then exits non-zero so cron's mail says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.urls import reverse

from keypairs.access_mail import mail_person
from keypairs.audit import Origin, audit_record
from keypairs.bcc import errors as bcc_errors
from keypairs.bcc.errors import BccApiError, BccError, BccTransportError
from keypairs.bcc.factory import get_client
from keypairs.models import AccessRequest, AuditEvent, InstanceBinding, KeyPairRequest
from keypairs.services.bcc_failures import is_misconfiguration
from keypairs.services.binding import keypair_unbind
from keypairs.services.errors import ServiceError

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
State = InstanceBinding.State

WHY_ENDED = "access ended"
EXPIRED_MAIL = "access_request_expired"
ENDING_MAIL = "access_binding_ending"
ENDED_MAIL = "access_binding_ended"


@dataclass
class EndedBindings:
    """What ``end_bindings`` did: one line per key pair, the bindings left bound, whether BCC could be asked."""

    lines: list[str] = field(default_factory=list)
    stuck: list[InstanceBinding] = field(default_factory=list)
    newly_stuck: int = 0  # of ``stuck``, those this run's attempt was the first failure for
    could_not_ask: bool = False


def expire_requests(*, now: datetime, origin: Origin) -> list[str]:
    """Expire the pending requests past their decide-by time; one line each."""
    lines = []
    due = AccessRequest.objects.filter(status=AccessRequest.Status.PENDING, decide_by__lte=now)
    for access_request in due.select_related("keypair_request", "requester"):
        claimed = AccessRequest.objects.filter(pk=access_request.pk, status=AccessRequest.Status.PENDING).update(
            status=AccessRequest.Status.EXPIRED, decided_at=now
        )
        if not claimed:  # decided meanwhile by an approver, or by another run
            continue
        access_request.refresh_from_db()
        keypair_request = access_request.keypair_request
        audit_record(
            action=Action.ACCESS_REQUEST_EXPIRED,
            outcome=Outcome.SUCCESS,
            origin=origin,
            region=keypair_request.region,
            keypair_name=keypair_request.name,
            keypair_id=keypair_request.keypair_id,
            detail=f"request {access_request.public_id} by {access_request.requester.get_username()} "
            f"undecided by {access_request.decide_by:%Y-%m-%d %H:%M} UTC",
        )
        context = {
            "requester": access_request.requester.get_username(),
            "access_request": access_request,
            "keypair": keypair_request,
            "request_path": reverse("access_request_detail", kwargs={"public_id": access_request.public_id}),
        }
        mail_person(
            person=access_request.requester,
            template=EXPIRED_MAIL,
            context=context,
            keypair_request=keypair_request,
            origin=origin,
        )
        lines.append(f"Request {access_request.public_id} ({keypair_request.name}) expired undecided.")
    return lines


def warn_ending(*, now: datetime, origin: Origin) -> list[str]:
    """Mail each owner once whose time-limited bindings end within ACCESS_EXPIRY_WARNING_HOURS."""
    hours = settings.ACCESS_EXPIRY_WARNING_HOURS
    if hours <= 0:
        return []
    soon = InstanceBinding.objects.filter(
        state=State.BOUND,
        expiry_warned_at__isnull=True,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(hours=hours),
    )
    claimed: dict[int, list[InstanceBinding]] = defaultdict(list)
    for binding in soon.select_related("keypair_request__owner"):
        if InstanceBinding.objects.filter(pk=binding.pk, expiry_warned_at__isnull=True).update(expiry_warned_at=now):
            claimed[binding.keypair_request_id].append(binding)
    lines = []
    for bindings in claimed.values():
        keypair_request = bindings[0].keypair_request
        _mail_owner(keypair_request, ENDING_MAIL, bindings, origin=origin)
        lines.append(
            f"Warned {keypair_request.owner.get_username()}: {keypair_request.name} leaves "
            f"{', '.join(b.instance_id for b in bindings)} within {hours} h."
        )
    return lines


def end_bindings(*, now: datetime, origin: Origin) -> EndedBindings:
    """Unbind the bindings whose time is over, key pair by key pair; see the module docstring."""
    result = EndedBindings()
    stuck_before = set(stuck_bindings().values_list("pk", flat=True))
    due: dict[int, list[InstanceBinding]] = defaultdict(list)
    for binding in InstanceBinding.objects.filter(state=State.BOUND, expires_at__lte=now).select_related(
        "keypair_request__owner"
    ):
        due[binding.keypair_request_id].append(binding)
    for bindings in due.values():
        _end_for_keypair(bindings[0].keypair_request, bindings, now=now, origin=origin, result=result)
    result.stuck = list(stuck_bindings())
    result.newly_stuck = sum(binding.pk not in stuck_before for binding in result.stuck)
    return result


def stuck_bindings():
    """Bindings the portal tried to remove and could not (yet): for the admin page and the summary."""
    return (
        InstanceBinding.objects.filter(state=State.BOUND, unbind_attempts__gt=0)
        .select_related("keypair_request__owner", "access_request")
        .order_by("expires_at", "pk")
    )


def _end_for_keypair(
    keypair_request: KeyPairRequest, bindings: list[InstanceBinding], *, now, origin: Origin, result: EndedBindings
) -> None:
    held, gone_elsewhere = [], []
    for binding in bindings:
        try:
            holder = _held_by(keypair_request.region, binding.instance_id)
        except (BccError, ImproperlyConfigured) as error:
            if _could_not_ask(error):
                result.could_not_ask = True
            _count_attempt(binding, f"could not read the instance from BCC: {_kind(error)}")
            result.lines.append(
                f"{keypair_request.name} on {binding.instance_id}: BCC could not be read ({_kind(error)}); "
                "left bound, retried next run."
            )
            continue
        if holder == keypair_request.keypair_id:
            held.append(binding)
        else:
            gone_elsewhere.append((binding, holder))
    ended = _end_without_bcc(keypair_request, gone_elsewhere, now=now, origin=origin)
    if held:
        try:
            answer = keypair_unbind(
                actor=None,
                keypair_request=keypair_request,
                instance_ids=[binding.instance_id for binding in held],
                origin=origin,
                why=WHY_ENDED,
            )
        except ServiceError as error:  # audited and counted by the binding service
            result.lines.append(
                f"{keypair_request.name}: unbinding {', '.join(b.instance_id for b in held)} failed "
                f"({error.code or 'refused'}); left bound, retried next run."
            )
        else:
            ended += [binding for binding in held if binding.instance_id in answer.unbound]
            if answer.unbound:
                result.lines.append(f"{keypair_request.name}: unbound from {', '.join(answer.unbound)} (time over).")
            if answer.failed:
                result.lines.append(
                    f"{keypair_request.name}: BCC did not unbind {', '.join(answer.failed)}; "
                    "left bound, retried next run."
                )
    if ended:
        for binding in ended:
            binding.refresh_from_db()
        _mail_owner(keypair_request, ENDED_MAIL, ended, origin=origin)


def _end_without_bcc(keypair_request: KeyPairRequest, gone_elsewhere, *, now, origin: Origin) -> list[InstanceBinding]:
    """End the bindings of instances that no longer hold the key pair: nothing for BCC to detach."""
    ended = []
    for binding, holder in gone_elsewhere:
        state = State.REPLACED if holder else State.UNBOUND
        if not InstanceBinding.objects.filter(pk=binding.pk, state=State.BOUND).update(state=state, ended_at=now):
            continue
        ended.append(binding)
        how = f"held {holder} instead" if holder else "held no key pair (or was released)"
        audit_record(
            action=Action.UNBOUND,
            outcome=Outcome.SUCCESS,
            origin=origin,
            region=keypair_request.region,
            keypair_name=keypair_request.name,
            keypair_id=keypair_request.keypair_id,
            detail=f"instances: {binding.instance_id}; ended without a BCC call: the instance {how} ({WHY_ENDED})",
        )
    return ended


def _held_by(region: str, instance_id: str) -> str:
    """The key pair id the instance holds now ("" when none, or when BCC no longer has the instance)."""
    try:
        return get_client(region).get_instance(instance_id).keypair_id or ""
    except BccApiError as error:
        if error.code == bcc_errors.INSTANCE_NOT_EXIST:
            return ""
        raise


def _could_not_ask(error: Exception) -> bool:
    if isinstance(error, ImproperlyConfigured):
        return True
    if isinstance(error, BccTransportError):
        return not error.sent
    return isinstance(error, BccError) and is_misconfiguration(error)


def _kind(error: Exception) -> str:
    if isinstance(error, ImproperlyConfigured):
        return "the portal's BCC settings are incomplete"
    return getattr(error, "code", "") or getattr(error, "kind", "") or type(error).__name__


def _count_attempt(binding: InstanceBinding, error: str) -> None:
    InstanceBinding.objects.filter(pk=binding.pk, state=State.BOUND).update(
        unbind_attempts=F("unbind_attempts") + 1, last_error=error[:255]
    )


def _mail_owner(keypair_request: KeyPairRequest, template: str, bindings, *, origin: Origin) -> None:
    context = {
        "owner": keypair_request.owner.get_username(),
        "keypair": keypair_request,
        "bindings": bindings,
        "detail_path": reverse("keypair_detail", kwargs={"public_id": keypair_request.public_id}),
    }
    mail_person(
        person=keypair_request.owner, template=template, context=context, keypair_request=keypair_request, origin=origin
    )
