"""Writing and verifying the audit log: an append-only chain of HMAC-signed events.

Threat model
------------
An auditor must be able to trust that the log says what happened. The model refuses to
change or delete events through the ORM, but someone with database access (a leaked backup
restored elsewhere, a careless ``UPDATE``, a malicious operator) could still edit, delete or
reorder rows with plain SQL. Each event therefore carries

    row_hash = HMAC-SHA256(AUDIT_HMAC_KEY, prev_hash + canonical(event content, id, created_at))

where ``prev_hash`` is the ``row_hash`` of the event before it (``GENESIS_HASH`` for the
first). Editing a row breaks its own hash; deleting or reordering rows breaks the links;
deleting the newest rows is caught by comparing with ``AuditChainHead``. Forging a
consistent chain needs ``AUDIT_HMAC_KEY``, which lives in the application's environment,
not in the database. What this cannot stop: someone holding both the key and write access
to the database, or one who deletes the newest rows and also rewinds the head row. For
those, ship the output of ``verify_audit`` (it includes the head hash at ``-v 2``) or
the log itself to a separate system, and give the application's database role no
``UPDATE``/``DELETE`` on ``keypairs_auditevent``.

Transactions
------------
An audit row must survive the failure it records. ``audit_record`` commits its row in its
own short transaction and REFUSES to run inside a caller's ``transaction.atomic`` block,
where a later rollback would silently erase a failure record. Record events after your
business transaction has committed or failed, or use ``audit_record_after_commit`` for
rows that only make sense if the transaction commits. The one exception is
``audit_record_with_the_work``, for the row that must commit with its work or not at all:
a private key handed out ("downloaded") is recorded in the claim's own transaction, so that
a failed append leaves the key in place instead of wiped and unrecorded.

Concurrency
-----------
Each append locks the single ``AuditChainHead`` row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite every transaction takes the write lock up front because settings use
``transaction_mode="IMMEDIATE"``), reads the newest hash, inserts, and moves the head. Two
writers can therefore never chain to the same predecessor; ``prev_hash`` is also unique in
the database, so a fork would fail loudly rather than be stored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpRequest
from django.utils import timezone

from keypairs.models import AuditChainHead, AuditEvent
from portal.client_address import client_address

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64

# The fields signed into row_hash, in a fixed order. Adding a field here changes every
# hash: it would need a new chain version, so extend with care.
SIGNED_FIELDS = (
    "id",
    "created_at",
    "actor_username",
    "actor_subject",
    "source_ip",
    "user_agent",
    "action",
    "outcome",
    "is_security_event",
    "region",
    "keypair_name",
    "keypair_id",
    "bcc_request_id",
    "bcc_error_code",
    "latency_ms",
    "portal_request_id",
    "detail",
)

INSIDE_TRANSACTION_MESSAGE = (
    "audit_record() was called inside transaction.atomic(). An audit row written there would be "
    "rolled back with the transaction it records; call it after the transaction has committed "
    "or failed, or use audit_record_after_commit()."
)


class AuditInsideTransactionError(RuntimeError):
    """audit_record was called where a rollback could silently erase the row."""


# --- Writing ------------------------------------------------------------------------------


def audit_record(**fields: Any) -> AuditEvent:
    """Append one event to the audit log and commit it at once; ``fields`` as ``event_content`` takes them.

    Raises AuditInsideTransactionError when called inside ``transaction.atomic``: a row
    recording a failure must survive the rollback of the work it records.
    """
    ensure_outside_transaction()
    content = event_content(**fields)
    with transaction.atomic(durable=True):
        return _append(content)


def audit_record_with_the_work(**fields: Any) -> AuditEvent:
    """Append a success event inside the caller's transaction: it commits if and only if the work does.

    For the one row whose absence must mean the work did not happen: "downloaded". Written
    after the claim, it could fail once the key was already wiped, and the key would be lost
    unrecorded; written with the claim, a failed append rolls the claim back and the key stays
    for another try. Failures and refusals still go through ``audit_record``. The chain head
    is locked until the caller commits, so keep the rest of the transaction short.
    """
    if not transaction.get_connection(DEFAULT_DB_ALIAS).in_atomic_block:
        raise RuntimeError("audit_record_with_the_work() belongs inside the transaction of the work it records.")
    content = event_content(**fields)
    with transaction.atomic():  # a savepoint: a failed append leaves the caller's transaction usable
        return _append(content)


def event_content(
    *,
    action: str,
    outcome: str,
    actor=None,
    request: HttpRequest | None = None,
    region: str = "",
    keypair_name: str = "",
    keypair_id: str = "",
    bcc_request_id: str = "",
    bcc_error_code: str = "",
    latency_ms: int | None = None,
    detail: str = "",
    is_security_event: bool = False,
    source_ip: str | None = None,
    user_agent: str | None = None,
    portal_request_id: str | None = None,
    actor_username: str = "",
    actor_subject: str = "",
) -> dict[str, Any]:
    """The columns of one event, checked and fitted, before it is chained.

    ``actor`` is a User (or None for the system). ``request`` supplies the source IP
    (the client's, ``portal.client_address``), user agent and portal request id; ``source_ip``, ``user_agent`` and
    ``portal_request_id`` override it for callers that have no HttpRequest. ``actor_username``
    names an actor without an account (a refused sign-in). ``detail`` is short human text:
    never a private key, download token or secret key.
    """
    if action not in AuditEvent.Action.values:
        raise ValueError(f"Unknown audit action {action!r}.")
    if outcome not in AuditEvent.Outcome.values:
        raise ValueError(f"Unknown audit outcome {outcome!r}.")

    content = _content_from(
        actor=actor,
        request=request,
        source_ip=source_ip,
        user_agent=user_agent,
        portal_request_id=portal_request_id,
        actor_username=actor_username,
        actor_subject=actor_subject,
    )
    content.update(
        action=action,
        outcome=outcome,
        is_security_event=bool(is_security_event),
        region=region,
        keypair_name=keypair_name,
        keypair_id=keypair_id,
        bcc_request_id=bcc_request_id,
        bcc_error_code=bcc_error_code,
        latency_ms=None if latency_ms is None else max(0, int(latency_ms)),
        detail=detail,
    )
    return _fit_to_columns(content)


def _append(content: dict[str, Any]) -> AuditEvent:
    """Chain one event after the head, under the head's row lock (the caller holds a transaction)."""
    head = _locked_head()
    event = AuditEvent(
        id=head.last_event_id + 1,
        # Taken under the lock, so created_at never goes backwards along the chain.
        created_at=timezone.now(),
        prev_hash=head.last_hash,
        **content,
    )
    event.row_hash = row_hash(prev_hash=event.prev_hash, values=_signed_values_of(event))
    event.save()
    head.last_event_id = event.id
    head.last_hash = event.row_hash
    head.updated_at = event.created_at
    head.save(update_fields=["last_event_id", "last_hash", "updated_at"])
    return event


def audit_record_after_commit(**kwargs: Any) -> None:
    """Record an event once the surrounding transaction commits; nothing if it rolls back.

    For success rows only ("created", "downloaded"): a failure must be recorded with
    ``audit_record`` outside the transaction, where a rollback cannot erase it.
    """
    transaction.on_commit(lambda: audit_record(**kwargs))


def ensure_outside_transaction() -> None:
    """Raise AuditInsideTransactionError inside a caller's atomic block (test-case blocks excepted).

    Services that audit after their own transaction commits call this first, so that they
    fail before changing anything rather than after.
    """
    connection = transaction.get_connection(DEFAULT_DB_ALIAS)
    # Test cases wrap each test in atomic blocks marked _from_testcase (Django's own rule
    # for durable blocks); those are not a caller's business transaction.
    caller_blocks = [block for block in connection.atomic_blocks if not block._from_testcase]
    manual_transaction = not connection.in_atomic_block and not connection.get_autocommit()
    if caller_blocks or manual_transaction:
        raise AuditInsideTransactionError(INSIDE_TRANSACTION_MESSAGE)


def _content_from(
    *,
    actor,
    request: HttpRequest | None,
    source_ip: str | None,
    user_agent: str | None,
    portal_request_id: str | None,
    actor_username: str,
    actor_subject: str,
) -> dict[str, Any]:
    if actor is not None and getattr(actor, "is_authenticated", False):
        actor_username = actor.get_username()
    if request is not None:
        if source_ip is None:
            source_ip = client_address(request)
        if user_agent is None:
            user_agent = request.META.get("HTTP_USER_AGENT", "")
        if portal_request_id is None:
            # The portal's own id first: RequestIdMiddleware does not trust one sent by clients.
            portal_request_id = getattr(request, "request_id", "") or request.META.get("HTTP_X_REQUEST_ID", "")
    return {
        "actor_username": actor_username,
        "actor_subject": actor_subject,
        "source_ip": normalize_ip(source_ip),
        "user_agent": user_agent or "",
        "portal_request_id": portal_request_id or "",
    }


def _fit_to_columns(content: dict[str, Any]) -> dict[str, Any]:
    """Truncate text to its column (SQLite would not, PostgreSQL would refuse the row).

    NUL characters are dropped too: PostgreSQL text cannot hold them.
    """
    fitted = dict(content)
    for name, value in content.items():
        if isinstance(value, str) and name != "source_ip":
            max_length = AuditEvent._meta.get_field(name).max_length
            fitted[name] = value.replace("\x00", "")[:max_length]
    return fitted


def _locked_head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(pk=AuditChainHead.SINGLETON_ID).first()
    if head is not None:
        return head
    # First event ever (or the head was lost): start from the newest event, if any.
    newest = AuditEvent.objects.order_by("-id").values_list("id", "row_hash").first()
    if newest is not None:
        logger.warning("Audit chain head was missing; rebuilt it from event #%s.", newest[0])
    last_event_id, last_hash = newest or (0, GENESIS_HASH)
    AuditChainHead.objects.get_or_create(
        pk=AuditChainHead.SINGLETON_ID,
        defaults={"last_event_id": last_event_id, "last_hash": last_hash},
    )
    return AuditChainHead.objects.select_for_update().get(pk=AuditChainHead.SINGLETON_ID)


# --- Hashing ------------------------------------------------------------------------------


def normalize_ip(value: str | None) -> str | None:
    """One spelling per address, so that the hash does not depend on how a database stores it."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def _signed_values_of(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in SIGNED_FIELDS}


def canonical_content(values: Mapping[str, Any]) -> str:
    """The signed fields as compact, key-sorted JSON with one representation per value."""
    canonical: dict[str, Any] = {}
    for name in SIGNED_FIELDS:
        value = values[name]
        if name == "created_at":
            value = _canonical_time(value)
        elif name == "source_ip":
            value = normalize_ip(value)
        elif name == "is_security_event":
            value = bool(value)
        canonical[name] = value
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _canonical_time(value: datetime) -> str:
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(*, prev_hash: str, values: Mapping[str, Any]) -> str:
    """HMAC-SHA256 hex of the previous hash and this event's canonical content."""
    message = (prev_hash + "\n" + canonical_content(values)).encode("utf-8")
    return hmac.new(_hmac_key(), message, hashlib.sha256).hexdigest()


def _hmac_key() -> bytes:
    key = settings.AUDIT_HMAC_KEY
    if not key:
        raise RuntimeError("AUDIT_HMAC_KEY is empty; the audit log cannot be signed.")
    return key.encode("utf-8")


# --- Verifying ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationResult:
    """What ``audit_verify`` found: ``ok``, or the first broken event and why.

    ``problem`` is one of the ``PROBLEM_*`` constants (empty when ``ok``), for code to branch
    on; ``message`` is the sentence for people.
    """

    ok: bool
    events_checked: int
    head_hash: str = GENESIS_HASH
    broken_event_id: int | None = None
    problem: str = ""
    message: str = ""


PROBLEM_EDITED = "edited"
PROBLEM_MISSING = "missing"
PROBLEM_REORDERED = "reordered"
PROBLEM_TRUNCATED = "truncated"
PROBLEM_HEAD_MISSING = "head_missing"

VERIFIED_MESSAGE = "Audit chain verified: {count} events."
EDITED_MESSAGE = "Event #{id} was changed after it was written: its content does not match its signature."
MISSING_MESSAGE = "Event #{id} does not link to {previous}: an event between them was deleted or the link was altered."
REORDERED_MESSAGE = (
    "Event #{id} is out of order: the event that follows {previous} is stored as #{successor} "
    "(rows were swapped or reordered)."
)
TRUNCATED_MESSAGE = (
    "The newest events were deleted: the chain head records event #{head_id}, but the log ends at {last}."
)
HEAD_MISSING_MESSAGE = "The audit chain head is missing, so deleted newest events could not be detected."

DEFAULT_BATCH_SIZE = 2000


def audit_verify(*, batch_size: int = DEFAULT_BATCH_SIZE) -> VerificationResult:
    """Walk the whole chain in id order, in batches, and report the first break.

    Events appended while the walk runs are left for the next run: the walk stops at the
    head as it was when it began, so that the head comparison is exact.
    """
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).values("last_event_id", "last_hash").first()
    events = AuditEvent.objects.order_by("id").values(*SIGNED_FIELDS, "prev_hash", "row_hash")
    if head is not None:
        events = events.filter(id__lte=head["last_event_id"])

    expected_prev, last_id, count = GENESIS_HASH, 0, 0
    while True:
        batch = list(events.filter(id__gt=last_id)[:batch_size])
        if not batch:
            break
        for row in batch:
            if not hmac.compare_digest(row["prev_hash"], expected_prev):
                return _broken_link(row, expected_prev=expected_prev, last_id=last_id, count=count)
            if not hmac.compare_digest(row_hash(prev_hash=row["prev_hash"], values=row), row["row_hash"]):
                return _failed(count, row["id"], PROBLEM_EDITED, EDITED_MESSAGE.format(id=row["id"]))
            expected_prev, last_id, count = row["row_hash"], row["id"], count + 1

    if head is None:
        if count:
            return _failed(count, None, PROBLEM_HEAD_MISSING, HEAD_MISSING_MESSAGE)
    elif head["last_event_id"] != last_id or head["last_hash"] != expected_prev:
        last = f"#{last_id}" if last_id else "nothing"
        message = TRUNCATED_MESSAGE.format(head_id=head["last_event_id"], last=last)
        return _failed(count, None, PROBLEM_TRUNCATED, message)
    return VerificationResult(
        ok=True, events_checked=count, head_hash=expected_prev, message=VERIFIED_MESSAGE.format(count=count)
    )


def _broken_link(row: Mapping[str, Any], *, expected_prev: str, last_id: int, count: int) -> VerificationResult:
    previous = f"event #{last_id}" if last_id else "the start of the log"
    # Whichever row really links to the last good event tells a reorder from a deletion.
    successor = AuditEvent.objects.filter(prev_hash=expected_prev).values_list("id", flat=True).first()
    if successor is not None and successor != row["id"]:
        message = REORDERED_MESSAGE.format(id=row["id"], previous=previous, successor=successor)
        return _failed(count, row["id"], PROBLEM_REORDERED, message)
    return _failed(count, row["id"], PROBLEM_MISSING, MISSING_MESSAGE.format(id=row["id"], previous=previous))


def _failed(count: int, event_id: int | None, problem: str, message: str) -> VerificationResult:
    return VerificationResult(
        ok=False, events_checked=count, broken_event_id=event_id, problem=problem, message=message
    )
