"""Refusals, aggregated: one row per source, person and reason per minute, then a count.

Threat: refusals are written for people the portal does not trust yet (a refused sign-in
needs no account; ``/oidc/callback/`` is open to anyone). Written one row each, a flood of
them fills the log and queues every real event behind the chain lock. So a refusal is
counted in a *bucket* (its kind, the person if known, the source address and the reason, for
one wall-clock minute):

- the first refusal of a bucket is written at once, as before, with its request's details;
- the others only increment the bucket's counter in Django's cache (``cache.add`` and
  ``cache.incr``, atomic in Redis, so several processes share one count);
- once the minute is over, the count becomes one row: "N more refused sign-ins from X in the
  minute from HH:MM UTC". The first refusal of any bucket in a later minute flushes every
  earlier minute's buckets (``flush_refusal_tails``); each bucket's flush is claimed with
  ``cache.add``, so exactly one process writes it (a refusal counted in the very instant its
  bucket is flushed, by a process whose clock lags, may be left out of the count).

A tail nobody follows: if no refusal at all comes after a minute, its counts wait in the
cache until the next refusal from anyone, or until the nightly ``manage.py verify_audit``,
which flushes them before it verifies. They are kept ``TAIL_SECONDS`` (two days); a count
older than that, never flushed, is lost (the first row of its minute is not). With Django's
local-memory cache every process counts on its own (so a flood gives a few more rows);
with the database cache a counter is read and written back, so a burst may lose a little
of its count, never the first row.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest

from keypairs.audit import audit_record
from keypairs.models import AuditEvent
from portal.client_address import client_address

MINUTE = 60
TAIL_SECONDS = 2 * 24 * 60 * 60
PREFIX = "audit-refusals"

SIGN_IN_SUMMARY = "{count} more refused sign-ins from {source} in the minute from {minute} UTC: {reason}"
ACCESS_SUMMARY = "{count} more refused requests by {who} from {source} in the minute from {minute} UTC: {reason}"
UNKNOWN_SOURCE = "an unknown address"

# The wall clock, a hook for tests (as Django's PasswordResetTokenGenerator has _now).
clock: Callable[[], float] = time.time


def record_refusal(
    *,
    action: str,
    reason: str,
    request: HttpRequest | None,
    who: str = "",
    **fields: Any,
) -> AuditEvent | None:
    """Write this refusal now if it is its bucket's first in this minute, else count it; the row or None.

    ``who`` is the person refused (their user name, or empty when nobody is signed in); the
    bucket is (action, who, source address, reason), so varying a typed user name does not
    open a new bucket for a signed-out flood. ``fields`` go to ``audit_record`` with the row.
    """
    minute = int(clock() // MINUTE)
    source = client_address(request) if request is not None else None
    bucket = _bucket_id(action, who, source, reason)
    key = _count_key(minute, bucket)
    if cache.add(key, 0, timeout=TAIL_SECONDS):
        _register(minute, {"bucket": bucket, "action": action, "who": who, "source": source, "reason": reason})
        if cache.add(f"{PREFIX}:{minute}:seen", True, timeout=TAIL_SECONDS):
            _note_minute(minute)
            flush_refusal_tails()
        return audit_record(
            action=action,
            outcome=AuditEvent.Outcome.DENIED,
            request=request,
            detail=reason,
            is_security_event=True,
            **fields,
        )
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr: count it as the first of a new bucket
        return record_refusal(action=action, reason=reason, request=request, who=who, **fields)
    return None


def flush_refusal_tails() -> int:
    """Write the counts of every finished minute not flushed yet; the number of rows written."""
    current = int(clock() // MINUTE)
    done = cache.get(f"{PREFIX}:minutes-flushed", 0)
    noted = cache.get(f"{PREFIX}:minutes", 0)
    written, advanced_to = 0, done
    for slot in range(done + 1, noted + 1):
        minute = cache.get(f"{PREFIX}:minute:{slot}")
        if minute is not None and minute >= current:
            break  # still counting; this minute and the ones after it wait
        if minute is not None:
            written += _flush_minute(minute)
        advanced_to = slot
    if advanced_to > done:
        cache.set(f"{PREFIX}:minutes-flushed", advanced_to, timeout=TAIL_SECONDS)
    return written


def _flush_minute(minute: int) -> int:
    buckets = cache.get(f"{PREFIX}:{minute}:buckets", 0)
    slots = cache.get_many([f"{PREFIX}:{minute}:bucket:{n}" for n in range(1, buckets + 1)])
    written = 0
    for described in slots.values():
        key = _count_key(minute, described["bucket"])
        count = cache.get(key, 0)
        if count and cache.add(f"{key}:flushed", True, timeout=TAIL_SECONDS):
            _write_summary(minute, described, count)
            written += 1
    return written


def _write_summary(minute: int, described: dict[str, Any], count: int) -> None:
    start = datetime.fromtimestamp(minute * MINUTE, tz=UTC).strftime("%Y-%m-%d %H:%M")
    template = SIGN_IN_SUMMARY if described["action"] == AuditEvent.Action.SIGN_IN_REFUSED else ACCESS_SUMMARY
    detail = template.format(
        count=count,
        source=described["source"] or UNKNOWN_SOURCE,
        who=described["who"] or "someone not signed in",
        minute=start,
        reason=described["reason"],
    )
    audit_record(
        action=described["action"],
        outcome=AuditEvent.Outcome.DENIED,
        source_ip=described["source"],
        actor_username=described["who"],
        detail=detail,
        is_security_event=True,
    )


def _register(minute: int, described: dict[str, Any]) -> None:
    """Note a bucket under its minute, in a slot numbered by an atomic counter (no list to race on)."""
    counter = f"{PREFIX}:{minute}:buckets"
    cache.add(counter, 0, timeout=TAIL_SECONDS)
    slot = cache.incr(counter)
    cache.set(f"{PREFIX}:{minute}:bucket:{slot}", described, timeout=TAIL_SECONDS)


def _note_minute(minute: int) -> None:
    """Note a minute that had refusals, for the flush to visit in order."""
    cache.add(f"{PREFIX}:minutes", 0, timeout=TAIL_SECONDS)
    slot = cache.incr(f"{PREFIX}:minutes")
    cache.set(f"{PREFIX}:minute:{slot}", minute, timeout=TAIL_SECONDS)


def _bucket_id(action: str, who: str, source: str | None, reason: str) -> str:
    # Hashed: cache keys must be short and printable, and a reason or name may be neither.
    return hashlib.sha256("\x00".join((action, who, source or "", reason)).encode()).hexdigest()[:32]


def _count_key(minute: int, bucket: str) -> str:
    return f"{PREFIX}:{minute}:{bucket}"
