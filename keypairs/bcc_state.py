"""What BCC itself holds, for "My key pairs": reads only, shared through Django's cache.

The portal's records say what the portal did; BCC's state says what is true now (a key pair
deleted, renamed or re-described in the console, the instances bound to it). This module reads
that state and compares it with a record; the pages decide what to show, and the services
write the record and the audit row "changed outside the portal".

Cost model (calls to BCC per page view)
---------------------------------------
- The list page: ``keypairs_in_bcc`` makes at most one list walk per region (one call per page
  of up to ``LIST_PAGE_SIZE`` key pairs, following ``nextMarker``; BCC's quota of 500 key pairs
  a region fits one page), and none while the region's last walk is younger than
  ``KEYPAIR_BCC_STATE_CACHE_SECONDS``. The walk serves every worker and machine through the
  shared cache, and every person: it lists the service account's key pairs, not one user's, so
  fifty key pairs never cost fifty calls and fifty people never cost fifty walks. The shared
  quota of the create form (``keypairs.limits``) reads the same walk, each with its own
  freshness (``max_age``), so a page that needs both costs one walk per region.
- The detail page: ``keypair_in_bcc`` makes one detail call, never cached: the person is about
  to act on the key pair (delete it, with the bound-instance count in the sentence), so the
  state shown there must be BCC's own at that moment.
- A failed read costs no more than a successful one: it is cached as "unreachable" for as long,
  so a BCC outage does not make every page wait for BCC's timeouts.

Timeouts: a page must answer
----------------------------
Reads here use the client's own ``BCC_CONNECT_TIMEOUT`` and ``BCC_READ_TIMEOUT`` but a single
attempt (``PAGE_READ_ATTEMPTS``), not ``BCC_MAX_ATTEMPTS``: a read retried three times could wait
three read timeouts plus back-off, past gunicorn's worker timeout, and the page exists to render
from the portal's records when BCC is slow. Regions are walked in parallel, so a page waits at
most one walk: with BCC's quota fitting one page, one connect timeout plus one read timeout. A
walk that fails on its second page fails as a whole (half a list would show live key pairs as
deleted). The next read after the cached failure expires tries again.

Concurrent page views
---------------------
When several requests miss the cache at once, one walks per region and the others wait for its
answer: each region has a short lock (``cache.add``, atomic on Redis and on the database cache)
that the walker holds for one attempt's worth of time (``_lock_seconds``). A waiter polls the cache
until the answer appears or the lock is gone (the walker failed to store it, or died), and then
walks itself. Waiters never get an answer older than their ``max_age``: a stale state shown as
current is what this module exists to prevent, and waiting costs them no more than walking
would. A walk longer than the lock (many pages, each slow) lets a second walk start.

When the cache itself fails (Redis down) every read walks, logged; nothing fails with it.

Cache keys are per region and per BCC account (a hash of the access key id and the endpoint):
``CACHE_KEY_PREFIX`` keeps two portals on one Redis apart only when operators set it, and its
default is the same everywhere, so the account is in the key as well.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from keypairs.bcc import errors
from keypairs.bcc.client import MAX_PAGE_SIZE
from keypairs.bcc.errors import BccError
from keypairs.bcc.factory import get_client
from keypairs.bcc.models import Keypair
from keypairs.bcc_cache import bcc_account as _account
from keypairs.bcc_cache import cache_call as _cache_call

logger = logging.getLogger(__name__)

# {time} is the date, time and zone in the reader's language (DATETIME_FORMAT names the zone).
BCC_UNREACHABLE = _("BCC could not be reached at {time}; showing the portal's records")

# One attempt per call: see "Timeouts" above.
PAGE_READ_ATTEMPTS = 1
LIST_PAGE_SIZE = MAX_PAGE_SIZE
# How often a request waiting for another one's walk looks at the cache.
WAIT_POLL_SECONDS = 0.05

_STATE_KEY = "keypairs:bcc-state:{account}:{region}"
_WALK_LOCK_KEY = "keypairs:bcc-state-walk:{account}:{region}"
# The clock of read times, a hook for tests.
clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


# --- What BCC holds ------------------------------------------------------------------------


@dataclass(frozen=True)
class KeypairInBcc:
    """One key pair as BCC's KeypairModel describes it (never a private key: BCC keeps none).

    ``public_key`` is None in the shared list walk's state (``keypairs_in_bcc``): the cached walk
    keeps no public keys. Nothing that reads the list needs them, and they were most of each
    cached entry (an RSA key is about 400 characters), which every view of "My key pairs" reads
    back and each database connection buffers, for every key pair of the account. The detail
    call (``keypair_in_bcc``), which is never cached, carries it.
    """

    keypair_id: str
    name: str
    description: str
    instance_count: int
    created_time: datetime | None
    fingerprint: str
    public_key: str | None = None

    @classmethod
    def from_keypair(cls, keypair: Keypair, *, with_public_key: bool = True) -> KeypairInBcc:
        return cls(
            keypair_id=keypair.keypair_id,
            name=keypair.name,
            description=keypair.description,
            instance_count=keypair.instance_count,
            created_time=keypair.created_time,
            fingerprint=keypair.fingerprint,
            public_key=keypair.public_key if with_public_key else None,
        )


@dataclass(frozen=True)
class RegionState:
    """BCC's key pairs in one region as read at ``read_at`` (UTC); ``keypairs`` is None when unreachable."""

    region: str
    read_at: datetime
    keypairs: Mapping[str, KeypairInBcc] | None

    @property
    def reached(self) -> bool:
        return self.keypairs is not None

    @property
    def unreachable_sentence(self) -> str | None:
        """What the page shows for a region BCC could not be asked about; None when it was."""
        return None if self.reached else unreachable_sentence(self.read_at)


@dataclass(frozen=True)
class BccState:
    """What BCC holds, per region asked for."""

    regions: Mapping[str, RegionState]

    @property
    def unreachable(self) -> list[RegionState]:
        return [state for state in self.regions.values() if not state.reached]

    def lookup(self, *, region: str, keypair_id: str) -> KeypairLookup:
        """What the list says of one key pair: the same answer the detail page's call gives."""
        state = self.regions[region]
        if state.keypairs is None:
            return KeypairLookup(Presence.UNREACHABLE, read_at=state.read_at)
        found = state.keypairs.get(keypair_id)
        return KeypairLookup(Presence.EXISTS if found else Presence.GONE, read_at=state.read_at, keypair=found)


class Presence(enum.Enum):
    EXISTS = "exists"
    GONE = "gone"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class KeypairLookup:
    """One key pair in BCC at ``read_at``: exists (``keypair`` holds BCC's values), gone, or unreachable."""

    presence: Presence
    read_at: datetime
    keypair: KeypairInBcc | None = None

    @property
    def unreachable_sentence(self) -> str | None:
        return unreachable_sentence(self.read_at) if self.presence is Presence.UNREACHABLE else None


def unreachable_sentence(read_at: datetime) -> str:
    return BCC_UNREACHABLE.format(time=date_format(timezone.localtime(read_at), "DATETIME_FORMAT"))


# --- The list page: one walk per region, shared ---------------------------------------------


def keypairs_in_bcc(*, regions: Iterable[str], max_age: int | None = None) -> BccState:
    """BCC's key pairs in each region, read at most once per ``max_age`` seconds. Never raises for BCC.

    ``max_age`` defaults to ``KEYPAIR_BCC_STATE_CACHE_SECONDS``; the shared quota passes its own.
    Regions not cached are walked in parallel; see the module docstring for the locking.
    """
    regions = list(dict.fromkeys(regions))
    max_age = settings.KEYPAIR_BCC_STATE_CACHE_SECONDS if max_age is None else max_age
    found = _cached(regions, max_age)
    missing = [region for region in regions if region not in found]
    if missing:
        claim = secrets.token_hex(8)
        mine = [region for region in missing if _take_walk_lock(region, claim)]
        if mine:
            # Looked again under the lock: a walker that finished between the first look and
            # the lock has stored its answer and let the lock go, and must not be walked twice.
            found.update(_cached(mine, max_age))
            to_walk = [region for region in mine if region not in found]
            if to_walk:
                found.update(_walk_and_store(to_walk, max_age))
            _cache_call(cache.delete_many, [_walk_lock_key(region) for region in mine])
        others = [region for region in missing if region not in found]
        if others:
            found.update(_wait_for_walks(others, max_age))
        late = [region for region in missing if region not in found]
        if late:  # the other walker stored nothing (its cache write failed, or it died)
            found.update(_walk_and_store(late, max_age))
    return BccState(regions={region: found[region] for region in regions})


def _walk_and_store(regions: list[str], max_age: int) -> dict[str, RegionState]:
    # Only BCC is called in the threads: cache connections are per thread and would be left open.
    # Each thread runs in a copy of this request's context, so its BCC log lines carry the
    # portal request id like every other line of the request.
    if len(regions) == 1:
        walked = {regions[0]: _walk(regions[0])}
    else:
        contexts = [contextvars.copy_context() for _ in regions]
        with ThreadPoolExecutor(max_workers=len(regions), thread_name_prefix="bcc-state") as pool:
            states = pool.map(lambda context, region: context.run(_walk, region), contexts, regions)
            walked = dict(zip(regions, states, strict=True))
    # Kept for the reader that asked (max_age) and at least as long as the list page's window.
    timeout = max(max_age, settings.KEYPAIR_BCC_STATE_CACHE_SECONDS)
    stored_at = clock()
    values = {_state_key(region): _to_cache(state, stored_at) for region, state in walked.items()}
    _cache_call(cache.set_many, values, timeout)
    return walked


def _walk(region: str) -> RegionState:
    """One list walk of ``region``, following ``nextMarker``; a failure anywhere is "unreachable"."""
    read_at = clock()
    try:
        client = get_client(region, max_attempts=PAGE_READ_ATTEMPTS)
        keypairs = {
            keypair.keypair_id: KeypairInBcc.from_keypair(keypair, with_public_key=False)
            for keypair in client.iter_keypairs(page_size=LIST_PAGE_SIZE)
        }
    except (BccError, ImproperlyConfigured) as error:
        # The client has logged the call; this says what the portal made of it.
        logger.warning("Could not list the key pairs in %s: %s", region, error)
        # When it gave up: the time the page names ("could not be reached at HH:MM").
        return RegionState(region=region, read_at=clock(), keypairs=None)
    # When the walk began: a key pair made during the walk may be missing from it.
    return RegionState(region=region, read_at=read_at, keypairs=keypairs)


def _take_walk_lock(region: str, claim: str) -> bool:
    taken = _cache_call(cache.add, _walk_lock_key(region), claim, _lock_seconds())
    return taken is not False  # None: the cache failed; walk without a lock


def _wait_for_walks(regions: list[str], max_age: int) -> dict[str, RegionState]:
    """Wait for the walks other requests hold the locks of; what they stored, when they did."""
    found: dict[str, RegionState] = {}
    waiting = list(regions)
    deadline = time.monotonic() + _lock_seconds()
    while waiting and time.monotonic() < deadline:
        time.sleep(WAIT_POLL_SECONDS)
        # The locks are read before the answers: a walker stores its answer and then lets its
        # lock go, so a lock seen gone here means the answer read next is there (or never will
        # be). Read the other way round, a walk that ends between the two reads looks failed
        # and is walked again.
        locks = _cache_call(cache.get_many, [_walk_lock_key(region) for region in waiting]) or {}
        found.update(_cached(waiting, max_age))
        waiting = [region for region in waiting if region not in found and _walk_lock_key(region) in locks]
    return found


def _lock_seconds() -> int:
    """How long a walker holds its lock: one attempt of one page, connecting and reading."""
    return math.ceil(float(settings.BCC_CONNECT_TIMEOUT) + float(settings.BCC_READ_TIMEOUT)) + 1


def _cached(regions: list[str], max_age: int) -> dict[str, RegionState]:
    keys = {region: _state_key(region) for region in regions}
    cached = _cache_call(cache.get_many, list(keys.values())) or {}
    now = clock()
    found = {}
    for region, key in keys.items():
        # Age counts from when the walk ended: a slow walk (or a failure after a timeout) is
        # kept as long as a quick one, so a slow BCC is not walked again on every page.
        stored = _from_cache(region, cached.get(key))
        if stored is not None and (now - stored[1]).total_seconds() < max_age:
            found[region] = stored[0]
    return found


def _state_key(region: str) -> str:
    return _STATE_KEY.format(account=_account(), region=region)


def _walk_lock_key(region: str) -> str:
    return _WALK_LOCK_KEY.format(account=_account(), region=region)


# Plain values in the cache, not pickled classes: a deploy that changes these classes must not
# make the entries cached by the previous one unreadable.
def _to_cache(state: RegionState, stored_at: datetime) -> dict[str, Any]:
    keypairs = None
    if state.keypairs is not None:
        # Stored without public_key, which a walk's state leaves None (KeypairInBcc says why).
        keypairs = [
            {name: value for name, value in vars(keypair).items() if name != "public_key"}
            for keypair in state.keypairs.values()
        ]
    return {"read_at": state.read_at, "stored_at": stored_at, "keypairs": keypairs}


def _from_cache(region: str, value: Any) -> tuple[RegionState, datetime] | None:
    try:
        keypairs = value["keypairs"]
        if keypairs is not None:
            keypairs = {item["keypair_id"]: KeypairInBcc(**item) for item in keypairs}
        return RegionState(region=region, read_at=value["read_at"], keypairs=keypairs), value["stored_at"]
    except (TypeError, KeyError):  # nothing cached, or an entry of another shape: read afresh
        return None


# --- The detail page: one call, not cached ---------------------------------------------------


def keypair_in_bcc(*, region: str, keypair_id: str) -> KeypairLookup:
    """One key pair as BCC holds it now: one detail call. Never raises for BCC.

    Any answer other than the key pair or ``Keypair.KeypairNotExist`` (a timeout, a refused
    signature, BCC's internal error) is "unreachable": BCC did not say, so the page shows the
    portal's record. ``ValueError`` for an id that is not a BCC key pair id (nothing is sent).
    """
    read_at = clock()
    try:
        keypair = get_client(region, max_attempts=PAGE_READ_ATTEMPTS).get_keypair(keypair_id)
    except errors.BccApiError as error:
        if error.code == errors.KEYPAIR_NOT_EXIST:
            return KeypairLookup(Presence.GONE, read_at=read_at)
        logger.warning("Could not read key pair %s in %s: %s", keypair_id, region, error)
        return KeypairLookup(Presence.UNREACHABLE, read_at=read_at)
    except (BccError, ImproperlyConfigured) as error:
        logger.warning("Could not read key pair %s in %s: %s", keypair_id, region, error)
        return KeypairLookup(Presence.UNREACHABLE, read_at=read_at)
    return KeypairLookup(Presence.EXISTS, read_at=read_at, keypair=KeypairInBcc.from_keypair(keypair))


# --- A portal record against BCC's state ------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """A value changed outside the portal: what the portal's record holds, and what BCC holds."""

    field: str  # "name" or "description"
    portal: str
    bcc: str


@dataclass(frozen=True)
class RecordComparison:
    """How a portal record and BCC's state differ, as plain data for the page and the services.

    ``deleted_outside``: BCC no longer has the key pair. ``changes``: values changed in BCC
    (renamed, description changed). ``known`` is False when BCC could not be asked, or the
    record is newer than the list read: nothing can be said then, and nothing should be written.
    """

    known: bool
    deleted_outside: bool = False
    changes: tuple[FieldChange, ...] = ()
    instance_count: int | None = None

    @property
    def changed_outside(self) -> bool:
        return self.deleted_outside or bool(self.changes)

    @property
    def renamed(self) -> FieldChange | None:
        return next((change for change in self.changes if change.field == "name"), None)

    @property
    def description_changed(self) -> FieldChange | None:
        return next((change for change in self.changes if change.field == "description"), None)


NOT_KNOWN = RecordComparison(known=False)


def compare_with_bcc(*, record, lookup: KeypairLookup) -> RecordComparison:
    """Compare ``record`` (a ``KeyPairRequest`` the portal believes is in BCC) with ``lookup``.

    ``lookup`` comes from ``keypair_in_bcc`` (detail page) or ``BccState.lookup`` (list page).
    A record without a ``keypair_id`` never reached BCC: nothing to compare. A key pair the
    portal made after the list was read is missing from that list without being deleted, so a
    list older than the record says nothing about it.
    """
    if not record.keypair_id or lookup.presence is Presence.UNREACHABLE:
        return NOT_KNOWN
    if lookup.presence is Presence.GONE:
        made_at = record.completed_at or record.created_at
        if made_at is not None and made_at > lookup.read_at:
            return NOT_KNOWN
        return RecordComparison(known=True, deleted_outside=True)
    held = lookup.keypair
    assert held is not None  # EXISTS always carries the key pair
    changes = tuple(
        FieldChange(field=field, portal=getattr(record, field), bcc=getattr(held, field))
        for field in ("name", "description")
        if getattr(record, field) != getattr(held, field)
    )
    return RecordComparison(known=True, changes=changes, instance_count=held.instance_count)
