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
deleting the newest rows is caught by comparing with ``AuditChainHead`` (its event id AND
its hash). Forging a consistent chain needs ``AUDIT_HMAC_KEY``, which lives in the
application's environment, not in the database. What this cannot stop: someone holding both
the key and write access to the database, or one who deletes the newest rows and also
rewinds the head row to the new newest row (id and hash). Detecting that needs a copy of the
head outside the database: ship the output of ``verify_audit`` (it includes the head hash at
``-v 2``) or the log itself to a separate system, and give the application's database role
no ``UPDATE``/``DELETE`` on ``keypairs_auditevent``.

Rows the chain does not account for
-----------------------------------
A database role with ``INSERT`` alone (the advice above) can still add rows. ``audit_verify``
walks every row of the table in id order, not just up to the head, and reports each row
that is not a link of the chain (past the head, or between its events). Such a row never
blocks the portal's own writes: an append takes the id after the highest one in the table,
chains after the head's true hash (``prev_hash`` is indexed, not unique, so a foreign row
claiming the head as its predecessor cannot take that link away), and logs an alarm.

A missing head row is rebuilt from the newest event, and the rebuild is itself recorded as a
security event (``chain_head_rebuilt``): rows deleted together with the head cannot be told
from a shorter log, so ``audit_verify`` reports every rebuild until an auditor acknowledges
it in the admin (``chain_problem_acknowledged``, written by ``audit_acknowledge``).

Transactions
------------
An audit row must survive the failure it records. ``audit_record`` commits its row in its
own short transaction and REFUSES to run inside a caller's ``transaction.atomic`` block,
where a later rollback would silently erase a failure record. Record events after your
business transaction has committed or failed. The one exception is
``audit_record_with_the_work``, for the row that must commit with its work or not at all:
a private key handed out ("downloaded") is recorded in the claim's own transaction, so that
a failed append leaves the key in place instead of wiped and unrecorded.

Concurrency
-----------
Each append locks the single ``AuditChainHead`` row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite every transaction takes the write lock up front because settings use
``transaction_mode="IMMEDIATE"``), reads the newest hash, inserts, and moves the head. Two
writers can therefore never chain to the same predecessor; a fork written around the lock
would show in ``audit_verify`` as a row the chain does not account for.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Max
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
    "or failed."
)


# A user agent is chosen by whoever sends the request: kept short and printable in every row.
USER_AGENT_MAX_LENGTH = 256

HEAD_REBUILT_DETAIL = "chain head rebuilt: {count} events, last hash {last_hash}"
ACKNOWLEDGED_DETAIL = "Acknowledged the chain head rebuilt at event #{ids}."
FOREIGN_ROWS_ALARM = (
    "Audit rows the portal did not write sit past the chain head (highest id #%s, head at #%s); "
    "the next event chains after the head, and verify_audit reports those rows."
)


class AuditInsideTransactionError(RuntimeError):
    """audit_record was called where a rollback could silently erase the row."""


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for audit rows: source address, user agent, portal request id.

    Made once per request by ``origin_of`` and handed whole to services and to ``audit_record``
    (``origin=``), so no caller copies its fields one by one. ``Origin()`` is the system's own
    origin (a management command): no address, no user agent, no request id.
    """

    source_ip: str | None = None
    user_agent: str = ""
    portal_request_id: str = ""


# The longest user agent an Origin keeps (the width of Delivery.claimed_user_agent); audit rows
# cut it further to USER_AGENT_MAX_LENGTH.
ORIGIN_USER_AGENT_MAX_LENGTH = 512


def origin_of(request: HttpRequest) -> Origin:
    """The origin of a request: the client's address (``portal.client_address``), its user agent, our request id."""
    return Origin(
        source_ip=client_address(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:ORIGIN_USER_AGENT_MAX_LENGTH],
        portal_request_id=getattr(request, "request_id", ""),
    )


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
    origin: Origin | None = None,
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

    ``actor`` is a User (or None for the system). ``origin`` (an ``Origin``, what services
    carry) or ``request`` supplies the source IP (the client's, ``portal.client_address``),
    user agent and portal request id; ``source_ip``, ``user_agent`` and ``portal_request_id``
    are for callers that have neither (sign-in hooks, refusal summaries). ``actor_username``
    names an actor without an account (a refused sign-in). ``detail`` is short human text:
    never a private key, download token or secret key.
    """
    if action not in AuditEvent.Action.values:
        raise ValueError(f"Unknown audit action {action!r}.")
    if outcome not in AuditEvent.Outcome.values:
        raise ValueError(f"Unknown audit outcome {outcome!r}.")
    if origin is not None:
        if request is not None or source_ip is not None or user_agent is not None or portal_request_id is not None:
            raise TypeError("Pass origin= alone: it already says where the request came from.")
        source_ip, user_agent, portal_request_id = origin.source_ip, origin.user_agent, origin.portal_request_id

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
    return _chain_after(_locked_head(), content)


def _chain_after(head: AuditChainHead, content: dict[str, Any]) -> AuditEvent:
    """Insert ``content`` after ``head`` (locked by the caller) and move the head to it.

    The id is the next free one, not just the head's plus one: a row someone inserted past the
    head with plain SQL must not make every later write fail. It is left where it is, for
    ``audit_verify`` to report, and the log gets an alarm.
    """
    highest = AuditEvent.objects.filter(id__gt=head.last_event_id).aggregate(highest=Max("id"))["highest"]
    if highest is not None:
        logger.error(FOREIGN_ROWS_ALARM, highest, head.last_event_id)
    event = AuditEvent(
        id=max(head.last_event_id, highest or 0) + 1,
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
        "user_agent": clean_user_agent(user_agent),
        "portal_request_id": portal_request_id or "",
    }


def clean_user_agent(value: str | None) -> str:
    """At most USER_AGENT_MAX_LENGTH characters, without control characters.

    Anyone can send any user agent: a long one would fill rows, and control characters
    (newlines, escapes) could disguise a row in a terminal or an export.
    """
    printable = "".join(char for char in (value or "") if unicodedata.category(char) != "Cc")
    return printable[:USER_AGENT_MAX_LENGTH]


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
    last_event_id, last_hash = newest or (0, GENESIS_HASH)
    _, created = AuditChainHead.objects.get_or_create(
        pk=AuditChainHead.SINGLETON_ID,
        defaults={"last_event_id": last_event_id, "last_hash": last_hash},
    )
    head = AuditChainHead.objects.select_for_update().get(pk=AuditChainHead.SINGLETON_ID)
    if created and newest is not None:
        _record_head_rebuilt(head)
    return head


def _record_head_rebuilt(head: AuditChainHead) -> None:
    """A lost head is a security event: rows deleted with it cannot be told from a shorter log.

    Written in the same transaction as the rebuilt head, before the event that found it
    missing, so that a rebuild is never without its row. ``audit_verify`` reports it until an
    auditor acknowledges it.
    """
    count = AuditEvent.objects.count()
    logger.error("Audit chain head was missing; rebuilt it from event #%s.", head.last_event_id)
    detail = HEAD_REBUILT_DETAIL.format(count=count, last_hash=head.last_hash)
    _chain_after(
        head,
        event_content(
            action=AuditEvent.Action.CHAIN_HEAD_REBUILT,
            outcome=AuditEvent.Outcome.FAILURE,
            is_security_event=True,
            detail=detail,
        ),
    )


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
    on; ``message`` is the sentence for people. ``foreign_event_ids`` lists rows of the table
    that are not links of the chain (the first ``FOREIGN_IDS_SHOWN`` of them), and
    ``rebuilt_head_ids`` the head rebuilds no auditor has acknowledged yet.
    """

    ok: bool
    events_checked: int
    head_hash: str = GENESIS_HASH
    broken_event_id: int | None = None
    problem: str = ""
    message: str = ""
    foreign_event_ids: tuple[int, ...] = ()
    rebuilt_head_ids: tuple[int, ...] = ()


PROBLEM_EDITED = "edited"
PROBLEM_MISSING = "missing"
PROBLEM_REORDERED = "reordered"
PROBLEM_TRUNCATED = "truncated"
PROBLEM_HEAD_MISSING = "head_missing"
PROBLEM_FOREIGN = "foreign"
PROBLEM_HEAD_REBUILT = "head_rebuilt"

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
HEAD_HASH_MESSAGE = (
    "The chain head does not match the log: it records event #{head_id} with another hash than "
    "that event's (the head or the newest events were altered)."
)
HEAD_BEHIND_MESSAGE = (
    "The chain head records event #{head_id}, but the chain goes on to #{last}: the head was wound back."
)
HEAD_MISSING_MESSAGE = "The audit chain head is missing, so deleted newest events could not be detected."
FOREIGN_MESSAGE = (
    "{count} row(s) in the audit table are not part of the chain (written outside the portal, "
    "past the head or between its events): #{ids}."
)
HEAD_REBUILT_MESSAGE = (
    "The chain head was lost and rebuilt (event #{ids}): newest events deleted with it cannot be "
    "detected. An auditor must review and acknowledge it."
)

DEFAULT_BATCH_SIZE = 2000
FOREIGN_IDS_SHOWN = 20


def audit_verify(*, batch_size: int = DEFAULT_BATCH_SIZE) -> VerificationResult:
    """Walk every row of the table in id order, in batches, and report what the chain cannot account for.

    Each row must link to the chain so far and carry a valid signature. A row that does not
    is *foreign* (reported, the walk goes on) when it lies past the head or when a later row
    is the chain's true next link; otherwise it is the first break, and the walk stops there.
    The walk ends at the head (id and hash both compared); events appended while it runs
    extend it, since the head is read again at the end.
    """
    events = AuditEvent.objects.order_by("id").values(*SIGNED_FIELDS, "prev_hash", "row_hash")
    walk = _Walk()
    head = _head()
    last_read: int | None = None
    while True:
        page = events if last_read is None else events.filter(id__gt=last_read)
        batch = list(page[:batch_size])
        if not batch:
            # Events appended while the walk ran moved the head: read on to the new head.
            moved = _head()
            if moved == head:
                break
            head = moved
            continue
        for row in batch:
            last_read = row["id"]
            broken = walk.take(row, head_id=head["last_event_id"] if head is not None else None)
            if broken is not None:
                return broken
    return walk.result(head)


def _head() -> dict[str, Any] | None:
    return AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).values("last_event_id", "last_hash").first()


class _Walk:
    """The state of one walk along the chain: the last link, the foreign rows, the rebuilt heads."""

    def __init__(self) -> None:
        self.expected_prev, self.last_id, self.count = GENESIS_HASH, 0, 0
        self.foreign: list[int] = []
        self.foreign_count = 0
        self.unacknowledged_rebuilds: list[int] = []

    def take(self, row: Mapping[str, Any], *, head_id: int | None) -> VerificationResult | None:
        linked = hmac.compare_digest(row["prev_hash"], self.expected_prev)
        signed = hmac.compare_digest(row_hash(prev_hash=row["prev_hash"], values=row), row["row_hash"])
        if linked and signed:
            self.expected_prev, self.last_id, self.count = row["row_hash"], row["id"], self.count + 1
            if row["action"] == AuditEvent.Action.CHAIN_HEAD_REBUILT:
                self.unacknowledged_rebuilds.append(row["id"])
            elif row["action"] == AuditEvent.Action.CHAIN_PROBLEM_ACKNOWLEDGED:
                self.unacknowledged_rebuilds.clear()
            return None
        if (head_id is not None and row["id"] > head_id) or self._true_link_comes_later(row["id"]):
            self.foreign_count += 1
            if len(self.foreign) < FOREIGN_IDS_SHOWN:
                self.foreign.append(row["id"])
            return None
        if linked:
            return self._failed(row["id"], PROBLEM_EDITED, EDITED_MESSAGE.format(id=row["id"]))
        return self._broken_link(row)

    def _true_link_comes_later(self, row_id: int) -> bool:
        """Whether a later row links to the chain so far with a valid signature (``row_id`` is then an intruder)."""
        candidates = AuditEvent.objects.filter(prev_hash=self.expected_prev, id__gt=row_id)
        for candidate in candidates.values(*SIGNED_FIELDS, "prev_hash", "row_hash")[:5]:
            if hmac.compare_digest(row_hash(prev_hash=candidate["prev_hash"], values=candidate), candidate["row_hash"]):
                return True
        return False

    def _broken_link(self, row: Mapping[str, Any]) -> VerificationResult:
        previous = f"event #{self.last_id}" if self.last_id else "the start of the log"
        # Whichever row really links to the last good event tells a reorder from a deletion.
        successor = AuditEvent.objects.filter(prev_hash=self.expected_prev).values_list("id", flat=True).first()
        if successor is not None and successor != row["id"]:
            message = REORDERED_MESSAGE.format(id=row["id"], previous=previous, successor=successor)
            return self._failed(row["id"], PROBLEM_REORDERED, message)
        return self._failed(row["id"], PROBLEM_MISSING, MISSING_MESSAGE.format(id=row["id"], previous=previous))

    def result(self, head: Mapping[str, Any] | None) -> VerificationResult:
        problems: list[tuple[str, str]] = []
        if head is None:
            if self.count:
                problems.append((PROBLEM_HEAD_MISSING, HEAD_MISSING_MESSAGE))
        elif head["last_event_id"] > self.last_id:
            last = f"#{self.last_id}" if self.last_id else "nothing"
            problems.append((PROBLEM_TRUNCATED, TRUNCATED_MESSAGE.format(head_id=head["last_event_id"], last=last)))
        elif head["last_event_id"] < self.last_id:
            message = HEAD_BEHIND_MESSAGE.format(head_id=head["last_event_id"], last=self.last_id)
            problems.append((PROBLEM_TRUNCATED, message))
        elif not hmac.compare_digest(head["last_hash"], self.expected_prev):
            problems.append((PROBLEM_TRUNCATED, HEAD_HASH_MESSAGE.format(head_id=head["last_event_id"])))
        if self.foreign_count:
            ids = ", #".join(str(event_id) for event_id in self.foreign)
            if self.foreign_count > len(self.foreign):
                ids += ", ..."
            problems.append((PROBLEM_FOREIGN, FOREIGN_MESSAGE.format(count=self.foreign_count, ids=ids)))
        if self.unacknowledged_rebuilds:
            ids = ", #".join(str(event_id) for event_id in self.unacknowledged_rebuilds)
            problems.append((PROBLEM_HEAD_REBUILT, HEAD_REBUILT_MESSAGE.format(ids=ids)))
        if problems:
            return self._failed(None, problems[0][0], " ".join(message for _, message in problems))
        return VerificationResult(
            ok=True,
            events_checked=self.count,
            head_hash=self.expected_prev,
            message=VERIFIED_MESSAGE.format(count=self.count),
        )

    def _failed(self, event_id: int | None, problem: str, message: str) -> VerificationResult:
        broken = event_id if event_id is not None else (self.foreign[0] if self.foreign else None)
        return VerificationResult(
            ok=False,
            events_checked=self.count,
            head_hash=self.expected_prev,
            broken_event_id=broken,
            problem=problem,
            message=message,
            foreign_event_ids=tuple(self.foreign),
            rebuilt_head_ids=tuple(self.unacknowledged_rebuilds),
        )


# --- Acknowledging -------------------------------------------------------------------------


def unacknowledged_head_rebuilds() -> list[int]:
    """Head rebuilds recorded after the last acknowledgement (two indexed lookups, for the admin).

    The authoritative answer is ``audit_verify``'s, which counts only rows that are links of
    the chain; this one is what the admin uses to offer the "acknowledge" button.
    """
    acknowledged = (
        AuditEvent.objects.filter(action=AuditEvent.Action.CHAIN_PROBLEM_ACKNOWLEDGED)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    rebuilt = AuditEvent.objects.filter(action=AuditEvent.Action.CHAIN_HEAD_REBUILT, id__gt=acknowledged or 0)
    return list(rebuilt.order_by("id").values_list("id", flat=True))


def audit_acknowledge(*, actor, request: HttpRequest | None = None) -> AuditEvent | None:
    """An auditor acknowledges the head rebuilds reported so far; None when there is nothing to acknowledge.

    The acknowledgement is itself a chained event, so who acknowledged what, and when, is
    part of the log; ``audit_verify`` stops reporting the rebuilds that came before it.
    """
    rebuilt = unacknowledged_head_rebuilds()
    if not rebuilt:
        return None
    return audit_record(
        action=AuditEvent.Action.CHAIN_PROBLEM_ACKNOWLEDGED,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=actor,
        request=request,
        is_security_event=True,
        detail=ACKNOWLEDGED_DETAIL.format(ids=", #".join(str(event_id) for event_id in rebuilt)),
    )
