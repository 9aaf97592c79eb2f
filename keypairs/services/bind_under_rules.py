"""A developer binds their key pair to instances their access rules allow: the bind page's service.

The page offers what the rules allow; this service decides again, on what BCC says now, and never
on what the form says (a form can be edited):

1. The chosen instances are read afresh from BCC (one uncached list call). The key pair each one
   holds now is what the person must confirm replacing, and what the binding records.
2. Each instance is checked against the person's rules (``keypairs.access_policy``): no rule, a
   Windows instance or one neither running nor stopped is refused, with its reason, and never
   sent to BCC. Refusals are audited (``bind_failed``, denied): someone edited the form.
3. Before anything is sent: replacing another key pair needs ``confirm_replace``; a rule with a
   time limit needs a duration within it; a rule that requires approval needs a reason. Any of
   these missing refuses the whole submission (``ServiceRefused``): nothing is done.
4. Instances under rules without approval are bound (``keypairs.services.binding.keypair_bind``,
   one call per rule, so each binding records its rule); those under rules that require approval
   become one pending ``AccessRequest`` per rule (``access_request_create``).

Each instance's outcome is returned (bound, already bound, requested, refused, failed), to be shown
one by one. A double submit binds once: while one submission for a key pair runs, another is
refused (a short lock in the cache), and after it, the fresh read shows the instances already
holding the key pair, which are not sent again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from keypairs import access_policy
from keypairs.audit import Origin
from keypairs.bcc.errors import BccError
from keypairs.bcc.models import Instance
from keypairs.bcc_cache import cache_call
from keypairs.bcc_instances import instances_now
from keypairs.models import AccessRequest, AccessRule, AuditEvent, KeyPairRequest
from keypairs.services import _owned
from keypairs.services._auditor import auditor_for
from keypairs.services.access_requests import access_request_create
from keypairs.services.binding import NO_INSTANCES, NOT_IN_BCC, TargetInstance, keypair_bind
from keypairs.services.errors import ServiceFailed, ServiceRefused

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome

UNDER_WAY = _("This key pair is being bound already; look at the page again in a moment.")
NOT_READ = _("BCC could not be reached to read the instances' current key pairs ({reason}). Nothing was bound.")
CONFIRM_REPLACE = _(
    "Another key pair is bound to {instances} now: binding this one stops it working there, and its owner "
    "will be told. Tick the confirmation to replace it."
)
DURATION_REQUIRED = _("The rule {rule} allows access for at most {limit}: say for how long you need it.")
DURATION_TOO_LONG = _("The rule {rule} allows access for at most {limit}.")
DURATION_NOT_POSITIVE = _("A duration must be at least one hour.")
REASON_REQUIRED = _("The rule {rule} requires approval: say why you need this access, for the approvers.")
ALREADY_BOUND = _("Already holds this key pair: nothing to do.")
BOUND = _("Bound.")
REQUESTED = _("Waiting for approval (rule {rule}); you will be mailed the decision.")
NOT_BOUND_BY_BCC = _("BCC did not bind it; it keeps the key pair it had.")


@dataclass(frozen=True)
class InstanceOutcome:
    """What happened to one chosen instance: ``state`` is bound, already, requested, refused or failed."""

    instance_id: str
    state: str
    sentence: str
    name: str = ""
    internal_ip: str = ""
    status: str = ""


@dataclass(frozen=True)
class BindUnderRulesResult:
    keypair_request: KeyPairRequest
    outcomes: tuple[InstanceOutcome, ...]
    access_requests: tuple[AccessRequest, ...] = ()

    @property
    def bound(self) -> tuple[InstanceOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.state == "bound")


@dataclass
class _Plan:
    direct: dict[AccessRule, list[Instance]]
    approval: dict[AccessRule, list[Instance]]
    outcomes: dict[str, InstanceOutcome]


def keypair_bind_under_rules(
    *,
    actor,
    keypair_request: KeyPairRequest,
    instance_ids: Sequence[str],
    duration: timedelta | None,
    confirm_replace: bool,
    reason: str,
    origin: Origin,
) -> BindUnderRulesResult:
    """Bind (or ask to bind) ``keypair_request`` to ``instance_ids`` as the rules allow; see the module docstring."""
    _owned.refuse_unless_owned(user=actor, keypair_request=keypair_request)
    if keypair_request.status != KeyPairRequest.Status.CREATED or not keypair_request.keypair_id:
        raise ServiceRefused(str(NOT_IN_BCC), http_status=409, code="not_in_bcc")
    ids = list(dict.fromkeys(instance_ids))
    if not ids:
        raise ServiceRefused(str(NO_INSTANCES), http_status=400, code="no_instances")
    lock = f"keypairs:bind-under-way:{keypair_request.pk}"
    if cache_call(cache.add, lock, origin.portal_request_id or "1", _lock_seconds()) is False:
        raise ServiceRefused(str(UNDER_WAY), http_status=409, code="bind_under_way")
    try:
        return _bind(actor, keypair_request, ids, duration, confirm_replace, reason, origin)
    finally:
        cache_call(cache.delete, lock)


def _bind(actor, keypair_request, ids, duration, confirm_replace, reason, origin) -> BindUnderRulesResult:
    audit = auditor_for(user=actor, origin=origin, keypair_request=keypair_request)
    try:
        found = instances_now(region=keypair_request.region, instance_ids=ids)
    except (BccError, ImproperlyConfigured) as error:
        audit(action=Action.BIND_FAILED, outcome=Outcome.FAILURE, detail=f"{', '.join(ids)}: {error}")
        raise ServiceFailed(
            NOT_READ.format(reason=error), http_status=502, code="instances_not_read", keypair_request=keypair_request
        ) from None
    plan = _plan(actor, keypair_request, ids, found)
    refused = [outcome for outcome in plan.outcomes.values() if outcome.state == "refused"]
    if refused:
        # The person read the refusals in their language; the audit log is the operators', in English.
        with translation.override("en"):
            said = _plan(actor, keypair_request, ids, found).outcomes
        detail = "; ".join(f"{outcome.instance_id}: {said[outcome.instance_id].sentence}" for outcome in refused)
        audit(action=Action.BIND_FAILED, outcome=Outcome.DENIED, detail=f"refused by the access rules: {detail}")
    _check_before_sending(keypair_request, plan, duration=duration, confirm_replace=confirm_replace, reason=reason)

    expires_at = timezone.now() + duration if duration else None
    outcomes = plan.outcomes
    for rule, instances in plan.direct.items():
        outcomes.update(_bind_one_rule(actor, keypair_request, rule, instances, expires_at, origin))
    requests = []
    for rule, instances in plan.approval.items():
        access_request = access_request_create(
            requester=actor,
            keypair_request=keypair_request,
            rule=rule,
            instance_ids=[instance.instance_id for instance in instances],
            duration=duration,
            reason=reason,
            origin=origin,
        )
        requests.append(access_request)
        for instance in instances:
            outcomes[instance.instance_id] = _outcome(instance, "requested", REQUESTED.format(rule=rule.name))
    return BindUnderRulesResult(
        keypair_request, outcomes=tuple(outcomes[i] for i in ids), access_requests=tuple(requests)
    )


def _plan(actor, keypair_request: KeyPairRequest, ids: list[str], found: dict[str, Instance]) -> _Plan:
    region = keypair_request.region
    groups = access_policy.groups_of(actor)
    rules = access_policy.rules_for(groups=groups, region=region)
    plan = _Plan(direct={}, approval={}, outcomes={})
    for instance_id in ids:
        instance = found.get(instance_id)
        if instance is None:
            sentence = access_policy.NOT_FOUND.format(region=region)
            plan.outcomes[instance_id] = InstanceOutcome(instance_id, "refused", sentence)
            continue
        choice = access_policy.choice_for(instance, groups=groups, region=region, rules=rules)
        if not choice.selectable:
            plan.outcomes[instance_id] = _outcome(instance, "refused", choice.refusal or choice.unavailable)
        elif instance.keypair_id == keypair_request.keypair_id:
            plan.outcomes[instance_id] = _outcome(instance, "already", str(ALREADY_BOUND))
        else:
            chosen = plan.approval if choice.rule.requires_approval else plan.direct
            chosen.setdefault(choice.rule, []).append(instance)
    return plan


def _check_before_sending(keypair_request, plan: _Plan, *, duration, confirm_replace: bool, reason: str) -> None:
    """Refuse the whole submission when something the person must say is missing: nothing is done then."""
    planned = {rule: instances for part in (plan.direct, plan.approval) for rule, instances in part.items()}
    replacing = [
        instance.name or instance.instance_id
        for instances in planned.values()
        for instance in instances
        if instance.keypair_id and instance.keypair_id != keypair_request.keypair_id
    ]
    if replacing and not confirm_replace:
        message = CONFIRM_REPLACE.format(instances=", ".join(replacing))
        raise ServiceRefused(message, http_status=400, code="confirm_replace")
    if duration is not None and duration < timedelta(hours=1):
        raise ServiceRefused(str(DURATION_NOT_POSITIVE), http_status=400, code="duration")
    for rule in planned:
        if rule.max_duration is None:
            continue
        limit = describe_duration(rule.max_duration)
        if duration is None or duration > rule.max_duration:
            sentence = DURATION_REQUIRED if duration is None else DURATION_TOO_LONG
            raise ServiceRefused(sentence.format(rule=rule.name, limit=limit), http_status=400, code="duration")
    for rule in plan.approval:
        if not reason.strip():
            raise ServiceRefused(REASON_REQUIRED.format(rule=rule.name), http_status=400, code="reason_required")


def _bind_one_rule(actor, keypair_request, rule, instances, expires_at, origin) -> dict[str, InstanceOutcome]:
    targets = [TargetInstance(i.instance_id, name=i.name, keypair_id=i.keypair_id or "") for i in instances]
    try:
        result = keypair_bind(
            actor=actor,
            keypair_request=keypair_request,
            instances=targets,
            origin=origin,
            rule=rule,
            expires_at=expires_at,
        )
    except ServiceFailed as failure:  # audited by keypair_bind; BCC bound none of these
        return {i.instance_id: _outcome(i, "failed", failure.message) for i in instances}
    failed = set(result.failed)
    outcomes = {}
    for instance in instances:
        if instance.instance_id in failed:
            outcomes[instance.instance_id] = _outcome(instance, "failed", str(NOT_BOUND_BY_BCC))
        else:
            outcomes[instance.instance_id] = _outcome(instance, "bound", str(BOUND))
    return outcomes


def _outcome(instance: Instance, state: str, sentence: str) -> InstanceOutcome:
    return InstanceOutcome(
        instance.instance_id,
        state,
        str(sentence),
        name=instance.name,
        internal_ip=instance.internal_ip,
        status=instance.status,
    )


def describe_duration(duration: timedelta) -> str:
    """``8 hours``, ``3 days``: a rule's limit as people say it (whole hours; rules are set in hours or days)."""
    hours = math.ceil(duration.total_seconds() / 3600)
    if hours % 24 == 0:
        days = hours // 24
        return ngettext("{count} day", "{count} days", days).format(count=days)
    return ngettext("{count} hour", "{count} hours", hours).format(count=hours)


def _lock_seconds() -> int:
    """Long enough for one fresh read and one bind per rule, each one attempt's worth of timeouts."""
    one_call = float(settings.BCC_CONNECT_TIMEOUT) + float(settings.BCC_READ_TIMEOUT)
    return math.ceil(one_call * 3) + 5
