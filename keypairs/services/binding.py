"""Binding a key pair to instances and unbinding it: BCC's ``?attach`` and ``?detach``.

Binding is the most powerful thing the portal does: whoever holds the key pair's private key can
then sign in to the instance, and BCC **replaces** the key pair the instance held before. So the
caller decides who may bind what (``keypairs.access_policy``: rules, approvals); this module only
does it, the same way for every caller (the bind page, an approved access request, an expiry),
and records it:

1. "Bind requested" / "unbind requested" is audited before BCC is called, outside any transaction.
2. BCC may do some instances and not others (``failedInstanceIdList``): each instance's outcome
   is kept and said. When it does none, it answers with an error, and nothing changed.
3. Every instance bound gets an ``InstanceBinding`` row (with its time limit, its rule, its access
   request); a binding of the portal's own that was on the instance is marked ``replaced``. The
   owner of each key pair replaced (a person of the portal) is audited ``replaced_on_instance``
   on their key pair and mailed (unless they did it themselves): their key pair stopped working there.
4. An unbind BCC refused or never answered leaves the binding ``bound`` with the attempt counted
   and the error kept (``unbind_attempts``, ``last_error``), so ``manage.py expire_access``
   tries again and the admin page shows it: never dropped silently.

Failures are ``ServiceFailed`` (one family, ``keypairs.services.errors``), worded here for BCC's
binding codes and through ``keypairs.services._owned`` for the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keypairs.access_mail import mail_person
from keypairs.audit import Origin, audit_record, ensure_outside_transaction
from keypairs.bcc import errors
from keypairs.bcc.errors import BccApiError, BccError
from keypairs.bcc.factory import get_client
from keypairs.models import AccessRequest, AccessRule, AuditEvent, InstanceBinding, KeyPairRequest
from keypairs.services import _owned
from keypairs.services._auditor import auditor_for
from keypairs.services.bcc_failures import error_code
from keypairs.services.errors import ServiceFailed, ServiceRefused

logger = logging.getLogger(__name__)

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
State = InstanceBinding.State

NOT_IN_BCC = _("This key pair is not in BCC, so it cannot be bound to instances.")
NO_INSTANCES = _("Choose at least one instance.")
# BCC's own refusals of a bind or unbind, per code: what the developer reads.
REFUSALS = {
    errors.UNSUPPORT_OS_TYPE: _("BCC binds key pairs to Linux instances only; nothing was bound."),
    errors.INSTANCE_STATUS_FORBIDDEN: _(
        "BCC binds key pairs only to instances that are running or stopped; nothing was changed. "
        "Try again once the instance has finished starting or stopping."
    ),
    errors.ATTACH_ATTACHED_KEYPAIR: _("This key pair is already bound to that instance; nothing was changed."),
    errors.INSTANCE_NOT_EXIST: _("BCC has no such instance (it may have been released); nothing was changed."),
    errors.KEYPAIR_NOT_EXIST: _("BCC no longer has this key pair: it was deleted outside the portal."),
}
UNAVAILABLE = _("BCC could not be reached ({reason}). Nothing was changed; please try again in a few minutes.")
NO_ANSWER = _(
    "BCC did not answer in time, so it is not known whether it made the change. Look at the instances' key "
    "pairs before trying again."
)
MISCONFIGURED = _(
    "The portal cannot sign in to BCC: its configuration is wrong. Nothing was changed. "
    "Please tell the portal's operators, quoting reference {reference}."
)
REFUSED = _("BCC did not make the change ({code}). Nothing was changed; please try again in a few minutes.")

BIND_FAILURES = _owned.Failures(
    what="bind",
    action=Action.BIND_FAILED,
    logger=logger,
    misconfigured=MISCONFIGURED,
    refused=REFUSED,
    no_answer=NO_ANSWER,
    unavailable=UNAVAILABLE,
)
UNBIND_FAILURES = _owned.Failures(
    what="unbind",
    action=Action.UNBIND_FAILED,
    logger=logger,
    misconfigured=MISCONFIGURED,
    refused=REFUSED,
    no_answer=NO_ANSWER,
    unavailable=UNAVAILABLE,
)

REPLACED_MAIL = "keypair_replaced_on_instance"


@dataclass(frozen=True)
class TargetInstance:
    """An instance to bind to, as the caller read it from BCC: its id, name and current key pair."""

    instance_id: str
    name: str = ""
    keypair_id: str = ""  # the key pair BCC says it holds now ("" when none)


@dataclass(frozen=True)
class BindResult:
    """What a bind did: the instances bound and those BCC did not bind, and the key pairs replaced."""

    keypair_request: KeyPairRequest
    bound: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    replaced_keypair_ids: tuple[str, ...] = ()
    bindings: tuple[InstanceBinding, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class UnbindResult:
    """What an unbind did: the instances unbound and those BCC did not unbind."""

    keypair_request: KeyPairRequest
    unbound: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


def keypair_bind(
    *,
    actor,
    keypair_request: KeyPairRequest,
    instances: Sequence[TargetInstance],
    origin: Origin,
    rule: AccessRule | None = None,
    access_request: AccessRequest | None = None,
    expires_at: datetime | None = None,
) -> BindResult:
    """Bind the key pair to ``instances`` in BCC and record each binding; see the module docstring.

    The caller has decided that ``actor`` may (a rule, an approval). Raises ``ServiceRefused``
    when the key pair is not in BCC or no instance is given, ``ServiceFailed`` when BCC bound
    none (nothing changed). A partial bind returns: ``failed`` names the instances not bound.
    """
    ensure_outside_transaction()
    _refuse_unless_live(keypair_request, instances)
    ids = [instance.instance_id for instance in instances]
    audit = auditor_for(user=actor, origin=origin, keypair_request=keypair_request)
    audit(action=Action.BIND_REQUESTED, outcome=Outcome.SUCCESS, detail=_instances_detail(ids, expires_at))
    try:
        answer = get_client(keypair_request.region).attach_keypair(keypair_request.keypair_id, instance_ids=ids)
    except BccError as error:
        _raise_failure(BIND_FAILURES, keypair_request, error, ids, audit=audit, origin=origin)
    except ImproperlyConfigured as error:
        raise _owned.misconfigured(BIND_FAILURES, keypair_request, error, audit=audit, origin=origin) from error

    failed = tuple(instance_id for instance_id in ids if instance_id in set(answer.failed_instance_ids))
    done = [instance for instance in instances if instance.instance_id not in failed]
    bindings = _record_bound(
        keypair_request, done, actor=actor, rule=rule, access_request=access_request, expires_at=expires_at
    )
    audit(
        action=Action.BOUND,
        outcome=Outcome.SUCCESS,
        bcc_request_id=answer.request_id or "",
        detail=_instances_detail([instance.instance_id for instance in done], expires_at),
    )
    if failed:
        audit(
            action=Action.BIND_FAILED,
            outcome=Outcome.FAILURE,
            bcc_request_id=answer.request_id or "",
            detail=f"BCC did not bind: {', '.join(failed)}",
        )
    replaced = _tell_the_replaced(keypair_request, done, actor=actor, origin=origin)
    return BindResult(
        keypair_request,
        bound=tuple(instance.instance_id for instance in done),
        failed=failed,
        replaced_keypair_ids=replaced,
        bindings=tuple(bindings),
    )


def keypair_unbind(
    *, actor, keypair_request: KeyPairRequest, instance_ids: Sequence[str], origin: Origin, why: str = ""
) -> UnbindResult:
    """Unbind the key pair from ``instance_ids`` in BCC and end their bindings; see the module docstring.

    ``why`` ("access ended", "before deleting the key pair") ends the audit rows' detail. An
    instance BCC did not unbind keeps its binding, with the attempt counted and the error kept.
    Raises ``ServiceFailed`` when BCC unbound none (each binding's attempt counted).
    """
    ensure_outside_transaction()
    if keypair_request.status != KeyPairRequest.Status.CREATED or not keypair_request.keypair_id:
        raise ServiceRefused(str(NOT_IN_BCC), http_status=409, code="not_in_bcc")
    ids = list(dict.fromkeys(instance_ids))
    if not ids:
        raise ServiceRefused(str(NO_INSTANCES), http_status=400, code="no_instances")
    audit = auditor_for(user=actor, origin=origin, keypair_request=keypair_request, why=why)
    audit(action=Action.UNBIND_REQUESTED, outcome=Outcome.SUCCESS, detail=_instances_detail(ids, None))
    try:
        answer = get_client(keypair_request.region).detach_keypair(keypair_request.keypair_id, instance_ids=ids)
    except BccError as error:
        _count_unbind_attempt(keypair_request, ids, str(error))
        _raise_failure(UNBIND_FAILURES, keypair_request, error, ids, audit=audit, origin=origin)
    except ImproperlyConfigured as error:
        _count_unbind_attempt(keypair_request, ids, "the portal's BCC settings are incomplete")
        raise _owned.misconfigured(UNBIND_FAILURES, keypair_request, error, audit=audit, origin=origin) from error

    failed = tuple(instance_id for instance_id in ids if instance_id in set(answer.failed_instance_ids))
    unbound = tuple(instance_id for instance_id in ids if instance_id not in failed)
    _bound_on(keypair_request, unbound).update(state=State.UNBOUND, ended_at=timezone.now())
    audit(
        action=Action.UNBOUND,
        outcome=Outcome.SUCCESS,
        bcc_request_id=answer.request_id or "",
        detail=_instances_detail(list(unbound), None),
    )
    if failed:
        _count_unbind_attempt(keypair_request, failed, "BCC did not unbind it")
        audit(
            action=Action.UNBIND_FAILED,
            outcome=Outcome.FAILURE,
            bcc_request_id=answer.request_id or "",
            detail=f"BCC did not unbind: {', '.join(failed)}",
        )
    return UnbindResult(keypair_request, unbound=unbound, failed=failed)


def _refuse_unless_live(keypair_request: KeyPairRequest, instances: Sequence[TargetInstance]) -> None:
    if keypair_request.status != KeyPairRequest.Status.CREATED or not keypair_request.keypair_id:
        raise ServiceRefused(str(NOT_IN_BCC), http_status=409, code="not_in_bcc")
    if not instances:
        raise ServiceRefused(str(NO_INSTANCES), http_status=400, code="no_instances")


def _raise_failure(failures, keypair_request, error: BccError, ids: list[str], *, audit, origin: Origin):
    code = error_code(error)
    refusal = REFUSALS.get(error.code) if isinstance(error, BccApiError) else None
    if refusal is not None:
        facing = ServiceFailed(str(refusal), http_status=409, code=code, keypair_request=keypair_request)
    else:
        facing = _owned.failure_for(
            failures, error, code=code, reference=origin.portal_request_id, keypair_request=keypair_request
        )
    detail = f"{', '.join(ids)}: {error}"
    _owned.record_failure(failures, keypair_request, error, facing, detail=detail, audit=audit, origin=origin)
    raise facing from None


def _record_bound(keypair_request, done: Sequence[TargetInstance], *, actor, rule, access_request, expires_at):
    now = timezone.now()
    with transaction.atomic():
        # The portal's own bindings of other key pairs on these instances end here: BCC replaced them.
        others = InstanceBinding.objects.filter(
            region=keypair_request.region,
            instance_id__in=[instance.instance_id for instance in done],
            state=State.BOUND,
        ).exclude(keypair_request=keypair_request)
        others.update(state=State.REPLACED, ended_at=now)
        # A binding of this key pair already recorded on an instance is superseded by the new one.
        _bound_on(keypair_request, [instance.instance_id for instance in done]).update(
            state=State.UNBOUND, ended_at=now
        )
        return InstanceBinding.objects.bulk_create(
            InstanceBinding(
                keypair_request=keypair_request,
                region=keypair_request.region,
                instance_id=instance.instance_id,
                instance_name=instance.name[:128],
                rule=rule,
                access_request=access_request,
                bound_by=actor,
                bound_at=now,
                expires_at=expires_at,
                replaced_keypair_id=instance.keypair_id if instance.keypair_id != keypair_request.keypair_id else "",
            )
            for instance in done
        )


def _tell_the_replaced(keypair_request, done: Sequence[TargetInstance], *, actor, origin: Origin) -> tuple[str, ...]:
    """Audit and mail the owners of the key pairs this bind replaced; the replaced key pair ids."""
    replaced: dict[str, list[TargetInstance]] = {}
    for instance in done:
        if instance.keypair_id and instance.keypair_id != keypair_request.keypair_id:
            replaced.setdefault(instance.keypair_id, []).append(instance)
    if not replaced:
        return ()
    records = KeyPairRequest.objects.filter(
        region=keypair_request.region, keypair_id__in=list(replaced), status=KeyPairRequest.Status.CREATED
    ).select_related("owner")
    for record in records:
        on = replaced[record.keypair_id]
        detail = f"replaced on {', '.join(i.instance_id for i in on)} by {keypair_request.keypair_id}"
        audit_record(
            action=Action.REPLACED_ON_INSTANCE,
            outcome=Outcome.SUCCESS,
            actor=actor,
            origin=origin,
            region=record.region,
            keypair_name=record.name,
            keypair_id=record.keypair_id,
            detail=detail,
        )
        if actor is None or record.owner_id != actor.pk:
            # The person who replaced their own key pair (a rotation) knows: only others are mailed.
            _mail_the_replaced(record, on, by=keypair_request, actor=actor, origin=origin)
    return tuple(replaced)


def _mail_the_replaced(record: KeyPairRequest, on, *, by: KeyPairRequest, actor, origin: Origin) -> None:
    context = {
        "owner": record.owner.get_username(),
        "keypair": record,
        "instances": on,
        "by_keypair": by,
        "by_person": actor.get_username() if actor is not None else "",
        "detail_path": reverse("keypair_detail", kwargs={"public_id": record.public_id}),
    }
    mail_person(person=record.owner, template=REPLACED_MAIL, context=context, keypair_request=record, origin=origin)


def _bound_on(keypair_request: KeyPairRequest, instance_ids: Sequence[str]):
    return InstanceBinding.objects.filter(
        keypair_request=keypair_request, instance_id__in=list(instance_ids), state=State.BOUND
    )


def _count_unbind_attempt(keypair_request: KeyPairRequest, instance_ids: Sequence[str], error: str) -> None:
    _bound_on(keypair_request, instance_ids).update(unbind_attempts=F("unbind_attempts") + 1, last_error=error[:255])


def _instances_detail(instance_ids: Sequence[str], expires_at: datetime | None) -> str:
    detail = f"instances: {', '.join(instance_ids) or 'none'}"
    return f"{detail}; until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else detail


def bound_instances(keypair_request: KeyPairRequest) -> Mapping[str, InstanceBinding]:
    """The portal's live bindings of this key pair, by instance id."""
    return {binding.instance_id: binding for binding in _bound_on_all(keypair_request)}


def _bound_on_all(keypair_request: KeyPairRequest):
    return InstanceBinding.objects.filter(keypair_request=keypair_request, state=State.BOUND).order_by("instance_id")
