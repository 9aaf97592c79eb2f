"""Helpers for the tests of keys that age (keypairs.key_age): key pairs of a given age, the run."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.utils import timezone

from keypairs.audit import Origin
from keypairs.key_age import KeyAgeRun, enforce_key_age
from keypairs.models import AuditEvent, KeyPairRequest

MAX_AGE_DAYS = 90
PORTAL_BASE_URL = "https://keys.example.com"


def aged(owner, name: str, *, days_old: float, region: str = "bj", keypair_id: str = "") -> KeyPairRequest:
    """A live key pair made by BCC ``days_old`` days ago at noon, recorded directly (no BCC call needed).

    At noon, so that a run half a day before a whole number of days reads as that many calendar days.
    """
    made = (timezone.now() - timedelta(days=days_old)).replace(hour=12, minute=0, second=0, microsecond=0)
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        region=region,
        name=name,
        status=KeyPairRequest.Status.CREATED,
        keypair_id=keypair_id or f"k-{secrets.token_hex(4)}",
        bcc_created_at=made,
        completed_at=timezone.now(),
    )


def days_before_expiry(record: KeyPairRequest, days: float, *, max_age: int = MAX_AGE_DAYS) -> datetime:
    """The run's clock: ``days`` before ``record`` reaches ``max_age`` (negative: after)."""
    record.refresh_from_db()
    return record.bcc_created_at + timedelta(days=max_age - days)


def run_at(now: datetime) -> KeyAgeRun:
    return enforce_key_age(now=now, origin=Origin())


def rows_of(action: str, record: KeyPairRequest | None = None) -> list[AuditEvent]:
    rows = AuditEvent.objects.filter(action=action).order_by("id")
    if record is not None:
        rows = rows.filter(keypair_id=record.keypair_id)
    return list(rows)
