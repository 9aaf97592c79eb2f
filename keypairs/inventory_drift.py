"""Reads of the BCC inventory's drift: the filters of its admin page and the counts on the admin index.

Three kinds of drift, each a filter of ``BccInventoryEntry`` an index answers:

- **unowned**: in BCC, not gone, no record in the portal (``inventory_drift_idx``: gone_at, record);
- **gone at the last sync**: ``gone_at`` later than the run before the latest one ended (the
  latest run's finds, and key pairs deleted from the inventory since); the two latest
  ``inventory_synced`` audit rows say when (the action index, two rows);
- **changed outside the portal**: still in BCC, and its key pair has a ``changed_outside`` audit
  row (renamed or re-described in the console; ``keypairs.services.bcc_sync`` writes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from keypairs.models import AuditEvent, BccInventoryEntry

Action = AuditEvent.Action

UNOWNED, GONE_AT_LAST_SYNC, CHANGED_OUTSIDE = "unowned", "gone_last_sync", "changed"


def unowned(entries: QuerySet[BccInventoryEntry]) -> QuerySet[BccInventoryEntry]:
    return entries.filter(gone_at__isnull=True, record__isnull=True)


def gone_at_last_sync(
    entries: QuerySet[BccInventoryEntry], *, sync_times: list[datetime] | None = None
) -> QuerySet[BccInventoryEntry]:
    times = _sync_times() if sync_times is None else sync_times
    since = times[1] if len(times) == 2 else None  # one run ever: everything gone went then
    gone = entries.filter(gone_at__isnull=False)
    return gone if since is None else gone.filter(gone_at__gt=since)


def changed_outside(entries: QuerySet[BccInventoryEntry]) -> QuerySet[BccInventoryEntry]:
    changed_ids = AuditEvent.objects.filter(action=Action.CHANGED_OUTSIDE).values("keypair_id")
    return entries.filter(gone_at__isnull=True, keypair_id__in=changed_ids)


DRIFT_FILTERS = {UNOWNED: unowned, GONE_AT_LAST_SYNC: gone_at_last_sync, CHANGED_OUTSIDE: changed_outside}


@dataclass(frozen=True)
class Drift:
    unowned: int
    gone_at_last_sync: int
    changed_outside: int
    last_sync_at: datetime | None


def drift_counts() -> Drift:
    """The three counts (three indexed COUNTs) and when the last sync ended (None: never)."""
    entries = BccInventoryEntry.objects.all()
    times = _sync_times()
    return Drift(
        unowned=unowned(entries).count(),
        gone_at_last_sync=gone_at_last_sync(entries, sync_times=times).count(),
        changed_outside=changed_outside(entries).count(),
        last_sync_at=times[0] if times else None,
    )


def _sync_times() -> list[datetime]:
    """When the two latest runs ended, newest first."""
    runs = AuditEvent.objects.filter(action=Action.INVENTORY_SYNCED).order_by("-id")
    return list(runs.values_list("created_at", flat=True)[:2])
