"""Reconciling creates whose outcome the portal does not know: find the key pair, delete it, record, tell.

Why
---
A create BCC may have committed without the portal getting the answer (a read timeout, a
dropped connection, a gateway's error page, a worker that died mid-call) may have left a key
pair in BCC whose private key nobody will ever see: BCC hands it out once, in the answer that
was lost. Such a key pair is useless and takes a place in the quota everyone shares. The
create service reconciles at once (``keypairs.services.create``); ``manage.py reconcile`` (cron) does
the same for creates still open later: ``unknown`` ones, and ``pending`` ones whose worker died.

Which key pair "was created by that request"
--------------------------------------------
The portal lists the request's name in its region (``list_keypairs(name=...)``). BCC allows
duplicate names, so a listed key pair counts as this request's only when

- its ``createdTime`` is at or after the moment the intent was recorded, less ``CLOCK_SKEW``
  (the two clocks differ a little; BCC refuses signatures from a clock far off its own), and
- no other ``KeyPairRequest`` names it: it is not a key pair someone holds the private key
  of, nor one another reconciliation has already claimed.

The earliest such key pair is taken. The service account is the portal's own (developers never
hold its credentials), so a key pair of this name, created after this intent and unknown to the
portal, is an orphan of this create or of another lost create of the same name: deleting it is
right either way. While another create of the same region and name is still in flight (a recent
``pending`` request), its key pair would look just the same, so the decision waits for a later
run. BCC's list is read before the portal's own rows, so a concurrent create that BCC already
committed shows in the database either as in flight or as created, with its id.

Why not replay the create with the same clientToken
---------------------------------------------------
The sandbox, following BCE's general clientToken rule, answers a replay with the key pair the
first call made, which would identify it exactly. But BCC does not document clientToken for key
pairs: where it is ignored, or when the first call never arrived, the replay *creates* a key
pair (one more private key to dispose of), and a replay that times out is one more unknown
outcome. A check that can create things is not a check, so reconciliation only lists and deletes.

When "nothing was created" is an answer
---------------------------------------
BCC can still act on a create after the portal gave up waiting (it was slow to read it; the
sandbox's ``latency`` fault does exactly that). Finding nothing right after the timeout is
therefore not conclusive: the request stays ``unknown``, the user is told nothing was created
so far and may try again, and a later run settles it as ``failed`` only once it is older than
``settle_after()`` (twice the longest a create can take), deleting the key pair if one appeared.

Concurrency
-----------
The user's request and cron, or two cron runs, can reconcile one request at once, and a slow
worker may still get its answer. Every change is conditional, and no database lock is held
while BCC is called:

- a stale ``pending`` request is taken over with ``pending -> unknown`` where it is still
  pending; the create service stores an answer only while its row is still ``pending``, so
  exactly one of the two goes on;
- the key pair found is claimed (its id written on the request) in a transaction that locks
  every request of that region and name, so two requests never claim one key pair;
- ``unknown -> reconciled | failed`` applies only to a request still unknown, and only the
  run that made the change writes the audit row.

Deleting is idempotent (a key pair already gone counts as deleted), and a claimed key pair
whose delete failed is deleted by the next run without a second lookup. Anything that stops a
lookup or a delete (BCC unreachable, a refused delete, a region no longer in ``BCC_REGIONS``)
leaves the request open with a reason, and the other requests are still reconciled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from keypairs import messages
from keypairs.audit import Origin, audit_record, ensure_outside_transaction
from keypairs.bcc import errors
from keypairs.bcc.factory import get_client
from keypairs.bcc.fingerprints import sha256_fingerprint_or_blank
from keypairs.bcc.models import Keypair
from keypairs.models import AuditEvent, KeyPairRequest

logger = logging.getLogger(__name__)

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Status = KeyPairRequest.Status

# How far BCC's clock may be behind the portal's when comparing createdTime with the intent.
CLOCK_SKEW = timedelta(seconds=60)
# Codes on audit rows (and the request's error_code for a lost worker).
WORKER_LOST = "worker_lost"
NOT_CREATED = "reconciled_not_created"

DETAIL_DELETED = "created by this request, private key lost: deleted in BCC"
DETAIL_NOT_CREATED = "reconciled: BCC holds no key pair this request created"
DETAIL_KEPT = "import outcome was unknown: key pair found in BCC by name and fingerprint, kept"
DETAIL_WORKER_LOST = "no outcome recorded within {seconds} s: the worker handling the create stopped"
BY_COMMAND = " (manage.py reconcile)"


class Verdict(StrEnum):
    DELETED = "deleted"  # found and deleted: the request is now reconciled
    KEPT = "kept"  # an import's key pair found: kept, the request is now created
    NOT_CREATED = "not_created"  # nothing found, and late enough to be sure: now failed
    NOT_CREATED_YET = "not_created_yet"  # nothing found so far: stays unknown, a later run decides
    WAITING = "waiting"  # a create of the same name is in flight: stays unknown, a later run decides
    FAILED = "failed"  # BCC could not be asked, or the delete failed: stays unknown, operators should look
    SETTLED = "settled"  # no longer open: settled meanwhile by someone else, or never open


@dataclass(frozen=True)
class Reconciliation:
    """What one reconciliation found. ``keypair_request`` is re-read afterwards.

    ``reason`` says why it stays open, for logs and the command's output (never for users:
    the request's ``error_message`` is the user's sentence).
    """

    keypair_request: KeyPairRequest
    verdict: Verdict
    keypair_id: str = ""
    reason: str = ""

    @property
    def settled(self) -> bool:
        return self.verdict not in (Verdict.NOT_CREATED_YET, Verdict.WAITING, Verdict.FAILED)


def settle_after() -> timedelta:
    """How old an open create must be before a lookup that finds nothing settles it.

    ``KEYPAIR_RECONCILE_AFTER_SECONDS``, or twice the longest a create can take: every connect
    attempt, then the whole read timeout. A ``pending`` request older than this lost its worker.
    """
    configured = settings.KEYPAIR_RECONCILE_AFTER_SECONDS
    if configured is not None:
        return timedelta(seconds=configured)
    longest = settings.BCC_MAX_ATTEMPTS * settings.BCC_CONNECT_TIMEOUT + settings.BCC_READ_TIMEOUT
    return timedelta(seconds=math.ceil(2 * longest))


def open_requests(*, now: datetime | None = None):
    """The requests to reconcile, oldest first: every ``unknown`` one and every stale ``pending`` one."""
    stale = (now or timezone.now()) - settle_after()
    return KeyPairRequest.objects.filter(
        Q(status=Status.UNKNOWN) | Q(status=Status.PENDING, created_at__lte=stale)
    ).order_by("created_at", "pk")


def reconcile_open(*, now: datetime | None = None) -> list[Reconciliation]:
    """Reconcile every open request (what ``manage.py reconcile`` runs)."""
    ensure_outside_transaction()
    now = now or timezone.now()
    ids = list(open_requests(now=now).values_list("pk", flat=True))
    results = []
    for pk in ids:
        keypair_request = KeyPairRequest.objects.select_related("owner").get(pk=pk)
        results.append(keypair_reconcile(keypair_request=keypair_request, now=now))
    return results


def keypair_reconcile(
    *, keypair_request: KeyPairRequest, origin: Origin | None = None, now: datetime | None = None
) -> Reconciliation:
    """Settle one open create: delete the key pair it made, or record that it made none.

    ``origin`` is the user's request when the create service reconciles at once; its portal
    request id goes in the user's sentence and the audit rows. Without it (cron) the rows say
    the command did it.
    """
    ensure_outside_transaction()
    now = now or timezone.now()
    run = _Run(keypair_request, origin=origin, now=now)
    run.take_over_if_stale()
    current = run.fresh()
    if current.status != Status.UNKNOWN:
        return Reconciliation(current, Verdict.SETTLED, keypair_id=current.keypair_id)

    if current.kind == KeyPairRequest.Kind.IMPORT:
        return _reconcile_import(run, current)

    claimed = current.keypair_id  # an earlier run found it and could not delete it
    if not claimed:
        try:
            listed = get_client(current.region).list_keypairs(name=current.name)
        except (errors.BccError, ImproperlyConfigured, ValueError) as error:
            return run.stays_open(Verdict.FAILED, f"BCC could not be asked: {error}")
        verdict, claimed = run.claim(listed)
        if verdict is not None:
            return run.finish_without_key_pair(verdict)

    try:
        get_client(current.region).delete_keypair(claimed)
    except errors.BccApiError as error:
        if error.code != errors.KEYPAIR_NOT_EXIST:  # already gone: someone deleted it first
            return run.stays_open(Verdict.FAILED, f"deleting {claimed} failed: {error}", keypair_id=claimed)
    except (errors.BccError, ImproperlyConfigured, ValueError) as error:
        return run.stays_open(Verdict.FAILED, f"deleting {claimed} failed: {error}", keypair_id=claimed)
    return run.settle_deleted(claimed)


def _reconcile_import(run: _Run, current: KeyPairRequest) -> Reconciliation:
    """Settle an import with no answer: find its key pair by name and fingerprint and keep it.

    No private key was ever in play, so the key pair BCC may have made is as good as one whose
    answer arrived. BCC refuses a second key pair with the same public key, so at most one
    listed key pair can match; one already recorded by another request is never taken.
    """
    try:
        listed = get_client(current.region).list_keypairs(name=current.name)
    except (errors.BccError, ImproperlyConfigured, ValueError) as error:
        return run.stays_open(Verdict.FAILED, f"BCC could not be asked: {error}")
    matching = [
        keypair
        for keypair in listed
        if keypair.name == current.name
        and sha256_fingerprint_or_blank(keypair.public_key) == current.fingerprint_sha256
    ]
    taken = set(
        KeyPairRequest.objects.filter(keypair_id__in=[keypair.keypair_id for keypair in matching])
        .exclude(pk=current.pk)
        .values_list("keypair_id", flat=True)
    )
    found = next((keypair for keypair in matching if keypair.keypair_id not in taken), None)
    if found is not None:
        return run.settle_imported(found)
    if run.now - current.created_at >= settle_after():
        return run.settle_not_created()
    return run.stays_open(Verdict.NOT_CREATED_YET, "BCC holds no key pair of this import yet")


class _Run:
    """One reconciliation of one request: its steps share the request, the origin and the clock."""

    def __init__(self, keypair_request: KeyPairRequest, *, origin: Origin | None, now: datetime) -> None:
        self.pk = keypair_request.pk
        # Neither ever changes after the intent is recorded.
        self.region = keypair_request.region
        self.name = keypair_request.name
        self.importing = keypair_request.kind == KeyPairRequest.Kind.IMPORT
        self.origin = origin
        self.now = now
        self.reference = origin.portal_request_id if origin else ""

    def fresh(self) -> KeyPairRequest:
        return KeyPairRequest.objects.select_related("owner").get(pk=self.pk)

    # --- taking over a create whose worker died ---------------------------------------------

    def take_over_if_stale(self) -> None:
        window = settle_after()
        taken = KeyPairRequest.objects.filter(
            pk=self.pk, status=Status.PENDING, created_at__lte=self.now - window
        ).update(
            status=Status.UNKNOWN,
            error_code=WORKER_LOST,
            error_message=messages.WORKER_LOST,
            completed_at=self.now,
        )
        if taken:
            current = self.fresh()
            logger.warning(
                "Create attempt %s (%s, %s) had no outcome after %s s: its worker stopped; reconciling",
                current.public_id,
                current.region,
                current.name,
                int(window.total_seconds()),
            )
            detail = DETAIL_WORKER_LOST.format(seconds=int(window.total_seconds()))
            self.audit(current, action=Action.OUTCOME_UNKNOWN, outcome=Outcome.UNKNOWN, code=WORKER_LOST, detail=detail)

    # --- choosing and claiming the key pair ----------------------------------------------------

    def claim(self, listed: Sequence[Keypair]) -> tuple[Verdict | None, str]:
        """Claim the key pair this request created: ``(None, id)``, or ``(verdict, "")`` when there is none."""
        with transaction.atomic():
            # Every request of this region and name, locked: the ones that could claim the same
            # key pair, and the in-flight ones whose answer would name it.
            rows = list(
                KeyPairRequest.objects.select_for_update().filter(region=self.region, name=self.name).order_by("pk")
            )
            row = next(candidate for candidate in rows if candidate.pk == self.pk)
            if row.status != Status.UNKNOWN:
                return Verdict.SETTLED, ""
            if row.keypair_id:
                return None, row.keypair_id
            candidates = self._unclaimed(row, listed)
            if not candidates:
                late_enough = self.now - row.created_at >= settle_after()
                return (Verdict.NOT_CREATED if late_enough else Verdict.NOT_CREATED_YET), ""
            in_flight = self.now - settle_after()
            if any(other.status == Status.PENDING and other.created_at > in_flight for other in rows if other != row):
                return Verdict.WAITING, ""
            chosen = min(candidates, key=lambda keypair: (keypair.created_time, keypair.keypair_id))
            KeyPairRequest.objects.filter(pk=row.pk).update(keypair_id=chosen.keypair_id)
            return None, chosen.keypair_id

    @staticmethod
    def _unclaimed(row: KeyPairRequest, listed: Sequence[Keypair]) -> list[Keypair]:
        earliest = row.created_at - CLOCK_SKEW
        # A key pair without a createdTime cannot be dated, so it is never taken for this one.
        dated = [
            keypair
            for keypair in listed
            if keypair.name == row.name and keypair.created_time is not None and keypair.created_time >= earliest
        ]
        known = set(
            KeyPairRequest.objects.filter(keypair_id__in=[keypair.keypair_id for keypair in dated])
            .exclude(pk=row.pk)
            .values_list("keypair_id", flat=True)
        )
        return [keypair for keypair in dated if keypair.keypair_id not in known]

    # --- endings -------------------------------------------------------------------------------

    def settle_deleted(self, keypair_id: str) -> Reconciliation:
        settled = KeyPairRequest.objects.filter(pk=self.pk, status=Status.UNKNOWN, keypair_id=keypair_id).update(
            status=Status.RECONCILED, error_message=messages.RECONCILED_DELETED, completed_at=self.now
        )
        current = self.fresh()
        if not settled:
            return Reconciliation(current, Verdict.SETTLED, keypair_id=current.keypair_id)
        logger.warning(
            "Create attempt %s (%s, %s) had created key pair %s, whose private key was lost: deleted it. "
            "portal_request_id=%s",
            current.public_id,
            current.region,
            current.name,
            keypair_id,
            self.reference or "-",
        )
        self.audit(
            current, action=Action.RECONCILED, outcome=Outcome.SUCCESS, keypair_id=keypair_id, detail=DETAIL_DELETED
        )
        return Reconciliation(current, Verdict.DELETED, keypair_id=keypair_id)

    def settle_imported(self, keypair: Keypair) -> Reconciliation:
        settled = KeyPairRequest.objects.filter(pk=self.pk, status=Status.UNKNOWN).update(
            status=Status.CREATED,
            keypair_id=keypair.keypair_id,
            fingerprint_bcc=keypair.fingerprint,
            bcc_created_at=keypair.created_time,
            error_message=messages.IMPORT_RECONCILED_KEPT,
            completed_at=self.now,
        )
        current = self.fresh()
        if not settled:
            return Reconciliation(current, Verdict.SETTLED, keypair_id=current.keypair_id)
        logger.warning(
            "Import attempt %s (%s, %s) had no answer; key pair %s found in BCC by name and fingerprint: kept. "
            "portal_request_id=%s",
            current.public_id,
            current.region,
            current.name,
            keypair.keypair_id,
            self.reference or "-",
        )
        self.audit(
            current, action=Action.IMPORTED, outcome=Outcome.SUCCESS, keypair_id=keypair.keypair_id, detail=DETAIL_KEPT
        )
        return Reconciliation(current, Verdict.KEPT, keypair_id=keypair.keypair_id)

    def finish_without_key_pair(self, verdict: Verdict) -> Reconciliation:
        if verdict == Verdict.NOT_CREATED:
            return self.settle_not_created()
        if verdict == Verdict.NOT_CREATED_YET:
            return self.stays_open(verdict, "BCC holds no key pair of this create yet")
        if verdict == Verdict.WAITING:
            return self.stays_open(verdict, "another create of this name is in flight")
        current = self.fresh()
        return Reconciliation(current, Verdict.SETTLED, keypair_id=current.keypair_id)

    def settle_not_created(self) -> Reconciliation:
        settled = KeyPairRequest.objects.filter(pk=self.pk, status=Status.UNKNOWN, keypair_id="").update(
            status=Status.FAILED,
            error_message=messages.IMPORT_NOT_IMPORTED if self.importing else messages.RECONCILED_NOT_CREATED,
            completed_at=self.now,
        )
        current = self.fresh()
        if not settled:
            return Reconciliation(current, Verdict.SETTLED, keypair_id=current.keypair_id)
        logger.info(
            "Create attempt %s (%s, %s) created nothing in BCC", current.public_id, current.region, current.name
        )
        action = Action.IMPORT_FAILED if self.importing else Action.FAILED
        self.audit(current, action=action, outcome=Outcome.FAILURE, code=NOT_CREATED, detail=DETAIL_NOT_CREATED)
        return Reconciliation(current, Verdict.NOT_CREATED)

    def stays_open(self, verdict: Verdict, reason: str, *, keypair_id: str = "") -> Reconciliation:
        if self.reference:
            # The user's own create, reconciled at once: their sentence says what is known now.
            sentence = messages.OUTCOME_UNKNOWN
            if self.importing:
                sentence = messages.IMPORT_OUTCOME_UNKNOWN
            elif verdict == Verdict.NOT_CREATED_YET:
                sentence = messages.OUTCOME_NOT_CREATED_YET
            KeyPairRequest.objects.filter(pk=self.pk, status=Status.UNKNOWN).update(
                error_message=sentence.format(reference=self.reference)
            )
        current = self.fresh()
        log = logger.error if verdict == Verdict.FAILED else logger.info
        log(
            "Create attempt %s (%s, %s) not reconciled yet: %s; manage.py reconcile tries again. portal_request_id=%s",
            current.public_id,
            current.region,
            current.name,
            reason,
            self.reference or "-",
        )
        return Reconciliation(current, verdict, keypair_id=keypair_id, reason=reason)

    def audit(
        self, current: KeyPairRequest, *, action: str, outcome: str, detail: str, keypair_id: str = "", code: str = ""
    ) -> None:
        origin = self.origin
        audit_record(
            action=action,
            outcome=outcome,
            actor=current.owner if origin else None,
            actor_username="" if origin else current.owner.get_username(),
            # Cron has no request: the system's own origin.
            origin=origin or Origin(),
            region=current.region,
            keypair_name=current.name,
            keypair_id=keypair_id,
            bcc_error_code=code,
            detail=detail if origin else detail + BY_COMMAND,
        )
