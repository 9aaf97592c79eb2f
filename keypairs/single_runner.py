"""One run at a time of a scheduled command, across every portal instance: a lease in the database.

Cron runs ``sync_bcc`` and ``enforce_key_policy`` on every instance; only one may do the work,
and the others say so and exit 0. The lease is a ``JobLease`` row taken with one conditional
UPDATE ("where nobody holds it, or the holder's lease ran out"), which SQLite and PostgreSQL
both make atomic, so no transaction stays open while the job calls BCC or sends mail. A run
that dies leaves a lease that runs out by itself (``lease_seconds``); a long job renews it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from keypairs.models import JobLease

ANOTHER_RUN_HOLDS = "Another run of {name} is at work (lease until {until:%Y-%m-%d %H:%M:%S} UTC); nothing to do here."


@dataclass
class Lease:
    """A held lease; ``renew`` before it runs out when the job is longer than ``lease_seconds``."""

    name: str
    holder: str
    lease_seconds: int

    def renew(self) -> bool:
        """Extend the lease; False when it ran out and another run took it (stop then)."""
        until = timezone.now() + timedelta(seconds=self.lease_seconds)
        return bool(JobLease.objects.filter(name=self.name, holder=self.holder).update(expires_at=until))


class AnotherRunHolds(Exception):
    """The job is held by another run; the message says until when."""


def take_lease(name: str, *, lease_seconds: int) -> Lease:
    """Take ``name``'s lease or raise ``AnotherRunHolds``."""
    holder = secrets.token_hex(16)
    now = timezone.now()
    try:
        with transaction.atomic():
            JobLease.objects.get_or_create(name=name, defaults={"expires_at": now})
    except IntegrityError:  # another run made the row first: it exists now
        pass
    taken = JobLease.objects.filter(Q(expires_at__lte=now) | Q(holder=""), name=name).update(
        holder=holder, expires_at=now + timedelta(seconds=lease_seconds)
    )
    if not taken:
        until = JobLease.objects.filter(name=name).values_list("expires_at", flat=True).first() or now
        raise AnotherRunHolds(ANOTHER_RUN_HOLDS.format(name=name, until=until))
    return Lease(name=name, holder=holder, lease_seconds=lease_seconds)


@contextmanager
def single_run(name: str, *, lease_seconds: int = 600) -> Iterator[Lease]:
    """Hold ``name``'s lease for the block, and give it back at the end (raises ``AnotherRunHolds``)."""
    lease = take_lease(name, lease_seconds=lease_seconds)
    try:
        yield lease
    finally:
        JobLease.objects.filter(name=name, holder=lease.holder).update(holder="", expires_at=timezone.now())
