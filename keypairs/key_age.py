"""Keys that age: each region's maximum age, reminders to owners, then the operators' policy.

A key pair's age counts from when BCC made it (``bcc_created_at``), or, for a record without
BCC's time, from when the portal finished making it (``completed_at``, else ``created_at``).
``KEYPAIR_MAX_AGE_DAYS`` is the maximum (0: none), ``KEYPAIR_MAX_AGE_DAYS_BY_REGION`` overrides
it per region (0 there: no maximum in that region). The pages show the expiry with ``key_age_of``
(from fields the list already loaded: no query); ``enforce_key_age`` is what
``manage.py enforce_key_policy`` calls, hourly from cron:

- ``KEYPAIR_EXPIRY_REMINDER_DAYS`` (``[14, 3]``): the owner is mailed when a key pair is that many
  days from its expiry, each threshold once (``KeyPairRequest.expiry_reminder_days``, the
  smallest threshold sent, claimed with a conditional UPDATE: keypairs.services.expiry_reminder).
  A run that finds several thresholds passed sends only the smallest one, not a burst. People
  who left (inactive, or a departure they have not come back from) get none: the offboarding
  policy decides about their key pairs (which still expire: the age is the key's, not the person's).
- At expiry, ``KEYPAIR_EXPIRY_POLICY`` (``flag`` or ``delete``) through
  ``keypairs.services.policy``: a bound key pair is unbound from its instances, then deleted (flagged
  when an instance still holds it). The step taken is
  remembered as ``expiry_reminder_days = 0`` ("nothing left to remind of"), so a key pair a
  person decided to keep (its flag cleared) is not flagged again the next hour. An unbind or delete
  that failed is not remembered: the next run tries again.

Idempotent and safe when two runs overlap (the command also holds a ``keypairs.single_runner``
lease): every write is conditional. Cost: one query for the candidates, which are only the key
pairs near or past their expiry (the window is in the query, by region), plus the writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from keypairs.audit import Origin
from keypairs.models import Departure, KeyPairRequest
from keypairs.services.expiry_reminder import ReminderOutcome, keypair_remind_expiry
from keypairs.services.policy import FlagReason, PolicyOutcome, PolicyStep, keypair_apply_policy

# expiry_reminder_days once the expiry step was taken: no reminder is left to send.
EXPIRY_HANDLED = 0
# The policy's outcomes after which the expiry is settled; a failed unbind or delete is tried again.
SETTLED = frozenset(PolicyOutcome) - {PolicyOutcome.FLAGGED_DELETE_FAILED, PolicyOutcome.FLAGGED_UNBIND_FAILED}
AGE_FROM = Coalesce("bcc_created_at", "completed_at", "created_at")


def max_age_days(region: str) -> int:
    """The maximum age of a key pair in ``region``, in days; 0 means no maximum."""
    return settings.KEYPAIR_MAX_AGE_DAYS_BY_REGION.get(region, settings.KEYPAIR_MAX_AGE_DAYS)


def age_from(record: KeyPairRequest) -> datetime:
    """When the key pair's age starts: BCC's creation time, else the portal's."""
    return record.bcc_created_at or record.completed_at or record.created_at


def expires_at(record: KeyPairRequest) -> datetime | None:
    """When the key pair reaches its region's maximum age; None when the region has none."""
    days = max_age_days(record.region)
    return age_from(record) + timedelta(days=days) if days else None


def reminder_days() -> list[int]:
    """The reminder thresholds, largest first (``[14, 3]``)."""
    return sorted(set(settings.KEYPAIR_EXPIRY_REMINDER_DAYS), reverse=True)


@dataclass(frozen=True)
class KeyAge:
    """A key pair's expiry as of ``now``, for pages and for the run."""

    expires_at: datetime
    max_age_days: int
    now: datetime

    @property
    def expired(self) -> bool:
        return self.now >= self.expires_at

    @property
    def days_left(self) -> int:
        """Whole days to the expiry, counting a part of a day as one (1 on its last day); 0 once expired."""
        return max(0, math.ceil((self.expires_at - self.now) / timedelta(days=1)))

    @property
    def days_ago(self) -> int:
        """Whole days since the expiry (0 on the first day after it)."""
        return max(0, (self.now - self.expires_at) // timedelta(days=1))

    @property
    def near(self) -> bool:
        """Within the first reminder's reach (not yet expired): the pages mark it."""
        first = max(settings.KEYPAIR_EXPIRY_REMINDER_DAYS, default=0)
        return not self.expired and self.expires_at - self.now <= timedelta(days=first)

    @property
    def policy_deletes(self) -> bool:
        """What happens at expiry, for the pages' sentence: deleted (``delete``) or flagged."""
        return settings.KEYPAIR_EXPIRY_POLICY == "delete"

    def due_reminder(self, *, already_sent: int | None) -> int | None:
        """The reminder threshold to mail now, if any: the smallest one passed and not sent yet.

        Thresholds count ``days_left`` (a key pair 13.5 days away is 14 days away, and past its
        14-day threshold), so the mail's "in 14 days" is the threshold's number. Only the smallest
        passed threshold is due, so a run after a pause sends one mail, not one per threshold missed.
        """
        if self.expired:
            return None
        passed = [days for days in reminder_days() if self.days_left <= days]
        if not passed:
            return None
        smallest = min(passed)
        return smallest if already_sent is None or smallest < already_sent else None


def key_age_of(record: KeyPairRequest, *, now: datetime | None = None) -> KeyAge | None:
    """The expiry of a live key pair, or None (no maximum in its region, or not in BCC)."""
    if record.status != KeyPairRequest.Status.CREATED or not record.keypair_id:
        return None
    expiry = expires_at(record)
    if expiry is None:
        return None
    return KeyAge(expires_at=expiry, max_age_days=max_age_days(record.region), now=now or timezone.now())


@dataclass
class KeyAgeRun:
    """What one run did: one line per reminder due (mailed, or not and why), and the policy's steps
    on expired key pairs."""

    reminded: list[str] = field(default_factory=list)
    reminded_for_mail: list = field(default_factory=list)  # the same, lazy: in each admin's language
    steps: list[PolicyStep] = field(default_factory=list)
    # Reminders due but not delivered (no address, the mail server refused): the command's exit status.
    mail_failures: int = 0


def enforce_key_age(*, now: datetime, origin: Origin) -> KeyAgeRun:
    """Mail the reminders due and apply the expiry policy to key pairs past their maximum age."""
    run = KeyAgeRun()
    for record in _candidates(now=now):
        age = key_age_of(record, now=now)
        if age is None or not age.expired:
            _unsettle_if_renewed(record, age)
        if age is None:
            continue
        if age.expired:
            _expire(record, age, run=run, origin=origin)
            continue
        threshold = age.due_reminder(already_sent=record.expiry_reminder_days)
        if threshold is not None and record.owner.is_active and not record.owner_left:
            reminder = keypair_remind_expiry(
                keypair_request=record,
                threshold=threshold,
                expires_at=age.expires_at,
                days_left=age.days_left,
                origin=origin,
            )
            if reminder.outcome is not ReminderOutcome.ALREADY_SENT:
                run.reminded.append(reminder.line)
                run.reminded_for_mail.append(reminder.mail_line)
            if reminder.outcome in (ReminderOutcome.NO_ADDRESS, ReminderOutcome.NOT_DELIVERED):
                run.mail_failures += 1
    return run


def _candidates(*, now: datetime) -> list[KeyPairRequest]:
    """Live key pairs within the first reminder's reach of their expiry or past it, and those a
    reminder or the expiry step marked (to notice a maximum raised since): one query."""
    window = _within_reach(now=now)
    if window is None:
        return []  # no maximum anywhere: nothing ages
    left = Exists(Departure.objects.filter(person=OuterRef("owner"), returned_at__isnull=True))
    return list(
        KeyPairRequest.objects.filter(status=KeyPairRequest.Status.CREATED)
        .exclude(keypair_id="")
        .alias(age_from=AGE_FROM)
        .filter(window | Q(expiry_reminder_days__isnull=False))
        .annotate(owner_left=left)
        .select_related("owner", "owner__language")
        .order_by("age_from", "pk")
    )


def _within_reach(*, now: datetime) -> Q | None:
    """Records whose expiry is no later than the first reminder's threshold from ``now``, per region."""
    horizon = now + timedelta(days=max(settings.KEYPAIR_EXPIRY_REMINDER_DAYS, default=0))
    overrides = settings.KEYPAIR_MAX_AGE_DAYS_BY_REGION
    reach = Q(pk__in=[])
    for region, days in overrides.items():
        if days:
            reach |= Q(region=region, age_from__lte=horizon - timedelta(days=days))
    if settings.KEYPAIR_MAX_AGE_DAYS:
        default_days = settings.KEYPAIR_MAX_AGE_DAYS
        reach |= Q(age_from__lte=horizon - timedelta(days=default_days)) & ~Q(region__in=list(overrides))
    elif not any(overrides.values()):
        return None
    return reach


def _expire(record: KeyPairRequest, age: KeyAge, *, run: KeyAgeRun, origin: Origin) -> None:
    if record.expiry_reminder_days == EXPIRY_HANDLED:
        return  # settled by an earlier run; a flag a person cleared stays cleared
    why = f"older than the maximum age of {age.max_age_days} days in {record.region}"
    step = keypair_apply_policy(
        keypair_request=record,
        reason=FlagReason.EXPIRED,
        policy=settings.KEYPAIR_EXPIRY_POLICY,
        why=why,
        origin=origin,
    )
    if step.outcome in SETTLED:
        KeyPairRequest.objects.filter(pk=record.pk).update(expiry_reminder_days=EXPIRY_HANDLED)
    run.steps.append(step)


def _unsettle_if_renewed(record: KeyPairRequest, age: KeyAge | None) -> None:
    """A reminder or expiry marked on a key pair no longer near its expiry (the maximum was raised,
    or removed) is forgotten, so that the new expiry is reminded of and enforced in its turn."""
    marked = record.expiry_reminder_days
    if marked is None:
        return
    if age is not None and age.near and marked != EXPIRY_HANDLED:
        return  # a reminder of this expiry: still true (an expiry step is, only while expired)
    KeyPairRequest.objects.filter(pk=record.pk, expiry_reminder_days=marked).update(expiry_reminder_days=None)
    record.expiry_reminder_days = None
