"""What the auditors' admin review needs beyond Django's admin: chain status, a cheap count, CSV.

Built for a log of a million rows and more:

- **Chain status.** ``audit_verify`` walks the whole chain (seconds for a million rows:
  docs/benchmarks.md, section 5), far too slow for a page view. The last result is kept in
  the cache with its time and the event it reached (``chain_status``); the admin shows it and
  offers to run it again (``verify_and_remember``), one run at a time. ``manage.py verify_audit`` (the nightly cron
  job) records its result the same way. The cache is Django's, shared by every worker and
  process: Redis with ``REDIS_URL``, otherwise the database cache table.
- **Counting.** Django's admin counts the filtered rows on every page (``COUNT(*)``).
  ``AuditEventPaginator`` answers without a scan: the whole log has exactly as many events
  as the chain head's last id (ids are consecutive and events are never deleted), and a
  filtered set is counted only up to ``COUNT_CAP`` rows (``SELECT COUNT(*) FROM (... LIMIT
  n)``), which an index answers quickly however many rows match.
- **A key pair's timeline.** The rows written before BCC answered a create or an import
  ("requested", "import_requested", and a "failed" with no key pair) carry no key pair id.
  They share the HTTP request's ``portal_request_id`` with the row that does carry it
  ("created", "imported"), so ``keypair_timeline`` adds them through it: the key pair's request
  ids read on its id's index, then its rows on the two indexes, a handful at any log size.
- **Search.** Key pair names and actors match by case-insensitive prefix, ids exactly, each on
  its index (migration 0007). On PostgreSQL the planner then finds the newest matches by id
  for any prefix. SQLite does not: it gathers every match through the indexes and sorts them
  all by id, 1.7 s at a million rows for a prefix that most rows share ("Dev"). So on SQLite
  ``search_matches`` first counts the matches through the indexes, up to the paginator's cap
  and unsorted (14 ms for 10,001 at a million rows), and that is the page's count. When there
  are ``DENSE_PROBE`` or more, matches are common and the page reads the log newest first
  without the indexes (the unary ``+`` SQLite documents for that), stopping at the page's last
  row; when fewer, the indexes answer alone. Measured: docs/benchmarks.md, section 10.
- **CSV export.** Streamed row by row from a database iterator (``iterator(chunk_size=...)``,
  a server-side cursor on PostgreSQL), so memory stays flat for any size. Cells that a
  spreadsheet would run as a formula (starting with ``= + - @``, tab or carriage return) get
  a leading apostrophe: user agents and names are chosen by users, and an auditor opening
  the file must not run what someone typed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import CharField, F, Func, Q, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_noop

from keypairs.audit import SIGNED_FIELDS, VerificationResult, audit_verify
from keypairs.models import AuditChainHead, AuditEvent

CHAIN_STATUS_CACHE_KEY = "keypairs:audit-chain-status"
VERIFY_LOCK_CACHE_KEY = "keypairs:audit-chain-verifying"
# Longer than a verification of several million rows; the lock is released when it ends anyway.
VERIFY_LOCK_SECONDS = 15 * 60
# Translated where shown (keypairs/admin.py).
ALREADY_RUNNING_MESSAGE = gettext_noop(
    "A verification of the audit chain is already running; its result will show here."
)

# ISO-like, with seconds and the zone: "2026-12-03 09:45:21 UTC". Auditors compare times
# across logs and zones; "7:22 a.m." would leave them guessing.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S %Z"

COUNT_CAP = 10_000
# On SQLite, this many matches found through the indexes means "common": read newest first instead.
DENSE_PROBE = 2_000
CSV_COLUMNS = (*SIGNED_FIELDS, "prev_hash", "row_hash")
CSV_CHUNK_SIZE = 2000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --- Chain status ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainStatus:
    """The last verification: whether it held, what it said, when, and up to which event."""

    ok: bool
    message: str
    events_checked: int
    verified_at: datetime
    broken_event_id: int | None = None

    def events_since(self) -> int:
        """Events appended after this verification (not yet covered by it)."""
        return max(0, last_event_id() - self.events_checked) if self.ok else 0


def chain_status() -> ChainStatus | None:
    """The remembered result, or None when the chain was never verified (in this cache)."""
    stored = cache.get(CHAIN_STATUS_CACHE_KEY)
    if not stored:
        return None
    return ChainStatus(**{**stored, "verified_at": datetime.fromisoformat(stored["verified_at"])})


def verify_and_remember() -> ChainStatus | None:
    """Verify the whole chain now and remember the result; None if a run is already going on."""
    if not cache.add(VERIFY_LOCK_CACHE_KEY, True, timeout=VERIFY_LOCK_SECONDS):
        return None
    try:
        return remember(audit_verify())
    finally:
        cache.delete(VERIFY_LOCK_CACHE_KEY)


def remember(result: VerificationResult) -> ChainStatus:
    """Keep a verification's result for the admin to show: the button's, and ``manage.py verify_audit``'s."""
    status = ChainStatus(
        ok=result.ok,
        message=result.message,
        events_checked=result.events_checked,
        verified_at=timezone.now(),
        broken_event_id=result.broken_event_id,
    )
    cache.set(CHAIN_STATUS_CACHE_KEY, {**asdict(status), "verified_at": status.verified_at.isoformat()}, timeout=None)
    return status


def last_event_id() -> int:
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).values_list("last_event_id", flat=True)
    return head.first() or 0


def timestamp(moment: datetime) -> str:
    """``moment`` in the portal's time zone (``TIME_ZONE``), as TIMESTAMP_FORMAT."""
    return timezone.localtime(moment).strftime(TIMESTAMP_FORMAT)


# --- Timelines ---------------------------------------------------------------------------------

# The rows of a create or import written before BCC named the key pair (services/create.py,
# services/import_.py). Only these, and only without a key pair id, are taken in by request id:
# one request creates or imports one key pair, so they are that key pair's; every other row of
# any request names its key pair itself.
BEFORE_THE_KEYPAIR_ID = (
    AuditEvent.Action.REQUESTED,
    AuditEvent.Action.IMPORT_REQUESTED,
    AuditEvent.Action.FAILED,
    AuditEvent.Action.IMPORT_FAILED,
)


def keypair_timeline(queryset: QuerySet, keypair_id: str) -> QuerySet:
    """The events of ``queryset`` about key pair ``keypair_id``, its create's or import's first rows included."""
    # Read first, a handful of values: as a subquery inside the OR, SQLite gave up the indexes
    # and scanned the log (1 s at a million rows; docs/benchmarks.md, section 10).
    its_requests = sorted(
        set(
            AuditEvent.objects.filter(keypair_id=keypair_id)
            .exclude(portal_request_id="")
            .values_list("portal_request_id", flat=True)
        )
    )
    match = Q(keypair_id=keypair_id)
    if its_requests:
        match |= Q(keypair_id="", action__in=BEFORE_THE_KEYPAIR_ID, portal_request_id__in=its_requests)
    return queryset.filter(match)


# --- Searching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchMatches:
    """The rows a search matches, and (on SQLite) their number counted up to ``COUNT_CAP`` + 1."""

    queryset: QuerySet
    count: int | None = None


def search_matches(
    queryset: QuerySet, *, prefix_fields: Iterable[str], exact_fields: Iterable[str], term: str, event_id: int | None
) -> SearchMatches:
    """``queryset`` narrowed to rows whose prefix fields start with ``term`` (any case), whose
    exact fields equal it, or (``event_id``) that are that event; see "Search" above."""
    prefix_fields, exact_fields = list(prefix_fields), list(exact_fields)
    matches = queryset.filter(_match(prefix_fields, exact_fields, term, event_id, lambda field: field))
    if connections[queryset.db].vendor != "sqlite":
        return SearchMatches(matches)
    count = len(matches.order_by().values_list("id", flat=True)[: COUNT_CAP + 1])
    if count < DENSE_PROBE:
        return SearchMatches(matches, count)
    # Common: the same match on the columns behind a unary +, which SQLite never reads through an
    # index, so it walks the log by id (newest first for the page) and stops once the page is full.
    scanned = {field: f"_scan_{field}" for field in [*prefix_fields, *exact_fields]}
    columns = {
        alias: Func(F(field), template="+%(expressions)s", output_field=CharField()) for field, alias in scanned.items()
    }
    scanning = queryset.alias(**columns).filter(
        _match(prefix_fields, exact_fields, term, event_id, scanned.__getitem__)
    )
    return SearchMatches(scanning, count)


def _match(prefix_fields, exact_fields, term: str, event_id: int | None, column) -> Q:
    match = Q()
    for field in prefix_fields:
        match |= Q(**{f"{column(field)}__istartswith": term})
    for field in exact_fields:
        match |= Q(**{column(field): term})
    if event_id is not None:
        match |= Q(id=event_id)
    return match


# --- Counting ------------------------------------------------------------------------------------


class AuditEventPaginator(Paginator):
    """A paginator whose count never scans the table; ``is_capped`` when a filtered count hit COUNT_CAP."""

    cap = COUNT_CAP

    def __init__(self, *args, known_count: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Counted already, capped the same way (a search on SQLite: ``search_matches``).
        self.known_count = known_count

    @cached_property
    def count(self) -> int:
        if self.known_count is not None:
            return self.known_count
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            return last_event_id()
        if isinstance(queryset, QuerySet):
            return queryset.order_by()[: self.cap + 1].count()
        return len(queryset)

    @property
    def is_capped(self) -> bool:
        return self.count > self.cap


# --- CSV -----------------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write returns the line, so that csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def csv_lines(queryset: QuerySet) -> Iterator[str]:
    """The header, then one CSV line per event of ``queryset``, fetched in chunks as they are sent."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    rows = queryset.values_list(*CSV_COLUMNS).iterator(chunk_size=CSV_CHUNK_SIZE)
    for row in rows:
        yield writer.writerow(_cells(row))


def _cells(row: Iterable[Any]) -> list[str]:
    cells = []
    for value in row:
        if value is None:
            text = ""
        elif isinstance(value, datetime):
            text = value.astimezone(UTC).isoformat()
        else:
            text = str(value)
        if text.startswith(_FORMULA_STARTS):
            text = "'" + text
        cells.append(text)
    return cells


def export_file_name(now: datetime | None = None) -> str:
    now = now or timezone.now()
    return f"audit-events-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.csv"
