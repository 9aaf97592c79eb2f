"""Bring the portal's records in line with what BCC holds: renamed, re-described or deleted in the console.

The pages read BCC's state (``keypairs.bcc_state``); this service writes what they found. A
record whose key pair BCC renamed or re-described takes BCC's values, one whose key pair BCC no
longer has is marked deleted, and each gets one audit row: ``changed_outside`` (old and new
values) or ``deleted_outside``.

Once, not on every page view: the update makes the next view see no difference. Two views at
once both see the difference; each writes with a conditional UPDATE whose WHERE holds the
values it saw (``name``, ``description``, ``status``), so exactly one of them changes the row
and only that one writes the audit row.

A cached list read before the portal itself renamed a key pair still holds the old name. Taken
as BCC's word, it would undo the person's own rename. So a difference is believed only when the
portal changed nothing on that key pair since BCC was read (its audit rows say when it did);
otherwise nothing is written and the page shows the portal's record. The read that costs (one
query) happens only when a difference is seen, never on a quiet page view.

The audit row has no actor: nobody the portal knows made the change. Its origin is the page
view that noticed it (the portal request id ties them together).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from keypairs import bcc_state
from keypairs.audit import Origin, audit_record
from keypairs.bcc_state import KeypairLookup, RecordComparison
from keypairs.delivery import delivery_wipe
from keypairs.models import AuditEvent, KeyPairRequest

Action = AuditEvent.Action
# Detail of the audit rows: short text, values quoted so that an empty description reads as such.
CHANGE_DETAIL = "{field}: {old!r} -> {new!r}"
DELETED_DETAIL = "no longer in BCC"
WIPED_DETAIL = "; the private key still waiting for download was erased"
# The portal's own changes to a key pair: one newer than BCC's read makes that read too old to believe.
_PORTAL_CHANGES = (Action.RENAMED, Action.DESCRIPTION_CHANGED, Action.IMPORTED, Action.CREATED, Action.RECONCILED)


@dataclass(frozen=True)
class RecordsSync:
    """What BCC said of each of a person's live records, by record id, and the regions it could not be asked about."""

    comparisons: dict[int, RecordComparison]
    unreachable: list[str]  # one sentence per region ("BCC could not be reached at HH:MM UTC; ...")


def live_in_bcc(record: KeyPairRequest) -> bool:
    """Whether the portal believes BCC holds this key pair: the only records worth asking BCC about."""
    return record.status == KeyPairRequest.Status.CREATED and bool(record.keypair_id)


def keypair_records_sync(*, records: Sequence[KeyPairRequest], origin: Origin) -> RecordsSync:
    """Compare ``records`` with one list walk per region they are in (cached); write what changed outside.

    Never raises for BCC: an unreachable region leaves its records as they are. The records
    that changed are updated in memory as well, so a caller may show them at once.
    """
    live = [record for record in records if live_in_bcc(record)]
    state = bcc_state.keypairs_in_bcc(regions=sorted({record.region for record in live}))
    return keypair_records_sync_with_state(records=live, state=state, origin=origin)


def keypair_records_sync_with_state(
    *, records: Sequence[KeyPairRequest], state: bcc_state.BccState, origin: Origin
) -> RecordsSync:
    """The same, against a state already read (the inventory sync's own walk): no call to BCC.

    Records in regions ``state`` does not hold are left out of the answer.
    """
    live = [record for record in records if live_in_bcc(record) and record.region in state.regions]
    lookups = {record.pk: state.lookup(region=record.region, keypair_id=record.keypair_id) for record in live}
    comparisons = _settle(live, lookups, origin)
    unreachable = [region.unreachable_sentence for region in state.unreachable]
    return RecordsSync(comparisons=comparisons, unreachable=unreachable)


def keypair_record_sync(*, record: KeyPairRequest, origin: Origin) -> tuple[KeypairLookup | None, RecordComparison]:
    """The detail page's check: one detail call for a live record (none otherwise), what changed written.

    Returns BCC's answer (None when the record is not in BCC as far as the portal knows) and the
    comparison, taken before ``record`` is updated, so the page can say what BCC changed.
    """
    if not live_in_bcc(record):
        return None, bcc_state.NOT_KNOWN
    lookup = bcc_state.keypair_in_bcc(region=record.region, keypair_id=record.keypair_id)
    return lookup, _settle([record], {record.pk: lookup}, origin)[record.pk]


def _settle(
    records: Sequence[KeyPairRequest], lookups: dict[int, KeypairLookup], origin: Origin
) -> dict[int, RecordComparison]:
    comparisons = {
        record.pk: bcc_state.compare_with_bcc(record=record, lookup=lookups[record.pk]) for record in records
    }
    differing = [record for record in records if comparisons[record.pk].changed_outside]
    if not differing:
        return comparisons
    changed_since = _changed_by_the_portal_since(differing, lookups)
    for record in differing:
        if record.keypair_id in changed_since:
            comparisons[record.pk] = bcc_state.NOT_KNOWN
            continue
        comparison = comparisons[record.pk]
        if comparison.deleted_outside:
            _mark_deleted(record, origin)
        else:
            _take_bccs_values(record, comparison, origin)
    return comparisons


def _changed_by_the_portal_since(records: Iterable[KeyPairRequest], lookups: dict[int, KeypairLookup]) -> set[str]:
    """The key pair ids the portal itself changed after BCC's state of them was read (one query)."""
    records = list(records)
    oldest_read = min(lookups[record.pk].read_at for record in records)
    rows = AuditEvent.objects.filter(
        keypair_id__in=[record.keypair_id for record in records],
        action__in=_PORTAL_CHANGES,
        created_at__gte=oldest_read,
    ).values_list("keypair_id", "created_at")
    read_at = {record.keypair_id: lookups[record.pk].read_at for record in records}
    return {keypair_id for keypair_id, created_at in rows if created_at >= read_at[keypair_id]}


def _take_bccs_values(record: KeyPairRequest, comparison: RecordComparison, origin: Origin) -> None:
    new_values = {change.field: change.bcc for change in comparison.changes}
    won = KeyPairRequest.objects.filter(
        pk=record.pk,
        status=KeyPairRequest.Status.CREATED,
        name=record.name,
        description=record.description,
    ).update(**new_values)
    for field, value in new_values.items():
        setattr(record, field, value)
    if won:
        detail = "; ".join(
            CHANGE_DETAIL.format(field=change.field, old=change.portal, new=change.bcc) for change in comparison.changes
        )
        _audit(record, Action.CHANGED_OUTSIDE, detail, origin)


def _mark_deleted(record: KeyPairRequest, origin: Origin) -> None:
    # A private key still waiting for download belongs to a key pair that no longer exists:
    # it is erased with the record's end, as the portal's own delete does.
    now = timezone.now()
    with transaction.atomic():
        won = KeyPairRequest.objects.filter(pk=record.pk, status=KeyPairRequest.Status.CREATED).update(
            status=KeyPairRequest.Status.DELETED, deleted_at=now
        )
        wiped = bool(won) and delivery_wipe(keypair_request=record, now=now)
    record.status, record.deleted_at = KeyPairRequest.Status.DELETED, _deleted_at(record, won, now)
    if won:
        _audit(record, Action.DELETED_OUTSIDE, DELETED_DETAIL + (WIPED_DETAIL if wiped else ""), origin)


def _deleted_at(record: KeyPairRequest, won: int, now: datetime) -> datetime | None:
    if won:
        return now
    # Another request marked it first: show its time.
    return KeyPairRequest.objects.filter(pk=record.pk).values_list("deleted_at", flat=True).first()


def _audit(record: KeyPairRequest, action: str, detail: str, origin: Origin) -> None:
    audit_record(
        action=action,
        outcome=AuditEvent.Outcome.SUCCESS,
        origin=origin,
        region=record.region,
        keypair_name=record.name,
        keypair_id=record.keypair_id,
        detail=detail,
    )
