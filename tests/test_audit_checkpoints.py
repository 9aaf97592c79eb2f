"""Signed checkpoints in the shipped audit stream, and `verify_audit --checkpoints FILE` finding a
rewind (newest events deleted with plain SQL, the chain head set back to match) that the chain
alone passes."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from keypairs.audit import audit_record
from keypairs.models import AuditEvent
from tests.syslog_receivers import SyslogTCPReceiver, parse_rfc5424

assert AuditEvent._meta.db_table == "keypairs_auditevent"


def _write_events(count: int, start: int = 1) -> list[AuditEvent]:
    return [
        audit_record(action="requested", outcome="success", keypair_name=f"key-{n}")
        for n in range(start, start + count)
    ]


def _run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def _rewind_to(event: AuditEvent) -> None:
    """What someone with database access does: delete the newest rows, set the head back."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM keypairs_auditevent WHERE id > %s", [event.id])
        cursor.execute(
            "UPDATE keypairs_auditchainhead SET last_event_id = %s, last_hash = %s", [event.id, event.row_hash]
        )


@pytest.fixture
def shipped_file(settings, tmp_path):
    path = tmp_path / "events.jsonl"
    settings.AUDIT_SHIP_TO = f"file://{path}"
    return path


def test_a_checkpoint_follows_every_nth_event_and_ends_each_run(db, settings):
    receiver = SyslogTCPReceiver()
    settings.AUDIT_SHIP_TO = f"syslog+tcp://127.0.0.1:{receiver.port}"
    try:
        events = _write_events(5)
        _run("ship_audit", "--checkpoint-every", "2")
        _write_events(1, start=6)
        _run("ship_audit", "--checkpoint-every", "2")
    finally:
        receiver.stop()

    kinds = [parse_rfc5424(message)["msgid"] for message in receiver.messages]
    first_run = ["audit", "audit", "checkpoint", "audit", "audit", "checkpoint", "audit", "checkpoint"]
    assert kinds == [*first_run, "audit", "checkpoint"]
    checkpoints = [record for record in receiver.all_records if "checkpoint" in record]
    assert [record["checkpoint"] for record in checkpoints] == [1, 2, 3, 4]
    assert [record["event_id"] for record in checkpoints[:3]] == [events[1].id, events[3].id, events[4].id]
    assert checkpoints[2]["head_hash"] == events[4].row_hash
    assert checkpoints[2]["event_count"] == 5


def test_verify_audit_passes_an_intact_log_against_its_checkpoints(db, shipped_file):
    events = _write_events(5)
    _run("ship_audit", "--checkpoint-every", "2")

    output = _run("verify_audit", "--checkpoints", str(shipped_file))

    assert output == (
        f"Audit chain verified: 5 events.\nCheckpoints verified: 3, the newest at event #{events[-1].id}.\n"
    )


def test_verify_audit_finds_a_rewind_that_the_chain_alone_passes(db, shipped_file):
    events = _write_events(5)
    _run("ship_audit")
    _rewind_to(events[2])
    assert _run("verify_audit") == "Audit chain verified: 3 events.\n"  # the gap shipping closes

    with pytest.raises(CommandError) as failure:
        _run("verify_audit", "--checkpoints", str(shipped_file))

    assert str(failure.value) == (
        "Audit log does not match its shipped checkpoints: "
        f"Checkpoint 1 says the log reached event #{events[-1].id} with 5 events, but the database's log ends at "
        f"#{events[2].id}: the newest events were deleted and the chain head set back (a rewind)."
    )


def test_verify_audit_finds_a_rewind_the_portal_has_since_written_past(db, shipped_file):
    events = _write_events(5)
    _run("ship_audit")
    _rewind_to(events[2])
    _write_events(3, start=10)  # new events take the deleted ids, with other hashes

    with pytest.raises(CommandError, match=rf"event #{events[-1].id} had hash .* the log was rewritten from there"):
        _run("verify_audit", "--checkpoints", str(shipped_file))


def test_an_edited_checkpoint_is_reported_as_forged(db, shipped_file):
    events = _write_events(3)
    _run("ship_audit")
    lines = [json.loads(line) for line in shipped_file.read_text().splitlines()]
    lines[-1]["event_id"] = events[0].id  # pretend the log ended earlier
    shipped_file.write_text("".join(json.dumps(line) + "\n" for line in lines))

    with pytest.raises(CommandError, match=r"Checkpoint 1 \(line 4\) does not carry a valid signature"):
        _run("verify_audit", "--checkpoints", str(shipped_file))


def test_it_reads_the_syslog_servers_own_lines(db, settings, tmp_path):
    receiver = SyslogTCPReceiver()
    settings.AUDIT_SHIP_TO = f"syslog+tcp://127.0.0.1:{receiver.port}"
    try:
        events = _write_events(2)
        _run("ship_audit")
    finally:
        receiver.stop()
    path = tmp_path / "syslog.log"
    path.write_text("".join(message + "\n" for message in receiver.messages))

    assert _run("verify_audit", "--checkpoints", str(path)).endswith(
        f"Checkpoints verified: 1, the newest at event #{events[-1].id}.\n"
    )


def test_a_missing_checkpoint_file_is_a_sentence(db, tmp_path):
    with pytest.raises(CommandError, match=r"Could not read the checkpoint file .*No such file or directory"):
        _run("verify_audit", "--checkpoints", str(tmp_path / "nothing.jsonl"))
