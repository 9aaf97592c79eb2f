"""Limits on creating key pairs, checked before BCC is called, and the shared quota the form shows.

The shared quota
----------------
The portal signs every BCC call with one service account, so all its users share BCC's quota
of ``BCC_QUOTA_PER_REGION`` (500) key pairs per region. What is left is counted from BCC's own
list, because only BCC knows about key pairs deleted or imported in its console, less the
creates the portal recorded since that list was fetched. The list is the one "My key pairs"
reads (``keypairs.bcc_state``: one walk per region, shared through Django's cache by every
worker and machine), taken while it is younger than ``BCC_QUOTA_CACHE_SECONDS``, so the form
costs at most one list walk per region per period, and none when the list page walked it
lately. A list that fails counts as "unknown" for as long: a BCC outage must not make every
form wait for the client's timeouts, and the form says "unknown" instead of failing. Like
every read for a page, the walk makes one attempt per call, not ``BCC_MAX_ATTEMPTS``.

What counts toward the cap per user per region
----------------------------------------------
``KEYPAIR_MAX_PER_USER_PER_REGION`` counts the key pairs a user may hold in BCC in a region:

- ``created`` requests (made or imported) whose key pair is still in BCC's list (or was created
  after the list was fetched): a key pair deleted in the console frees its place once BCC's list
  shows it gone, and one deleted through the portal (``deleted``) frees it at once, since a
  deleted record is not counted. The cap's refusal links to "My key pairs", where that is done.
- ``pending`` requests (in flight) and ``unknown`` ones (may exist until reconciled).

Not ``failed``, ``reconciled`` or ``deleted`` ones: nothing of them is left in BCC. BCC is asked only when
the portal's own count (an upper bound) reaches the cap; when BCC cannot be asked, every
``created`` request counts, erring on the side of refusing. Concurrent creates of one user can
pass the check together and overshoot the cap by a few; the rate limit bounds how many.

The rate limit
--------------
At most ``KEYPAIR_CREATE_RATE_LIMIT`` creates per user in any ``KEYPAIR_CREATE_RATE_WINDOW_SECONDS``:
a sliding window, exact, and shared by every worker and machine through Django's cache. Each
user has as many slots as the limit allows; a create goes ahead only when it takes a free slot
with ``cache.add`` (atomic: Redis's ``SET NX``; the database cache's primary key), and the slot
expires ``window`` seconds after it was taken. Concurrent creates can never take the same slot,
so none overshoots the limit, and the wait a refusal names is exact: until the oldest slot
frees. (An earlier version counted in clock-aligned windows, which let twice the limit through
across a window boundary: five creates at 10:00:59 and five more at 10:01:00.) A refused
attempt takes no slot: it cost BCC nothing, and a person told to wait N seconds must get in
after N seconds. The limit is meant for a few creates (each slot is one cache key); settings
refuse more than 1000.

When the cache itself fails (Redis down), the quota shows "unknown" and the rate limit lets
creates through, with an error in the log: BCC's own quota still holds, and a cache outage must
not stop every create.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import ngettext, pgettext

from keypairs import messages
from keypairs.bcc_state import keypairs_in_bcc
from keypairs.models import KeyPairRequest
from keypairs.regions import region_label

logger = logging.getLogger(__name__)

Status = KeyPairRequest.Status

# The error code audit rows carry for a create the portal refused before calling BCC.
PORTAL_LIMIT = "portal_limit"
CAP_REACHED = "per_user_cap"
RATE_LIMITED = "rate_limit"

_RATE_SLOT_KEY = "keypairs:create-rate:{user_id}:{slot}"
# The rate limit's clock (seconds since the epoch) for the times slots record, a hook for tests.
# When a slot frees is the cache's own expiry, in real time.
clock: Callable[[], float] = time.time
# What a user may hold until reconciled or known to be gone: see the module docstring.
_HELD = (Status.CREATED, Status.PENDING, Status.UNKNOWN)


@dataclass(frozen=True)
class RegionQuota:
    """How many of the region's shared key pairs are left; ``remaining`` is None when unknown."""

    region: str
    total: int
    remaining: int | None

    @property
    def sentence(self) -> str:
        region = region_label(self.region)
        if self.remaining is None:
            return messages.QUOTA_LEFT_UNKNOWN.format(total=self.total, region=region)
        return messages.QUOTA_LEFT.format(remaining=self.remaining, total=self.total, region=region)


@dataclass(frozen=True)
class LimitRefusal:
    """Why a create was refused before BCC was called: the sentence, the HTTP status, the audit detail."""

    kind: str
    message: str
    http_status: int
    detail: str
    retry_after: int | None = None


@dataclass(frozen=True)
class _Listing:
    """The ids of the key pairs BCC listed in a region, and when; ``ids`` is None when the list failed."""

    ids: frozenset[str] | None
    fetched_at: datetime


# --- The shared quota --------------------------------------------------------------------


def region_quotas(regions: Sequence[str]) -> list[RegionQuota]:
    """The quota left in each region, in order. BCC is asked, in parallel, only for regions not cached."""
    listings = _listings(list(regions))
    known = {region: listing for region, listing in listings.items() if listing.ids is not None}
    since = _created_since(known)
    total = settings.BCC_QUOTA_PER_REGION
    return [
        RegionQuota(
            region=region,
            total=total,
            remaining=None if region not in known else max(total - len(known[region].ids) - since[region], 0),
        )
        for region in regions
    ]


def _created_since(listings: dict[str, _Listing]) -> Counter[str]:
    """Per region, the key pairs the portal created after BCC's list was fetched (so not counted in it)."""
    if not listings:
        return Counter()
    oldest = min(listing.fetched_at for listing in listings.values())
    rows = KeyPairRequest.objects.filter(
        region__in=list(listings), status=Status.CREATED, completed_at__gt=oldest
    ).values_list("region", "keypair_id", "completed_at")
    return Counter(
        region
        for region, keypair_id, completed_at in rows
        if completed_at > listings[region].fetched_at and keypair_id not in listings[region].ids
    )


def _listings(regions: list[str]) -> dict[str, _Listing]:
    # The walk "My key pairs" shows BCC's state from (keypairs.bcc_state): one walk per region
    # serves both, each taking it while it is younger than its own setting.
    state = keypairs_in_bcc(regions=regions, max_age=settings.BCC_QUOTA_CACHE_SECONDS)
    return {
        region: _Listing(
            ids=None if held.keypairs is None else frozenset(held.keypairs),
            fetched_at=held.read_at,
        )
        for region, held in state.regions.items()
    }


# --- The checks before a create ------------------------------------------------------------


def limit_check(*, user, region: str, claim: str) -> LimitRefusal | None:
    """Refuse a new create of ``user`` in ``region`` when over the cap or the rate; None to go ahead.

    A create that goes ahead takes a slot of the rate limit, marked with ``claim`` (the form
    token's hash); ``rate_limit_release`` gives it back for one that turned out not to be a
    new create (a replayed form).
    """
    return _cap_refusal(user=user, region=region) or _rate_refusal(user=user, claim=claim)


def rate_limit_release(*, user, claim: str) -> None:
    """Free the rate-limit slot taken with ``claim``, if it is still held."""
    if settings.KEYPAIR_CREATE_RATE_LIMIT:
        _cache_call(_release_slot, _slot_keys(user), claim)


def _cap_refusal(*, user, region: str) -> LimitRefusal | None:
    cap = settings.KEYPAIR_MAX_PER_USER_PER_REGION
    if not cap:
        return None
    held = held_in_region(user=user, region=region, at_least=cap)
    if held < cap:
        return None
    message = cap_sentence(count=held, limit=cap, region=region)
    detail = f"portal limit: {held} key pairs held in {region}, at most {cap} per user"
    return LimitRefusal(kind=CAP_REACHED, message=message, http_status=409, detail=detail)


def cap_sentence(*, count: int, limit: int, region: str) -> str:
    """The cap's refusal, as safe HTML: it links to "My key pairs", where a key pair is deleted."""
    return format_html(
        messages.PER_USER_CAP_REACHED,
        count=count,
        limit=limit,
        region=region_label(region),
        list_url=reverse("keypair_list"),
    )


def held_in_region(*, user, region: str, at_least: int | None = None) -> int:
    """How many key pairs ``user`` may hold in BCC in ``region`` (see the module docstring).

    With ``at_least``, BCC is asked only when the portal's own count reaches it.
    """
    held = KeyPairRequest.objects.filter(owner=user, region=region, status__in=_HELD)
    upper_bound = held.count()
    if at_least is not None and upper_bound < at_least:
        return upper_bound
    listing = _listings([region])[region]
    if listing.ids is None:
        return upper_bound
    gone = (
        held.filter(status=Status.CREATED)
        .exclude(completed_at__gt=listing.fetched_at)
        .exclude(keypair_id__in=listing.ids)
        .count()
    )
    return upper_bound - gone


def _rate_refusal(*, user, claim: str) -> LimitRefusal | None:
    limit, window = settings.KEYPAIR_CREATE_RATE_LIMIT, settings.KEYPAIR_CREATE_RATE_WINDOW_SECONDS
    if not limit:
        return None
    now = clock()
    held = _cache_call(_take_slot, _slot_keys(user), now, window, claim)
    if held is None:  # a slot was taken, or the cache failed (logged): go ahead
        return None
    oldest = min((taken_at for taken_at, _ in held), default=now)
    wait = max(math.ceil(oldest + window - now), 1)
    message = messages.RATE_LIMITED.format(limit=limit, window=_window_text(window), wait=_wait_text(wait))
    detail = f"portal limit: more than {limit} creates in {window} s"
    return LimitRefusal(kind=RATE_LIMITED, message=message, http_status=429, detail=detail, retry_after=wait)


def _slot_keys(user) -> list[str]:
    return [_RATE_SLOT_KEY.format(user_id=user.pk, slot=slot) for slot in range(settings.KEYPAIR_CREATE_RATE_LIMIT)]


def _take_slot(keys: list[str], now: float, window: int, claim: str) -> list[tuple[float, str]] | None:
    """Take a free slot for ``window`` seconds: None when taken, else what the held slots hold.

    First one ``add`` on a slot picked at random: while few slots are held, as for nearly
    every create, it is free, and the check costs one round trip whatever the limit (looking at
    every slot first made each create pay for all of them: docs/benchmarks.md, section 7).
    Otherwise one look at every slot, then ``add`` on the free ones until one is won; a
    concurrent create may win a slot first. A slot can also free between the look and the
    adds, so a full look is taken once more before refusing. Only the full look refuses, so
    the probe changes what a create costs, never whether it goes ahead.
    """
    if cache.add(secrets.choice(keys), (now, claim), timeout=window):
        return None
    for _ in range(2):
        held = cache.get_many(keys)
        for key in keys:
            if key not in held and cache.add(key, (now, claim), timeout=window):
                return None
    return list(held.values())


def _release_slot(keys: list[str], claim: str) -> None:
    held = cache.get_many(keys)
    for key, (_, holder) in held.items():
        if holder == claim:
            cache.delete(key)
            return


def _window_text(seconds: int) -> str:
    """'minute', 'hour', '10 minutes', '90 seconds': the window as the sentence names it ("per ...")."""
    if seconds % 3600 == 0 and seconds // 3600 == 1:
        return pgettext("the rate limit's window: per hour", "hour")
    if seconds % 60 == 0 and seconds // 60 == 1:
        return pgettext("the rate limit's window: per minute", "minute")
    if seconds == 1:
        return pgettext("the rate limit's window: per second", "second")
    if seconds % 3600 == 0:
        return _hours(seconds // 3600)
    if seconds % 60 == 0:
        return _minutes(seconds // 60)
    return _seconds(seconds)


def _wait_text(seconds: int) -> str:
    """'1 second', '45 seconds', then whole minutes rounded up: '44 minutes'."""
    if seconds <= 90:
        return _seconds(seconds)
    return _minutes(math.ceil(seconds / 60))


def _hours(count: int) -> str:
    return ngettext("{count} hour", "{count} hours", count).format(count=count)


def _minutes(count: int) -> str:
    return ngettext("{count} minute", "{count} minutes", count).format(count=count)


def _seconds(count: int) -> str:
    return ngettext("{count} second", "{count} seconds", count).format(count=count)


def _cache_call(operation: Callable[..., Any], *args: Any) -> Any:
    """Run one cache operation; None when the cache itself fails (logged), so no page fails with it."""
    try:
        return operation(*args)
    except Exception:
        logger.exception("The cache failed (%s); limits and the quota count go on without it", operation.__name__)
        return None
