"""One expiry reminder mailed to a key pair's owner, once per threshold (keypairs.key_age decides when).

``KeyPairRequest.expiry_reminder_days`` holds the smallest threshold already sent. The reminder
claims its threshold with one conditional UPDATE before the mail goes ("still unsent, or only a
larger threshold sent"), so two runs at once send one mail. A mail the server did not take gives
the claim back (the next run tries again) and writes ``mail_failed``; a person with no address is
not retried every hour: the row ``mail_failed`` ("no address") says so once per threshold, and the
next threshold is tried in its turn. The mail holds no secret: names, ids, the region, the date
and a link to the key pair's page (whose id is not a secret either).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from keypairs.audit import Origin
from keypairs.mail import send_portal_mail
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.regions import region_label
from keypairs.services._auditor import auditor_for
from portal.languages import language_of

MAIL_TEMPLATE = "expiry_reminder"
DATE_FORMAT = "Y-m-d H:i T"


class ReminderOutcome(enum.StrEnum):
    MAILED = "mailed"
    NO_ADDRESS = "NOT mailed: the owner has no email address"
    NOT_DELIVERED = "NOT delivered: the mail server did not take it; the next run tries again"
    ALREADY_SENT = "already mailed by another run"


# The outcomes as the admins' summary mail says them, in each admin's language (the command's
# output and the audit rows keep ``ReminderOutcome``'s English).
OUTCOME_LABELS = {
    ReminderOutcome.MAILED: _("mailed"),
    ReminderOutcome.NO_ADDRESS: _("NOT mailed: the owner has no email address"),
    ReminderOutcome.NOT_DELIVERED: _("NOT delivered: the mail server did not take it; the next run tries again"),
    ReminderOutcome.ALREADY_SENT: _("already mailed by another run"),
}
MAIL_LINE = _("{name} ({keypair_id}, {region}, owner {owner}): reminder {days} days before expiry {outcome}")


@dataclass(frozen=True)
class Reminder:
    """One reminder due, and what became of it: a line of the command's output."""

    keypair_request: KeyPairRequest
    threshold: int
    outcome: ReminderOutcome

    @property
    def line(self) -> str:
        record = self.keypair_request
        return (
            f"{record.name} ({record.keypair_id}, {record.region}, owner {record.owner.get_username()}): "
            f"reminder {self.threshold} days before expiry {self.outcome}"
        )

    @property
    def mail_line(self):
        """``line`` for the summary mail: lazy, so that each admin reads it in their language."""
        record = self.keypair_request
        return format_lazy(
            MAIL_LINE,
            name=record.name,
            keypair_id=record.keypair_id,
            region=record.region,
            owner=record.owner.get_username(),
            days=self.threshold,
            outcome=OUTCOME_LABELS[self.outcome],
        )


def keypair_remind_expiry(
    *, keypair_request: KeyPairRequest, threshold: int, expires_at: datetime, days_left: int, origin: Origin
) -> Reminder:
    """Mail the owner that ``keypair_request`` expires at ``expires_at``, unless ``threshold`` was sent."""
    previous = keypair_request.expiry_reminder_days
    claimed = (
        KeyPairRequest.objects.filter(pk=keypair_request.pk, status=KeyPairRequest.Status.CREATED)
        .filter(Q(expiry_reminder_days__isnull=True) | Q(expiry_reminder_days__gt=threshold))
        .update(expiry_reminder_days=threshold)
    )
    if not claimed:
        return Reminder(keypair_request, threshold, ReminderOutcome.ALREADY_SENT)
    keypair_request.expiry_reminder_days = threshold
    audit = auditor_for(user=None, origin=origin, keypair_request=keypair_request)
    reminder = f"reminder {threshold} days before expiry"
    owner = keypair_request.owner
    if not owner.email:
        failed = AuditEvent.Outcome.FAILURE
        audit(action=AuditEvent.Action.MAIL_FAILED, outcome=failed, detail=f"no address ({reminder})")
        return Reminder(keypair_request, threshold, ReminderOutcome.NO_ADDRESS)

    context = _mail_context(keypair_request, expires_at=expires_at, days_left=days_left)
    language = language_of(owner)  # loaded with the candidates (keypairs.key_age)
    if not send_portal_mail(to=[owner.email], template=MAIL_TEMPLATE, context=context, language=language):
        KeyPairRequest.objects.filter(pk=keypair_request.pk, expiry_reminder_days=threshold).update(
            expiry_reminder_days=previous
        )
        keypair_request.expiry_reminder_days = previous
        audit(
            action=AuditEvent.Action.MAIL_FAILED,
            outcome=AuditEvent.Outcome.FAILURE,
            detail=f"not delivered ({reminder}); tried again next run",
        )
        return Reminder(keypair_request, threshold, ReminderOutcome.NOT_DELIVERED)
    expires = dateformat.format(timezone.localtime(expires_at), DATE_FORMAT)
    audit(
        action=AuditEvent.Action.EXPIRY_REMINDED,
        outcome=AuditEvent.Outcome.SUCCESS,
        detail=f"threshold {threshold} days; expires {expires}",
    )
    return Reminder(keypair_request, threshold, ReminderOutcome.MAILED)


def _mail_context(keypair_request: KeyPairRequest, *, expires_at: datetime, days_left: int) -> dict:
    owner = keypair_request.owner
    detail_path = reverse("keypair_detail", kwargs={"public_id": keypair_request.public_id})
    return {
        "person": owner.get_full_name() or owner.get_username(),
        "name": keypair_request.name,
        "keypair_id": keypair_request.keypair_id,
        # Lazy: the region's name is read in the owner's language, when the mail is written.
        "region": lazy(region_label, str)(keypair_request.region),
        "expires_at": expires_at,
        "days_left": days_left,
        "detail_url": settings.PORTAL_BASE_URL + detail_path,
        "create_url": settings.PORTAL_BASE_URL + reverse("keypair_create"),
        "policy_deletes": settings.KEYPAIR_EXPIRY_POLICY == "delete",
    }
