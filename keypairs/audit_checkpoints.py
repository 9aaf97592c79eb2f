"""Checkpoints in the shipped audit stream, and the check that finds a rewind with them.

The rewind the chain cannot see (keypairs.audit): delete the newest events with plain SQL
and set ``AuditChainHead`` back to the new newest one. Every event shipped before that still
sits at the receiver, but comparing event by event needs the whole copy. A checkpoint is
the short form: "after event #ID, whose hash was H, the log held C events", numbered,
timed and signed with ``AUDIT_HMAC_KEY`` (so a checkpoint cannot be forged or edited by
whoever writes to the receiver without the key). ``ship_audit`` puts one in the stream
every N events and at the end of each batch; ``verify_audit --checkpoints FILE`` reads them
back and checks that the database still holds each checkpoint's event, with its hash, and
as many events up to it.

The HMAC covers a ``"checkpoint:"`` prefix, so no checkpoint can pass for an event's
``row_hash`` or the other way round.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from keypairs.audit import _canonical_time, _hmac_key
from keypairs.models import AuditChainHead, AuditEvent

DEFAULT_CHECKPOINT_EVERY = 100
CHECKPOINT_FIELDS = ("checkpoint", "event_id", "head_hash", "event_count", "created_at")

CHECKPOINTS_VERIFIED_MESSAGE = "Checkpoints verified: {count}, the newest at event #{event_id}."
NO_CHECKPOINTS_MESSAGE = "The file holds no checkpoint to compare with."
FORGED_MESSAGE = "Checkpoint {sequence} (line {line}) does not carry a valid signature: it was edited or forged."
UNREADABLE_MESSAGE = "Line {line} of the checkpoint file is not a shipped audit record."
REWOUND_MESSAGE = (
    "Checkpoint {sequence} says the log reached event #{event_id} with {count} events, but the database's "
    "log ends at #{head_id}: the newest events were deleted and the chain head set back (a rewind)."
)
REPLACED_MESSAGE = (
    "Checkpoint {sequence} says event #{event_id} had hash {expected}..., but the database holds {found} "
    "for it: the log was rewritten from there."
)
COUNT_MESSAGE = (
    "Checkpoint {sequence} says the log held {expected} events up to #{event_id}; the database holds {found}: "
    "events were deleted or inserted."
)


def checkpoint_signature(values: dict[str, Any]) -> str:
    canonical = json.dumps({name: values[name] for name in CHECKPOINT_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hmac.new(_hmac_key(), b"checkpoint:" + canonical.encode("ascii"), hashlib.sha256).hexdigest()


def checkpoint_record(
    *, sequence: int, event_id: int, head_hash: str, when, event_count: int | None = None
) -> dict[str, Any]:
    """A signed checkpoint after event ``event_id``.

    ``event_count`` is the number of events up to it, counted now when not given: a count
    that reads every id up to ``event_id`` (29 ms at a million rows, docs/benchmarks.md
    section 10), so a caller making several checkpoints counts once and adds.
    """
    if event_count is None:
        event_count = AuditEvent.objects.filter(id__lte=event_id).count()
    values = {
        "checkpoint": sequence,
        "event_id": event_id,
        "head_hash": head_hash,
        "event_count": event_count,
        "created_at": _canonical_time(when),
    }
    return {**values, "hmac": checkpoint_signature(values)}


@dataclass(frozen=True)
class CheckpointResult:
    ok: bool
    message: str
    checked: int = 0


def verify_checkpoints(lines: Iterable[str]) -> CheckpointResult:
    """Compare every checkpoint in the shipped stream (JSON lines or RFC 5424 lines) with the database."""
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).values_list("last_event_id", flat=True).first()
    checked, newest = 0, None
    for number, record in _records(lines):
        if record is None:
            return CheckpointResult(False, UNREADABLE_MESSAGE.format(line=number), checked)
        if "checkpoint" not in record:
            continue
        problem = _problem(number, record, head or 0)
        if problem:
            return CheckpointResult(False, problem, checked)
        checked, newest = checked + 1, record["event_id"]
    if not checked:
        return CheckpointResult(False, NO_CHECKPOINTS_MESSAGE)
    return CheckpointResult(True, CHECKPOINTS_VERIFIED_MESSAGE.format(count=checked, event_id=newest), checked)


def _records(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | None]]:
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("<"):  # an RFC 5424 line as a syslog server writes it: the JSON is the message
            line = line.split(" ", 7)[-1]
        try:
            record = json.loads(line)
        except ValueError:
            yield number, None
            continue
        yield number, record if isinstance(record, dict) else None


def _problem(line: int, record: dict[str, Any], head_id: int) -> str | None:
    sequence = record.get("checkpoint")
    try:
        expected = checkpoint_signature(record)
    except (KeyError, TypeError, ValueError):
        return FORGED_MESSAGE.format(sequence=sequence, line=line)
    if not isinstance(record.get("hmac"), str) or not hmac.compare_digest(expected, record["hmac"]):
        return FORGED_MESSAGE.format(sequence=sequence, line=line)
    event_id, head_hash = record["event_id"], record["head_hash"]
    found = AuditEvent.objects.filter(id=event_id).values_list("row_hash", flat=True).first()
    if found is None and head_id < event_id:
        return REWOUND_MESSAGE.format(
            sequence=sequence, event_id=event_id, count=record["event_count"], head_id=head_id
        )
    if found is None or not hmac.compare_digest(found, head_hash):
        return REPLACED_MESSAGE.format(
            sequence=sequence, event_id=event_id, expected=head_hash[:12], found=(found or "nothing")[:12]
        )
    count = AuditEvent.objects.filter(id__lte=event_id).count()
    if count != record["event_count"]:
        return COUNT_MESSAGE.format(sequence=sequence, event_id=event_id, expected=record["event_count"], found=count)
    return None
