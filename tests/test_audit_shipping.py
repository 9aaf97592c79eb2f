"""`manage.py ship_audit`: the audit log leaves the database, in order, at least once.

The receivers are real servers on loopback (tests/syslog_receivers.py): a TCP syslog server
that parses RFC 6587 octet-counted frames, the same behind TLS, and a UDP one, each in a
thread, and a file.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from keypairs.audit import audit_record, row_hash
from keypairs.audit_shipping import ANOTHER_SHIPPER_MESSAGE, SHIPPING_OFF_MESSAGE
from keypairs.models import AuditEvent, AuditShipCursor
from tests.syslog_receivers import (
    SyslogTCPReceiver,
    SyslogTLSReceiver,
    SyslogUDPReceiver,
    parse_rfc5424,
    self_signed_certificate,
)


@pytest.fixture
def tcp_receiver():
    receiver = SyslogTCPReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def udp_receiver():
    receiver = SyslogUDPReceiver()
    yield receiver
    receiver.stop()


def _write_events(count: int, start: int = 1) -> list[AuditEvent]:
    return [
        audit_record(action="requested", outcome="success", keypair_name=f"key-{n}", detail=f"event {n}")
        for n in range(start, start + count)
    ]


def _ship(*args: str) -> str:
    out = StringIO()
    call_command("ship_audit", *args, stdout=out)
    return out.getvalue()


def _cursor() -> int:
    cursor = AuditShipCursor.objects.filter(pk=1).first()
    return cursor.last_event_id if cursor else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_ships_every_event_in_order_as_rfc5424_octet_counted_frames(db, settings, tcp_receiver):
    settings.AUDIT_SHIP_TO = f"syslog+tcp://127.0.0.1:{tcp_receiver.port}"
    events = _write_events(5)

    output = _ship()

    assert output == f"Shipped 5 audit events (#{events[0].id} to #{events[-1].id}) to {settings.AUDIT_SHIP_TO}.\n"
    assert tcp_receiver.connections == 1
    first = parse_rfc5424(tcp_receiver.messages[0])
    assert (first["priority"], first["version"], first["app_name"], first["msgid"]) == (110, "1", "bcc-portal", "audit")
    records = tcp_receiver.records
    assert [record["id"] for record in records] == [event.id for event in events]
    assert [record["keypair_name"] for record in records] == [f"key-{n}" for n in range(1, 6)]
    assert [record["row_hash"] for record in records] == [event.row_hash for event in events]
    assert records[1]["prev_hash"] == records[0]["row_hash"]
    assert _cursor() == events[-1].id


def test_a_receiver_can_recompute_each_row_hash_from_the_record_alone(db, settings, tcp_receiver):
    settings.AUDIT_SHIP_TO = f"syslog+tcp://127.0.0.1:{tcp_receiver.port}"
    audit_record(action="requested", outcome="failure", keypair_name="ключ", user_agent="UA\u00e9", source_ip="::1")
    _ship()

    (record,) = tcp_receiver.records
    values = {
        **record,
        "created_at": datetime.strptime(record["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
    }
    assert row_hash(prev_hash=record["prev_hash"], values=values) == record["row_hash"]
    assert record["keypair_name"] == "ключ"


def test_a_second_run_ships_only_the_events_written_since_the_first(db, settings, tcp_receiver):
    settings.AUDIT_SHIP_TO = f"syslog+tcp://127.0.0.1:{tcp_receiver.port}"
    _write_events(3)
    _ship()
    later = _write_events(2, start=4)

    _ship()

    assert [record["keypair_name"] for record in tcp_receiver.records] == [f"key-{n}" for n in range(1, 6)]
    assert _cursor() == later[-1].id


def test_max_events_bounds_a_run_and_the_next_run_continues_where_it_stopped(db, settings, tcp_receiver):
    settings.AUDIT_SHIP_TO = f"syslog+tcp://127.0.0.1:{tcp_receiver.port}"
    events = _write_events(5)

    output = _ship("--max-events", "2")

    assert "More events may be waiting" in output
    assert _cursor() == events[1].id
    _ship("--max-events", "2")
    _ship("--max-events", "2")
    assert _ship("--max-events", "2") == f"Nothing to ship: every audit event up to #{events[-1].id} was delivered.\n"
    assert [record["id"] for record in tcp_receiver.records] == [event.id for event in events]


def test_an_unreachable_receiver_fails_the_run_and_the_next_run_delivers_everything(db, settings):
    port = _free_port()
    settings.AUDIT_SHIP_TO = f"syslog+tcp://127.0.0.1:{port}"
    events = _write_events(3)

    with pytest.raises(CommandError) as failure:
        _ship()

    assert str(failure.value) == (
        f"Could not deliver audit events #{events[0].id} to #{events[-1].id} to syslog+tcp://127.0.0.1:{port} "
        "(connection refused); nothing was lost: the cursor stays at #0 and the next run sends them again."
    )
    assert _cursor() == 0

    more = _write_events(2, start=4)
    receiver = SyslogTCPReceiver(port)  # the receiver is back, on the same port
    try:
        _ship()
    finally:
        receiver.stop()
    assert [record["id"] for record in receiver.records] == [event.id for event in events + more]
    assert _cursor() == more[-1].id


def test_it_ships_one_datagram_per_event_over_udp(db, settings, udp_receiver):
    settings.AUDIT_SHIP_TO = f"syslog+udp://127.0.0.1:{udp_receiver.port}"
    events = _write_events(3)

    _ship()

    messages = udp_receiver.wait_for(4)  # three events and the batch's checkpoint
    records = [json.loads(parse_rfc5424(message)["msg"]) for message in messages]
    records = [record for record in records if "checkpoint" not in record]
    assert sorted(record["id"] for record in records) == [event.id for event in events]
    assert _cursor() == events[-1].id


def test_it_appends_one_json_line_per_event_to_a_file(db, settings, tmp_path):
    path = tmp_path / "audit" / "events.jsonl"
    path.parent.mkdir()
    settings.AUDIT_SHIP_TO = f"file://{path}"
    _write_events(2)
    _ship()
    events = _write_events(1, start=3)
    _ship()

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    shipped = [line for line in lines if "checkpoint" not in line]
    assert [line["keypair_name"] for line in shipped] == ["key-1", "key-2", "key-3"]
    assert shipped[-1]["row_hash"] == events[0].row_hash


def test_a_file_that_cannot_be_written_fails_the_run_and_leaves_the_cursor(db, settings, tmp_path):
    settings.AUDIT_SHIP_TO = f"file://{tmp_path}/missing-directory/events.jsonl"
    _write_events(2)

    with pytest.raises(CommandError, match="nothing was lost"):
        _ship()

    assert _cursor() == 0


def test_stdout_gets_the_events_and_the_summary_goes_elsewhere(db, settings, capsys):
    settings.AUDIT_SHIP_TO = "stdout"
    _write_events(2)

    output = _ship()

    assert output == ""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.get("keypair_name") for line in lines] == ["key-1", "key-2", None]
    assert lines[-1]["checkpoint"] == 1


def test_shipping_is_off_when_the_setting_is_empty(db, settings):
    settings.AUDIT_SHIP_TO = ""
    _write_events(2)

    assert _ship() == SHIPPING_OFF_MESSAGE + "\n"
    assert _cursor() == 0


@pytest.mark.parametrize(
    "value", ["syslog://127.0.0.1:514", "syslog+tcp://127.0.0.1", "file://relative/path", "https://example.com"]
)
def test_a_destination_it_cannot_understand_is_refused_with_a_sentence(db, settings, value):
    settings.AUDIT_SHIP_TO = value
    _write_events(1)

    with pytest.raises(CommandError, match="AUDIT_SHIP_TO must be syslog"):
        _ship()

    assert _cursor() == 0


@pytest.mark.django_db(transaction=True)
def test_a_second_shipper_finds_the_cursor_taken_says_so_and_succeeds(settings, tcp_receiver):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes the two runs instead (its IMMEDIATE transactions); nothing to refuse.")
    settings.AUDIT_SHIP_TO = f"syslog+tcp://127.0.0.1:{tcp_receiver.port}"
    events = _write_events(2)
    AuditShipCursor.objects.create(pk=1)
    held, release = threading.Event(), threading.Event()

    def first_shipper_holding_the_cursor():
        try:
            with transaction.atomic():
                AuditShipCursor.objects.select_for_update().get(pk=1)
                held.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_shipper_holding_the_cursor)
    thread.start()
    try:
        assert held.wait(timeout=30)
        assert _ship() == ANOTHER_SHIPPER_MESSAGE + "\n"
        assert tcp_receiver.messages == []
    finally:
        release.set()
        thread.join()
    _ship()
    assert [record["id"] for record in tcp_receiver.records] == [event.id for event in events]


def test_it_ships_over_tls_to_a_receiver_the_system_trusts(db, settings, tmp_path, monkeypatch):
    cert_path, key_path = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert_path)  # the "system" CAs: just this receiver's certificate
    receiver = SyslogTLSReceiver(cert_path, key_path)
    settings.AUDIT_SHIP_TO = f"syslog+tls://127.0.0.1:{receiver.port}"
    try:
        events = _write_events(3)
        _ship()
    finally:
        receiver.stop()

    assert [record["id"] for record in receiver.records] == [event.id for event in events]
    assert _cursor() == events[-1].id


def test_a_tls_receiver_the_system_does_not_trust_gets_nothing(db, settings, tmp_path):
    cert_path, key_path = self_signed_certificate(tmp_path)
    receiver = SyslogTLSReceiver(cert_path, key_path)
    settings.AUDIT_SHIP_TO = f"syslog+tls://127.0.0.1:{receiver.port}"
    try:
        _write_events(2)
        with pytest.raises(CommandError, match="TLS handshake or session failed"):
            _ship()
    finally:
        receiver.stop()

    assert receiver.messages == []
    assert _cursor() == 0


# --- What auditors see of it ------------------------------------------------------------------------------


def _chain_status_line(client) -> str:
    page = client.get("/admin/keypairs/auditevent/").content.decode()
    return page.split('id="shipping-status"', 1)[1].split("</p>", 1)[0]


def test_the_auditors_see_how_far_the_log_was_shipped_and_how_many_events_wait(db, settings, tcp_receiver):
    from portal.auth.roles import Role
    from tests.auth_people import person
    from tests.people import signed_in

    auditor = signed_in(person("audrey", Role.AUDITOR))
    settings.AUDIT_SHIP_TO = ""
    assert "Shipping is off (AUDIT_SHIP_TO is not set)" in _chain_status_line(auditor)

    settings.AUDIT_SHIP_TO = f"syslog+tcp://127.0.0.1:{tcp_receiver.port}"
    events = _write_events(3)
    assert "Nothing shipped out of the database yet" in _chain_status_line(auditor)

    _ship()
    _write_events(2, start=4)
    line = _chain_status_line(auditor)
    assert f"Shipped out of the database up to event #{events[-1].id}" in line
    assert "2 events wait to be shipped" in line
