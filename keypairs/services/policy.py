"""The operators' policy applied to one key pair: flag it for a person to decide, or delete it.

Used for key pairs whose owner left (``keypairs.offboarding``) and key pairs older than their
maximum age (``keypairs.key_age``). ``flag`` marks the record (``flagged_at``, ``flag_reason``)
and it shows on the admin's "flagged key pairs" page; ``delete`` deletes it in BCC through the
delete service, on behalf of the policy. A key pair bound to instances is flagged, never deleted:
deleting it would not stop the logins it grants (BCC refuses anyway), and unbinding is a person's
decision. A delete BCC refused or never answered flags the key pair too, so nobody loses track
of it; its "delete failed" row is written by the delete service.

Idempotent: flagging writes only where the record is not flagged yet (one conditional UPDATE,
so two runs at once write one "flagged" row), and a deleted record is left alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.utils import timezone

from keypairs.audit import Origin
from keypairs.bcc_state import Presence, keypair_in_bcc
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.services._auditor import auditor_for
from keypairs.services.delete import keypair_delete_for_governance
from keypairs.services.errors import ServiceError

FLAG = "flag"
DELETE = "delete"
FlagReason = KeyPairRequest.FlagReason


class PolicyOutcome(enum.StrEnum):
    FLAGGED = "flagged"
    ALREADY_FLAGGED = "already flagged"
    FLAGGED_BOUND = "flagged: bound to instances, not deleted"
    FLAGGED_DELETE_FAILED = "flagged: the delete failed"
    DELETED = "deleted"
    NOT_LIVE = "not in BCC: nothing to do"


@dataclass(frozen=True)
class PolicyStep:
    """What the policy did to one key pair, for the command's output and the admins' summary mail."""

    keypair_request: KeyPairRequest
    reason: str  # a FlagReason value
    outcome: PolicyOutcome
    detail: str = ""

    @property
    def line(self) -> str:
        record = self.keypair_request
        said = (
            f"{record.name} ({record.keypair_id}, {record.region}, owner {record.owner.get_username()}): {self.outcome}"
        )
        return f"{said}; {self.detail}" if self.detail else said


def keypair_apply_policy(
    *, keypair_request: KeyPairRequest, reason: str, policy: str, why: str, origin: Origin
) -> PolicyStep:
    """Apply ``policy`` (``flag`` or ``delete``) to a key pair for ``reason``; ``why`` is the audit rows' words."""
    if keypair_request.status != KeyPairRequest.Status.CREATED or not keypair_request.keypair_id:
        return PolicyStep(keypair_request, reason, PolicyOutcome.NOT_LIVE)
    if policy == DELETE:
        return _delete_unless_bound(keypair_request, reason=reason, why=why, origin=origin)
    return _flag(keypair_request, reason=reason, why=why, origin=origin)


def keypair_clear_flag(*, keypair_request: KeyPairRequest, actor, why: str, origin: Origin) -> bool:
    """A person decided to keep a flagged key pair: the flag goes, audited. False when it was not flagged."""
    cleared = KeyPairRequest.objects.filter(pk=keypair_request.pk, flagged_at__isnull=False).update(
        flagged_at=None, flag_reason=""
    )
    if cleared:
        audit = auditor_for(user=actor, origin=origin, keypair_request=keypair_request, why=why)
        audit(action=AuditEvent.Action.FLAG_CLEARED, outcome=AuditEvent.Outcome.SUCCESS)
        keypair_request.flagged_at, keypair_request.flag_reason = None, ""
    return bool(cleared)


def _flag(
    keypair_request: KeyPairRequest,
    *,
    reason: str,
    why: str,
    origin: Origin,
    detail: str = "",
    outcome: PolicyOutcome = PolicyOutcome.FLAGGED,
) -> PolicyStep:
    now = timezone.now()
    won = KeyPairRequest.objects.filter(
        pk=keypair_request.pk, status=KeyPairRequest.Status.CREATED, flagged_at__isnull=True
    ).update(flagged_at=now, flag_reason=reason)
    if not won and outcome is PolicyOutcome.FLAGGED:
        return PolicyStep(keypair_request, reason, PolicyOutcome.ALREADY_FLAGGED)
    if not won and outcome is PolicyOutcome.FLAGGED_DELETE_FAILED:
        # Already flagged and on record: the delete service audited the failure itself, and the
        # caller learns the delete failed (to try again), not merely that it was flagged.
        return PolicyStep(keypair_request, reason, outcome, detail)
    if won:
        keypair_request.flagged_at, keypair_request.flag_reason = now, reason
    # Newly flagged, or flagged before (an owner who left under ``delete``) and now spared the
    # deletion because it is bound: either way the log says why it is still there.
    audit = auditor_for(user=None, origin=origin, keypair_request=keypair_request, why=why)
    audit(action=AuditEvent.Action.FLAGGED, outcome=AuditEvent.Outcome.SUCCESS, detail=detail or str(outcome))
    return PolicyStep(keypair_request, reason, outcome, detail)


def _delete_unless_bound(keypair_request: KeyPairRequest, *, reason: str, why: str, origin: Origin) -> PolicyStep:
    lookup = keypair_in_bcc(region=keypair_request.region, keypair_id=keypair_request.keypair_id)
    if lookup.presence is Presence.EXISTS and lookup.keypair is not None and lookup.keypair.instance_count:
        detail = f"bound to {lookup.keypair.instance_count} instance(s)"
        return _flag(
            keypair_request, reason=reason, why=why, origin=origin, detail=detail, outcome=PolicyOutcome.FLAGGED_BOUND
        )
    try:
        keypair_delete_for_governance(keypair_request=keypair_request, why=why, origin=origin)
    except ServiceError as error:
        return _flag(
            keypair_request,
            reason=reason,
            why=why,
            origin=origin,
            detail=f"delete failed: {error.code}",
            outcome=PolicyOutcome.FLAGGED_DELETE_FAILED,
        )
    return PolicyStep(keypair_request, reason, PolicyOutcome.DELETED)
