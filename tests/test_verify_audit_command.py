"""`manage.py verify_audit`: it passes an intact log and names the first edited, deleted or
reordered event. Tampering goes through raw SQL, as an attacker's would: the model refuses."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from keypairs.audit import audit_record, audit_verify
from keypairs.management.commands.verify_audit import Command
from keypairs.models import AuditChainHead, AuditEvent

# Spelled out in the SQL below, as an attacker would type it.
assert AuditEvent._meta.db_table == "keypairs_auditevent"


def _write_events(count: int) -> list[AuditEvent]:
    return [
        audit_record(action="requested", outcome="success", keypair_name=f"key-{n}", detail=f"event {n}")
        for n in range(1, count + 1)
    ]


def _sql(statement: str, params: tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_it_verifies_an_empty_log(db):
    assert _verify() == "Audit chain verified: 0 events.\n"


def test_it_verifies_an_intact_log(db):
    _write_events(5)

    assert _verify() == "Audit chain verified: 5 events.\n"


def test_it_reads_the_log_in_batches(db):
    _write_events(7)
    out = StringIO()

    call_command("verify_audit", "--batch-size", "2", stdout=out)

    assert out.getvalue() == "Audit chain verified: 7 events.\n"


def test_it_prints_the_head_hash_when_asked_for_more(db):
    events = _write_events(2)
    out = StringIO()

    call_command("verify_audit", verbosity=2, stdout=out)

    assert out.getvalue().splitlines() == ["Audit chain verified: 2 events.", f"Chain head hash: {events[-1].row_hash}"]


def test_it_catches_an_edited_row(db):
    _write_events(5)
    _sql("UPDATE keypairs_auditevent SET detail = %s WHERE id = %s", ("nothing to see here", 3))

    with pytest.raises(CommandError) as raised:
        _verify()

    assert str(raised.value) == (
        "Audit chain broken: Event #3 was changed after it was written: its content does not match its signature."
    )
    result = audit_verify()
    assert (result.ok, result.broken_event_id, result.problem, result.events_checked) == (False, 3, "edited", 2)


def test_it_catches_an_edited_timestamp(db):
    _write_events(3)
    _sql("UPDATE keypairs_auditevent SET created_at = %s WHERE id = %s", ("2001-01-01 00:00:00", 2))

    result = audit_verify()

    assert (result.broken_event_id, result.problem) == (2, "edited")


def test_it_catches_a_deleted_row(db):
    _write_events(5)
    _sql("DELETE FROM keypairs_auditevent WHERE id = %s", (3,))

    with pytest.raises(CommandError) as raised:
        _verify()

    assert str(raised.value) == (
        "Audit chain broken: Event #4 does not link to event #2: "
        "an event between them was deleted or the link was altered."
    )
    assert (audit_verify().broken_event_id, audit_verify().problem) == (4, "missing")


def test_it_catches_a_deleted_first_row(db):
    _write_events(3)
    _sql("DELETE FROM keypairs_auditevent WHERE id = %s", (1,))

    result = audit_verify()

    assert (result.broken_event_id, result.problem) == (2, "missing")
    assert "the start of the log" in result.message


def test_it_catches_two_swapped_rows(db):
    _write_events(5)
    _sql("UPDATE keypairs_auditevent SET id = -1 WHERE id = 2")
    _sql("UPDATE keypairs_auditevent SET id = 2 WHERE id = 3")
    _sql("UPDATE keypairs_auditevent SET id = 3 WHERE id = -1")

    with pytest.raises(CommandError) as raised:
        _verify()

    assert str(raised.value) == (
        "Audit chain broken: Event #2 is out of order: the event that follows event #1 is stored as #3 "
        "(rows were swapped or reordered)."
    )
    assert audit_verify().problem == "reordered"


def test_it_catches_deleted_newest_rows(db):
    _write_events(5)
    _sql("DELETE FROM keypairs_auditevent WHERE id >= %s", (4,))

    with pytest.raises(CommandError) as raised:
        _verify()

    assert str(raised.value) == (
        "Audit chain broken: The newest events were deleted: the chain head records event #5, but the log ends at #3."
    )
    assert audit_verify().problem == "truncated"


def test_it_catches_a_missing_chain_head(db):
    _write_events(2)
    AuditChainHead.objects.all().delete()

    result = audit_verify()

    assert (result.ok, result.problem) == (False, "head_missing")


def test_a_broken_chain_exits_with_status_1(db, capsys):
    _write_events(2)
    _sql("UPDATE keypairs_auditevent SET outcome = %s WHERE id = %s", ("failure", 1))

    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "verify_audit"])

    assert exited.value.code == 1
    assert "Event #1 was changed after it was written" in capsys.readouterr().err


def test_events_written_after_a_break_do_not_hide_it(db):
    _write_events(2)
    _sql("UPDATE keypairs_auditevent SET detail = %s WHERE id = %s", ("edited", 2))
    _write_events(2)

    assert audit_verify().broken_event_id == 2


# --- What the admin shows afterwards ----------------------------------------------------------


def test_a_nightly_run_is_what_the_admin_then_shows(db):
    from keypairs import audit_review

    _write_events(4)
    assert audit_review.chain_status() is None

    _verify()

    status = audit_review.chain_status()
    assert (status.ok, status.events_checked, status.message) == (True, 4, "Audit chain verified: 4 events.")


def test_a_broken_chain_found_at_night_shows_in_the_admin(db):
    from keypairs import audit_review

    _write_events(5)
    _sql("UPDATE keypairs_auditevent SET detail = %s WHERE id = %s", ("nothing to see here", 3))

    with pytest.raises(CommandError):
        _verify()

    status = audit_review.chain_status()
    assert (status.ok, status.broken_event_id) == (False, 3)
    assert "Event #3 was changed" in status.message


def test_a_cache_that_fails_does_not_fail_the_check(db, settings):
    from tests.create_flow import closed_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    _write_events(2)
    out, err = StringIO(), StringIO()

    call_command("verify_audit", stdout=out, stderr=err)

    assert out.getvalue() == "Audit chain verified: 2 events.\n"
    assert err.getvalue() == "Could not record the result for the admin (ConnectionError).\n"
