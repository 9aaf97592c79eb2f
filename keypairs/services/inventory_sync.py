"""The BCC inventory: every key pair in the cloud account, owned in the portal or not (``manage.py sync_bcc``).

One run walks BCC's paged list once in every configured region (``settings.BCC_REGIONS``),
through ``keypairs.bcc_state`` (the regions in parallel, the answer stored in the shared cache
so that "My key pairs" reads the fresh state too), and brings ``BccInventoryEntry`` in line:

- a key pair the portal holds a live record of (``KeyPairRequest``, status created, same region
  and key pair id) is **owned**; its record is compared with BCC's values by
  ``keypairs.services.bcc_sync`` (the same code the pages use), which writes ``changed_outside``
  and ``deleted_outside`` once each: the inventory never writes a second version of that;
- any other key pair is **unowned** (made in the console, by a script, before the portal): its
  entry is audited ``found_unowned`` once, when first seen;
- an entry whose key pair the walk no longer finds gets ``gone_at``; an unowned one is audited
  ``deleted_outside`` once (an owned one's record already was, by ``bcc_sync``, or the portal
  deleted it itself and audited that);
- one ``inventory_synced`` row per run with the counts.

A region BCC could not be read (timeout, refused signature, an error on any page of the walk)
is left exactly as it was: its entries keep their ``last_seen_at`` and none is marked gone. An
outage must never read as "every key pair was deleted".

Cost: one list walk per region (one call per page of up to 1,000 key pairs; BCC's quota of 500
a region fits one page), and a fixed number of queries whatever the number of key pairs: one
SELECT of the live records and one of the entries for all the regions read, ``bulk_create`` for
new entries, ``bulk_update`` only for entries whose values changed, one UPDATE for "seen now"
and one for "gone". Audit rows are the exception, one per fact (a key pair first seen unowned,
one gone, one changed), since each is a link of the signed chain; a steady run writes one.
Figures: ``bench/inventory_sync.py``, docs/benchmarks.md section 9.

Runs are one at a time across the portal's instances (``keypairs.single_runner``, lease
"sync_bcc", taken by the command), so two runs never insert the same entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from keypairs import bcc_state
from keypairs.audit import Origin, audit_record, ensure_outside_transaction
from keypairs.bcc_state import KeypairInBcc
from keypairs.models import AuditEvent, BccInventoryEntry, KeyPairRequest
from keypairs.services import bcc_sync

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome

FOUND_UNOWNED_DETAIL = "in BCC, not made through the portal: no owner"
GONE_DETAIL = "no longer in BCC (seen by the inventory sync); it had no owner in the portal"
SYNCED_DETAIL = (
    "regions read: {reached}/{regions}; key pairs seen: {seen}; unowned: {unowned} ({new_unowned} new); "
    "gone: {gone}; changed outside: {changed}; unreachable: {unreachable}"
)
# BCC's values an entry mirrors: an entry is written only when one of them changed.
MIRRORED_FIELDS = ("name", "description", "instance_count", "fingerprint", "bcc_created_at")


@dataclass
class InventorySync:
    """What one run found: counts for the command's output and the ``inventory_synced`` row."""

    regions: list[str]
    unreachable: list[str] = field(default_factory=list)
    seen: int = 0
    unowned: int = 0  # live unowned entries after the run, in every region
    new_unowned: int = 0
    gone: int = 0
    changed: int = 0  # owned key pairs renamed or re-described outside the portal, found by this run

    @property
    def reached(self) -> list[str]:
        return [region for region in self.regions if region not in self.unreachable]

    @property
    def summary(self) -> str:
        return SYNCED_DETAIL.format(
            reached=len(self.reached),
            regions=len(self.regions),
            seen=self.seen,
            unowned=self.unowned,
            new_unowned=self.new_unowned,
            gone=self.gone,
            changed=self.changed,
            unreachable=", ".join(self.unreachable) or "none",
        )


def inventory_sync(*, origin: Origin, regions: Sequence[str] | None = None) -> InventorySync:
    """Walk every region once and bring the inventory in line; see the module docstring. Never raises for BCC.

    The caller holds the "sync_bcc" lease (``keypairs.single_runner``).
    """
    ensure_outside_transaction()
    regions = list(dict.fromkeys(regions or settings.BCC_REGIONS))
    # max_age=0: a run reads BCC now, not a page view's cached walk.
    state = bcc_state.keypairs_in_bcc(regions=regions, max_age=0)
    result = InventorySync(regions=regions, unreachable=[region.region for region in state.unreachable])
    reached = result.reached
    now = timezone.now()

    records = list(
        KeyPairRequest.objects.filter(region__in=reached, status=KeyPairRequest.Status.CREATED).exclude(keypair_id="")
    )
    settled = bcc_sync.keypair_records_sync_with_state(records=records, state=state, origin=origin)
    result.changed = sum(1 for comparison in settled.comparisons.values() if comparison.changes)
    # After the settling: a record found deleted outside is no longer anyone's live key pair.
    owners = {(record.region, record.keypair_id): record.pk for record in records if bcc_sync.live_in_bcc(record)}

    in_bcc = {
        (region, keypair.keypair_id): keypair
        for region in reached
        for keypair in state.regions[region].keypairs.values()
    }
    result.seen = len(in_bcc)
    with transaction.atomic():
        new_unowned, gone_unowned, gone = _write_entries(reached, in_bcc, owners, now)
    result.new_unowned, result.gone = len(new_unowned), gone
    result.unowned = BccInventoryEntry.objects.filter(gone_at__isnull=True, record__isnull=True).count()

    for entry in new_unowned:
        _audit_entry(entry, Action.FOUND_UNOWNED, FOUND_UNOWNED_DETAIL, origin)
    for entry in gone_unowned:
        _audit_entry(entry, Action.DELETED_OUTSIDE, GONE_DETAIL, origin)
    audit_record(
        action=Action.INVENTORY_SYNCED,
        outcome=Outcome.FAILURE if result.unreachable else Outcome.SUCCESS,
        origin=origin,
        detail=result.summary[:255],
    )
    return result


def _write_entries(
    reached: list[str], in_bcc: dict[tuple[str, str], KeypairInBcc], owners: dict[tuple[str, str], int], now: datetime
) -> tuple[list[BccInventoryEntry], list[BccInventoryEntry], int]:
    """Insert, update and mark gone; returns the new unowned entries, the unowned ones gone, how many went."""
    known = {(entry.region, entry.keypair_id): entry for entry in BccInventoryEntry.objects.filter(region__in=reached)}
    new, changed, owned_now = [], [], []
    for key, keypair in in_bcc.items():
        values = _mirrored(keypair)
        entry = known.get(key)
        if entry is None:
            new.append(
                BccInventoryEntry(
                    region=key[0],
                    keypair_id=keypair.keypair_id,
                    record_id=owners.get(key),
                    first_seen_at=now,
                    last_seen_at=now,
                    **values,
                )
            )
            continue
        if any(getattr(entry, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(entry, name, value)
            changed.append(entry)
        # An entry gains an owner (a record the portal made before its first sync saw it);
        # one is never taken away here: an admin's assignment made during this run must stand.
        if entry.record_id is None and owners.get(key) is not None:
            entry.record_id = owners[key]
            owned_now.append(entry)

    BccInventoryEntry.objects.bulk_create(new)
    if changed:
        BccInventoryEntry.objects.bulk_update(changed, MIRRORED_FIELDS)
    if owned_now:
        BccInventoryEntry.objects.bulk_update(owned_now, ["record"])
    seen_ids = [entry.pk for key, entry in known.items() if key in in_bcc]
    BccInventoryEntry.objects.filter(pk__in=seen_ids).update(last_seen_at=now, gone_at=None)
    vanished = [entry for key, entry in known.items() if key not in in_bcc and entry.gone_at is None]
    BccInventoryEntry.objects.filter(pk__in=[entry.pk for entry in vanished], gone_at__isnull=True).update(gone_at=now)
    new_unowned = [entry for entry in new if entry.record_id is None]
    return new_unowned, [entry for entry in vanished if entry.record_id is None], len(vanished)


def _mirrored(keypair: KeypairInBcc) -> dict:
    return {
        "name": keypair.name,
        "description": keypair.description,
        "instance_count": keypair.instance_count,
        "fingerprint": keypair.fingerprint,
        "bcc_created_at": keypair.created_time,
    }


def _audit_entry(entry: BccInventoryEntry, action: str, detail: str, origin: Origin) -> None:
    audit_record(
        action=action,
        outcome=Outcome.SUCCESS,
        origin=origin,
        region=entry.region,
        keypair_name=entry.name,
        keypair_id=entry.keypair_id,
        detail=detail,
    )
