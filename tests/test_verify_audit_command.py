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
    assert err.getvalue() == (
        "Could not write the pending refusal counts (ConnectionError).\n"
        "Could not record the result for the admin (ConnectionError).\n"
    )


# --- Rows the chain does not account for ---------------------------------------------------------

FOREIGN_ROW = (
    "INSERT INTO keypairs_auditevent (id, created_at, actor_username, actor_subject, user_agent, action, "
    "outcome, is_security_event, region, keypair_name, keypair_id, bcc_request_id, bcc_error_code, "
    "portal_request_id, detail, prev_hash, row_hash) "
    "VALUES (%s, %s, 'mallory', '', '', 'signed_in', 'success', FALSE, '', '', '', '', '', '', "
    "'planted', %s, %s)"
)


def _insert_foreign_row(event_id: int, prev_hash: str) -> None:
    """What a database role with INSERT alone can do: a row with a made-up signature."""
    _sql(FOREIGN_ROW, (event_id, "2026-01-01 00:00:00", prev_hash, f"{event_id:064x}"))


def test_a_row_inserted_past_the_head_is_reported(db):
    events = _write_events(3)
    _insert_foreign_row(4, events[-1].row_hash)

    with pytest.raises(CommandError) as raised:
        _verify()

    assert "1 row(s) in the audit table are not part of the chain" in str(raised.value)
    result = audit_verify()
    assert (result.ok, result.problem, result.foreign_event_ids, result.events_checked) == (False, "foreign", (4,), 3)


def test_a_row_inserted_past_the_head_does_not_block_the_next_event(db):
    events = _write_events(3)
    _insert_foreign_row(4, events[-1].row_hash)

    later = audit_record(action="requested", outcome="success", detail="after the intruder")

    assert (later.pk, later.prev_hash) == (5, events[-1].row_hash)
    result = audit_verify()
    assert (result.problem, result.foreign_event_ids, result.events_checked) == ("foreign", (4,), 4)


def test_a_foreign_row_with_a_low_id_is_reported_too(db):
    _write_events(2)
    _insert_foreign_row(-7, "f" * 64)

    assert audit_verify().foreign_event_ids == (-7,)


# --- The head, compared by id and by hash --------------------------------------------------------


def test_a_head_wound_back_by_id_alone_is_caught(db):
    _write_events(5)
    _sql("DELETE FROM keypairs_auditevent WHERE id >= %s", (4,))
    _sql("UPDATE keypairs_auditchainhead SET last_event_id = %s", (3,))

    result = audit_verify()

    assert (result.ok, result.problem) == (False, "truncated")
    assert "another hash than that event's" in result.message


def test_a_head_whose_hash_alone_was_changed_is_caught(db):
    _write_events(3)
    _sql("UPDATE keypairs_auditchainhead SET last_hash = %s", ("e" * 64,))

    result = audit_verify()

    assert (result.ok, result.problem) == (False, "truncated")


# --- A lost head, rebuilt --------------------------------------------------------------------------


def test_a_rebuilt_head_is_recorded_as_a_security_event(db):
    events = _write_events(3)
    AuditChainHead.objects.all().delete()

    _write_events(1)

    rebuilt = AuditEvent.objects.get(action="chain_head_rebuilt")
    assert (rebuilt.pk, rebuilt.is_security_event) == (4, True)
    assert rebuilt.detail == f"chain head rebuilt: 3 events, last hash {events[-1].row_hash}"
    assert AuditEvent.objects.order_by("-id").first().pk == 5


def test_a_rebuilt_head_is_reported_until_an_auditor_acknowledges_it(db):
    from keypairs.audit import audit_acknowledge
    from tests.auth_people import person

    _write_events(3)
    AuditChainHead.objects.all().delete()
    _write_events(2)

    with pytest.raises(CommandError) as raised:
        _verify()
    assert "The chain head was lost and rebuilt (event #4)" in str(raised.value)
    assert audit_verify().problem == "head_rebuilt"

    acknowledgement = audit_acknowledge(actor=person("audrey"))

    assert acknowledgement.detail == "Acknowledged the chain head rebuilt at event #4."
    assert _verify() == "Audit chain verified: 7 events.\n"
    assert audit_acknowledge(actor=person("avery")) is None


def test_sign_in_still_works_after_a_row_was_inserted_past_the_head(db, client):
    from portal.auth.roles import Role
    from tests.auth_people import PASSWORD, person

    person("dana", Role.DEVELOPER)
    events = _write_events(2)
    _insert_foreign_row(3, events[-1].row_hash)

    response = client.post("/accounts/login/", {"username": "dana", "password": PASSWORD})

    assert (response.status_code, response["Location"]) == (302, "/")
    signed_in = AuditEvent.objects.get(action="signed_in", actor_username="dana")
    assert (signed_in.pk, signed_in.prev_hash, signed_in.actor_username) == (4, events[-1].row_hash, "dana")
    assert audit_verify().foreign_event_ids == (3,)
