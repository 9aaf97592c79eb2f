"""The operators' policy applied to one key pair: flag it for a person to decide, or delete it.

Used for key pairs whose owner left (``keypairs.offboarding``) and key pairs older than their
maximum age (``keypairs.key_age``). ``flag`` marks the record (``flagged_at``, ``flag_reason``)
and it shows on the admin's "flagged key pairs" page; ``delete`` deletes it in BCC through the
delete service, on behalf of the policy. A key pair bound to instances is first unbound from every
instance that holds it (``keypairs.services.unbind_then_delete``, the policy's reason in each
audit row), then deleted: the access removed is that of the person who left, or of a key pair past
its maximum age, which is what the policy is for. An unbind that failed or did only part (an
instance starting, BCC down) stops before the delete and flags the key pair, like a delete BCC
refused or never answered, so nobody loses track of it; the failure rows are written by the
binding and delete services.

Idempotent: flagging writes only where the record is not flagged yet (one conditional UPDATE,
so two runs at once write one "flagged" row), and a deleted record is left alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from keypairs.audit import Origin
from keypairs.bcc_state import Presence, keypair_in_bcc
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.services._auditor import auditor_for
from keypairs.services.delete import keypair_delete_for_governance
from keypairs.services.errors import ServiceError
from keypairs.services.unbind_then_delete import UnbindStopped, unbind_all_then_delete

FLAG = "flag"
DELETE = "delete"
FlagReason = KeyPairRequest.FlagReason


class PolicyOutcome(enum.StrEnum):
    FLAGGED = "flagged"
    ALREADY_FLAGGED = "already flagged"
    FLAGGED_UNBIND_FAILED = "flagged: not unbound from every instance, not deleted"
    FLAGGED_DELETE_FAILED = "flagged: the delete failed"
    DELETED = "deleted"
    UNBOUND_DELETED = "unbound from its instances, then deleted"
    NOT_LIVE = "not in BCC: nothing to do"


# The outcomes as the admins' summary mail says them, in each admin's language (the command's
# output and the audit rows keep ``PolicyOutcome``'s English).
OUTCOME_LABELS = {
    PolicyOutcome.FLAGGED: _("flagged"),
    PolicyOutcome.ALREADY_FLAGGED: _("already flagged"),
    PolicyOutcome.FLAGGED_UNBIND_FAILED: _("flagged: not unbound from every instance, not deleted"),
    PolicyOutcome.FLAGGED_DELETE_FAILED: _("flagged: the delete failed"),
    PolicyOutcome.DELETED: _("deleted"),
    PolicyOutcome.UNBOUND_DELETED: _("unbound from its instances, then deleted"),
    PolicyOutcome.NOT_LIVE: _("not in BCC: nothing to do"),
}
MAIL_LINE = _("{name} ({keypair_id}, {region}, owner {owner}): {outcome}")


@dataclass(frozen=True)
class PolicyStep:
    """What the policy did to one key pair, for the command's output and the admins' summary mail."""

    keypair_request: KeyPairRequest
    reason: str  # a FlagReason value
    outcome: PolicyOutcome
    detail: str = ""
    error_code: str = ""  # BCC's or the service's code when the unbind or the delete failed

    @property
    def line(self) -> str:
        record = self.keypair_request
        said = (
            f"{record.name} ({record.keypair_id}, {record.region}, owner {record.owner.get_username()}): {self.outcome}"
        )
        return f"{said}; {self.detail}" if self.detail else said

    @property
    def mail_line(self):
        """``line`` for the summary mail: lazy, so that each admin reads it in their language."""
        record = self.keypair_request
        said = format_lazy(
            MAIL_LINE,
            name=record.name,
            keypair_id=record.keypair_id,
            region=record.region,
            owner=record.owner.get_username(),
            outcome=OUTCOME_LABELS[self.outcome],
        )
        return format_lazy("{} ({})", said, self.error_code) if self.error_code else said


def keypair_apply_policy(
    *, keypair_request: KeyPairRequest, reason: str, policy: str, why: str, origin: Origin
) -> PolicyStep:
    """Apply ``policy`` (``flag`` or ``delete``) to a key pair for ``reason``; ``why`` is the audit rows' words."""
    if keypair_request.status != KeyPairRequest.Status.CREATED or not keypair_request.keypair_id:
        return PolicyStep(keypair_request, reason, PolicyOutcome.NOT_LIVE)
    if policy == DELETE:
        return _delete(keypair_request, reason=reason, why=why, origin=origin)
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
    error_code: str = "",
) -> PolicyStep:
    now = timezone.now()
    won = KeyPairRequest.objects.filter(
        pk=keypair_request.pk, status=KeyPairRequest.Status.CREATED, flagged_at__isnull=True
    ).update(flagged_at=now, flag_reason=reason)
    if not won and outcome is PolicyOutcome.FLAGGED:
        return PolicyStep(keypair_request, reason, PolicyOutcome.ALREADY_FLAGGED)
    if not won and outcome in (PolicyOutcome.FLAGGED_DELETE_FAILED, PolicyOutcome.FLAGGED_UNBIND_FAILED):
        # Already flagged and on record: the delete service audited the failure itself, and the
        # caller learns the delete failed (to try again), not merely that it was flagged.
        return PolicyStep(keypair_request, reason, outcome, detail, error_code)
    if won:
        keypair_request.flagged_at, keypair_request.flag_reason = now, reason
    # Newly flagged, or flagged before (an owner who left under ``delete``) and now kept because
    # an instance still holds it: either way the log says why it is still there.
    audit = auditor_for(user=None, origin=origin, keypair_request=keypair_request, why=why)
    audit(action=AuditEvent.Action.FLAGGED, outcome=AuditEvent.Outcome.SUCCESS, detail=detail or str(outcome))
    return PolicyStep(keypair_request, reason, outcome, detail, error_code)


def _delete(keypair_request: KeyPairRequest, *, reason: str, why: str, origin: Origin) -> PolicyStep:
    # One detail call says whether it is bound; only a bound key pair costs a walk of the instances.
    lookup = keypair_in_bcc(region=keypair_request.region, keypair_id=keypair_request.keypair_id)
    bound = lookup.presence is Presence.EXISTS and lookup.keypair is not None and lookup.keypair.instance_count > 0
    try:
        if bound:
            unbind_all_then_delete(actor=None, keypair_request=keypair_request, why=why, origin=origin)
        else:
            keypair_delete_for_governance(keypair_request=keypair_request, why=why, origin=origin)
    except UnbindStopped as error:
        outcome, detail, code = PolicyOutcome.FLAGGED_UNBIND_FAILED, f"unbind failed: {error.code}", error.code
    except ServiceError as error:
        outcome, detail, code = PolicyOutcome.FLAGGED_DELETE_FAILED, f"delete failed: {error.code}", error.code
    else:
        return PolicyStep(keypair_request, reason, PolicyOutcome.UNBOUND_DELETED if bound else PolicyOutcome.DELETED)
    return _flag(
        keypair_request, reason=reason, why=why, origin=origin, detail=detail, outcome=outcome, error_code=code
    )
