"""Shipping the audit log out of the database's reach, event by event, at least once.

Why
---
The chain (keypairs.audit) finds any edit, deletion or reordering, except one: whoever can
write to the database can delete the newest events and rewind ``AuditChainHead`` with them.
Only a copy outside the database shows that. This module sends every event, in chain (id)
order, as one JSON object (its signed fields, ``prev_hash`` and ``row_hash``) to a receiver
the database's administrators do not control: a syslog server or a file, chosen by one
setting, ``AUDIT_SHIP_TO``. Anyone holding the copy can re-check each ``row_hash`` with
``AUDIT_HMAC_KEY`` and see where the database's log stops agreeing with it.

Guarantees
----------
- At least once, in order, nothing skipped. ``AuditShipCursor`` holds the id of the newest
  event the receiver accepted; a run reads the events after it (a bounded batch, oldest
  first), delivers them, and moves the cursor only then. A failure before the move (receiver
  down, a crash) leaves the cursor where it was, and the next run sends that batch again: the
  receiver may see the batch that was in flight twice, never a gap.
- No gaps from late commits: an event's id is taken under the chain head's row lock, held
  until the event commits, so when event N is visible every event before it is too.
- One shipper at a time. On PostgreSQL the run locks the cursor row with ``FOR UPDATE
  NOWAIT``: a second run (cron on two instances) finds it locked, says so and exits 0. Only
  the cursor row is locked, never the chain head, so the portal keeps writing events while a
  batch is sent. On SQLite every transaction takes the database's write lock up front
  (``transaction_mode="IMMEDIATE"``): a second run waits for the first and then sends the
  next batch; while a batch is sent, the portal's writes wait too (at most one send timeout),
  which suits SQLite's single-host development use, not production.
- A receiver that cannot be reached fails the command (non-zero, one sentence), never a
  user's page: shipping is a separate process, the portal never calls it.

What "accepted" means
---------------------
- ``syslog+tcp``/``syslog+tls``: RFC 5424 messages with octet-counted framing (RFC 6587).
  Syslog has no acknowledgements; the batch counts as accepted once every byte was sent and
  the receiver closed its end after our end-of-stream (it read everything we sent).
- ``syslog+udp``: one RFC 5424 message per datagram (RFC 5426). UDP gives no delivery at all:
  "accepted" is only "sent", so a lost datagram is lost. Prefer TCP or TLS for an audit trail.
- ``file://``: appended, flushed and fsynced before the cursor moves.
- ``stdout``: written and flushed (for a container's log collector).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from keypairs.audit import SIGNED_FIELDS, _canonical_time, normalize_ip
from keypairs.audit_checkpoints import DEFAULT_CHECKPOINT_EVERY, checkpoint_record
from keypairs.models import AuditChainHead, AuditEvent, AuditShipCursor

DEFAULT_MAX_EVENTS = 1000
SEND_TIMEOUT_SECONDS = 10

# RFC 5424: facility 13 ("log audit"); severity 6 (informational), 5 (notice) for security events.
SYSLOG_FACILITY_LOG_AUDIT = 13
SYSLOG_APP_NAME = "bcc-portal"
SYSLOG_MSGID = "audit"
# PostgreSQL's SQLSTATE for FOR UPDATE NOWAIT on a row another transaction holds.
LOCK_NOT_AVAILABLE = "55P03"

SHIPPING_OFF_MESSAGE = "Audit shipping is off: AUDIT_SHIP_TO is empty."
BAD_DESTINATION_MESSAGE = (
    "AUDIT_SHIP_TO must be syslog+tcp://host:port, syslog+udp://host:port, syslog+tls://host:port, "
    "file:///absolute/path or stdout, not {value!r}."
)
ANOTHER_SHIPPER_MESSAGE = "Another ship_audit run holds the cursor; this one stops and leaves the batch to it."
UNREACHABLE_MESSAGE = (
    "Could not deliver audit events #{first} to #{last} to {destination} ({reason}); nothing was lost: "
    "the cursor stays at #{cursor} and the next run sends them again."
)
SHIPPED_MESSAGE = "Shipped {count} audit events (#{first} to #{last}) to {destination}."
NOTHING_TO_SHIP_MESSAGE = "Nothing to ship: every audit event up to #{cursor} was delivered."


class ShippingError(RuntimeError):
    """The receiver did not take the batch; the message is a sentence for the operator."""


class AnotherShipperRunning(RuntimeError):
    """Another run holds the cursor row."""


@dataclass(frozen=True)
class Destination:
    """Where events go: ``kind`` is tcp, udp, tls, file or stdout."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.kind in ("tcp", "udp", "tls"):
            return f"syslog+{self.kind}://{self.host}:{self.port}"
        return f"file://{self.path}" if self.kind == "file" else "stdout"


def parse_destination(value: str) -> Destination | None:
    """The destination named by ``AUDIT_SHIP_TO``; None when empty (shipping off); ValueError when unclear."""
    value = (value or "").strip()
    if not value:
        return None
    if value == "stdout":
        return Destination(kind="stdout")
    bad = ValueError(BAD_DESTINATION_MESSAGE.format(value=value))
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise bad from None
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/") or path.endswith("/"):
            raise bad
        return Destination(kind="file", path=path)
    kind = {"syslog+tcp": "tcp", "syslog+udp": "udp", "syslog+tls": "tls"}.get(parts.scheme)
    if kind is None or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise bad
    return Destination(kind=kind, host=parts.hostname, port=port)


# --- What is shipped -----------------------------------------------------------------------


def event_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One event as shipped: its signed fields in their canonical form, ``prev_hash``, ``row_hash``.

    The canonical form (UTC time with microseconds, one spelling per address) is the one
    ``row_hash`` signs, so a receiver can recompute each hash from the record alone.
    """
    record = {name: row[name] for name in SIGNED_FIELDS}
    record["created_at"] = _canonical_time(row["created_at"])
    record["source_ip"] = normalize_ip(row["source_ip"])
    record["is_security_event"] = bool(row["is_security_event"])
    record["prev_hash"] = row["prev_hash"]
    record["row_hash"] = row["row_hash"]
    return record


def record_json(record: Mapping[str, Any]) -> str:
    """Compact ASCII JSON on one line: no field a user typed can break a line or a frame."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def syslog_message(record: Mapping[str, Any]) -> bytes:
    """One RFC 5424 message: the record's own time, this host, app name, pid, "audit" or "checkpoint", the JSON."""
    severity = 5 if record.get("is_security_event") else 6
    priority = SYSLOG_FACILITY_LOG_AUDIT * 8 + severity
    msgid = "checkpoint" if "checkpoint" in record else SYSLOG_MSGID
    hostname = "".join(char for char in socket.gethostname() if 33 <= ord(char) <= 126)[:255] or "-"
    header = f"<{priority}>1 {record['created_at']} {hostname} {SYSLOG_APP_NAME} {os.getpid()} {msgid} -"
    return f"{header} {record_json(record)}".encode("ascii")


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet-counting framing: the length, a space, the message."""
    return str(len(message)).encode("ascii") + b" " + message


# --- Delivering ----------------------------------------------------------------------------


def deliver(destination: Destination, records: list[dict[str, Any]]) -> None:
    """Hand ``records`` to the receiver; return only once it has them (see the module docstring)."""
    if destination.kind == "stdout":
        sys.stdout.write("".join(record_json(record) + "\n" for record in records))
        sys.stdout.flush()
    elif destination.kind == "file":
        _append_to_file(destination.path, records)
    elif destination.kind == "udp":
        _send_datagrams(destination, records)
    else:
        _send_stream(destination, records)


def _append_to_file(path: str, records: list[dict[str, Any]]) -> None:
    with open(path, "a", encoding="ascii") as stream:
        stream.write("".join(record_json(record) + "\n" for record in records))
        stream.flush()
        os.fsync(stream.fileno())


def _send_datagrams(destination: Destination, records: Iterable[dict[str, Any]]) -> None:
    address = socket.getaddrinfo(destination.host, destination.port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(address[0], socket.SOCK_DGRAM) as sock:
        sock.settimeout(SEND_TIMEOUT_SECONDS)
        # connect() makes the kernel report a closed port (ICMP) on a later send, where it can.
        sock.connect(address[4])
        for record in records:
            sock.send(syslog_message(record))


def _send_stream(destination: Destination, records: Iterable[dict[str, Any]]) -> None:
    payload = b"".join(octet_counted(syslog_message(record)) for record in records)
    raw = socket.create_connection((destination.host, destination.port), timeout=SEND_TIMEOUT_SECONDS)
    sock = raw
    try:
        if destination.kind == "tls":
            sock = ssl.create_default_context().wrap_socket(raw, server_hostname=destination.host)
        sock.sendall(payload)
        # Syslog never acknowledges. Our end-of-stream, then the receiver's close, says it read
        # everything before closing: only then may the cursor move.
        if isinstance(sock, ssl.SSLSocket):
            _end_tls_session(sock)
            return
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass
    finally:
        sock.close()
        raw.close()


def _end_tls_session(sock: ssl.SSLSocket) -> None:
    """Our close_notify (TLS's end-of-stream), then the receiver's close_notify or its plain close.

    Many servers close the connection after reading our close_notify without sending their
    own; that close, clean, still says they read to the end. A receiver that vanished with our
    bytes unread resets the connection instead (ConnectionResetError), and the batch fails.
    """
    with contextlib.suppress(ssl.SSLEOFError):
        sock.unwrap()


def _reason(error: BaseException) -> str:
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLError):
        return "TLS handshake or session failed"
    if isinstance(error, socket.gaierror):
        return "host name not found"
    return error.strerror or error.__class__.__name__ if isinstance(error, OSError) else error.__class__.__name__


# --- The run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShipResult:
    count: int
    first_id: int | None
    last_id: int | None
    cursor: int
    message: str


def ship_audit_events(
    *,
    destination: Destination,
    max_events: int = DEFAULT_MAX_EVENTS,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
) -> ShipResult:
    """Deliver up to ``max_events`` events after the cursor, oldest first, then move the cursor.

    A signed checkpoint (keypairs.audit_checkpoints) follows every ``checkpoint_every``-th
    event of the batch and its last one; its number moves with the cursor.

    Raises AnotherShipperRunning when another run holds the cursor (PostgreSQL), and
    ShippingError when the receiver did not take the batch (the cursor then stays put).
    """
    _ensure_cursor_row()
    with transaction.atomic(durable=True):
        cursor = _locked_cursor()
        rows = list(
            AuditEvent.objects.filter(id__gt=cursor.last_event_id)
            .order_by("id")
            .values(*SIGNED_FIELDS, "prev_hash", "row_hash")[:max_events]
        )
        if not rows:
            return ShipResult(
                0, None, None, cursor.last_event_id, NOTHING_TO_SHIP_MESSAGE.format(cursor=cursor.last_event_id)
            )
        first, last = rows[0]["id"], rows[-1]["id"]
        try:
            records, sequence = _with_checkpoints(
                rows, cursor.last_event_id, cursor.checkpoint_sequence, checkpoint_every
            )
            deliver(destination, records)
        except OSError as error:
            raise ShippingError(
                UNREACHABLE_MESSAGE.format(
                    first=first, last=last, destination=destination, reason=_reason(error), cursor=cursor.last_event_id
                )
            ) from error
        cursor.last_event_id, cursor.checkpoint_sequence = last, sequence
        cursor.updated_at = timezone.now()
        cursor.save(update_fields=["last_event_id", "checkpoint_sequence", "updated_at"])
    message = SHIPPED_MESSAGE.format(count=len(rows), first=first, last=last, destination=destination)
    return ShipResult(len(rows), first, last, last, message)


def _with_checkpoints(
    rows: list[dict[str, Any]], cursor_id: int, sequence: int, every: int
) -> tuple[list[dict[str, Any]], int]:
    # Counted once per batch, not once per checkpoint: the count reads every id up to the
    # cursor, and ten of them made 86% of a batch's time at a million rows (docs/benchmarks.md,
    # section 10). ``rows`` are all the events after the cursor, in id order (no late commits:
    # the module docstring), so the events up to the k-th of them are those up to the cursor
    # plus k.
    counted_before = AuditEvent.objects.filter(id__lte=cursor_id).count()
    records = []
    for position, row in enumerate(rows, start=1):
        records.append(event_record(row))
        if position % every == 0 or position == len(rows):
            sequence += 1
            records.append(
                checkpoint_record(
                    sequence=sequence,
                    event_id=row["id"],
                    head_hash=row["row_hash"],
                    when=timezone.now(),
                    event_count=counted_before + position,
                )
            )
    return records, sequence


def _ensure_cursor_row() -> None:
    """The cursor row exists before anyone locks it (two first runs may race to create it)."""
    if AuditShipCursor.objects.filter(pk=AuditShipCursor.SINGLETON_ID).exists():
        return
    try:
        with transaction.atomic():
            AuditShipCursor.objects.create(pk=AuditShipCursor.SINGLETON_ID)
    except IntegrityError:
        pass  # the other run made it


def _locked_cursor() -> AuditShipCursor:
    if connection.vendor != "postgresql":
        # SQLite: the IMMEDIATE transaction already holds the database's write lock.
        return AuditShipCursor.objects.get(pk=AuditShipCursor.SINGLETON_ID)
    try:
        return AuditShipCursor.objects.select_for_update(nowait=True).get(pk=AuditShipCursor.SINGLETON_ID)
    except DatabaseError as error:
        if getattr(error.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise AnotherShipperRunning(ANOTHER_SHIPPER_MESSAGE) from error
        raise


def configured_destination() -> Destination | None:
    """``AUDIT_SHIP_TO`` parsed; ValueError with a sentence when it names nothing we can ship to."""
    return parse_destination(settings.AUDIT_SHIP_TO)


@dataclass(frozen=True)
class ShippingStatus:
    """How far the log has been shipped, for the auditors' chain status line."""

    enabled: bool
    shipped_up_to: int  # the newest event id the receiver accepted (0: none yet)
    waiting: int  # events written since, not yet shipped
    last_delivery_at: Any  # datetime of the last delivery, or None


def shipping_status() -> ShippingStatus:
    """Where shipping stands: two primary-key reads (the cursor and the chain head)."""
    cursor = AuditShipCursor.objects.filter(pk=AuditShipCursor.SINGLETON_ID).first()
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).values_list("last_event_id", flat=True).first()
    shipped = cursor.last_event_id if cursor else 0
    return ShippingStatus(
        enabled=bool(settings.AUDIT_SHIP_TO),
        shipped_up_to=shipped,
        waiting=max((head or 0) - shipped, 0),
        last_delivery_at=cursor.updated_at if cursor else None,
    )
