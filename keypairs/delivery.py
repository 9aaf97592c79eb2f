"""Services for the one-time private key download: create, claim, report, purge.

A ``Delivery`` holds a new key pair's private key as ciphertext (see ``delivery_crypto``)
until its owner downloads it once, it expires, or the owner reports it. The ciphertext is
wiped (NULL) the moment any of those happens.

Claim outcomes are a result, not exceptions: every one of them is an expected answer the
view renders (with ``ClaimResult.http_status`` and ``ClaimResult.message``), and every one
is audited. Exceptions are left for what is truly unexpected (the database is down).

Transactions: these services write their audit rows after their own transaction commits,
so that a refusal is recorded even though nothing else changes; like ``audit_record`` they
must be called outside ``transaction.atomic`` and raise AuditInsideTransactionError inside
one, before changing anything. The exception is a successful claim: its "downloaded" row is
appended inside the claim's transaction, so that the key is wiped if and only if its
download is recorded (a failed append raises ``DownloadNotHandedOut``, and the key is still there).

Formats: the owner chooses the file (``KeyFormat``: the PEM as stored, or PuTTY's ``.ppk``)
before the claim, and the claim makes it. The conversion runs inside the claim's transaction,
after every check and the decryption but before the ciphertext is wiped or the "downloaded"
row appended: a conversion that fails (``ClaimOutcome.NOT_CONVERTED``) leaves the
transaction with nothing written, so the key still waits and the owner can take the ``.pem``.
Converting before the claim instead would need the key decrypted outside the locked row, or
twice; converting after it could lose a key already wiped. The "downloaded" row names the format.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_lazy as _

from keypairs.audit import Origin, audit_record, audit_record_with_the_work, ensure_outside_transaction, normalize_ip
from keypairs.delivery_crypto import (
    DeliveryDecryptionError,
    decrypt_private_key,
    encrypt_private_key,
    new_download_token,
    token_hash,
)
from keypairs.key_formats import KeyFormat, key_file_content
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.ppk import PpkConversionFailed

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome

MESSAGE_NOT_FOUND = _("There is no private key to download here.")
MESSAGE_ALREADY_DOWNLOADED = _(
    "This private key has already been downloaded, and it can be downloaded only once. "
    "If you did not download it, report it on the key pair's page, then delete the key pair there."
)
MESSAGE_EXPIRED = _(
    "This private key was not downloaded in time and has been erased. "
    "Delete the key pair on its page and create a new one."
)
MESSAGE_BAD_TOKEN = _("This private key can be downloaded only in the browser that created the key pair.")
MESSAGE_DOWNLOADED = _("Your private key is downloading. Keep it safe: it cannot be downloaded again.")
MESSAGE_NOT_HANDED_OUT = _(
    "The portal could not complete this download in its database, so it handed nothing out and changed "
    "nothing. If your private key was waiting, it still is: try again in a moment."
)
MESSAGE_NOT_CONVERTED = _(
    "The portal could not convert this private key to PuTTY's .ppk format, so it handed nothing out and "
    "changed nothing: your private key still waits. Download it as .pem instead."
)

# Audit details: short text for reviewers, never a token or key.
DETAIL_NOT_THE_OWNER = "not the owner"
DETAIL_NO_SUCH_DELIVERY = "no such download"
DETAIL_SECOND_ATTEMPT = "second download attempt"
DETAIL_EXPIRED_ERASED = "not downloaded in time; private key erased"
DETAIL_EXPIRED_ATTEMPT = "download attempt after the private key was erased"
DETAIL_BAD_TOKEN = "wrong or missing download token"  # noqa: S105 - text, not a secret
DETAIL_UNDECRYPTABLE = "ciphertext failed authentication"
DETAIL_DOWNLOADED = "private key downloaded as {extension}; ciphertext erased"
DETAIL_NOT_CONVERTED = "could not convert the private key to {extension} ({code}); nothing handed out, key kept"
DETAIL_PURGED = "not downloaded in time; private key erased by purge"
DETAIL_REPORTED_UNDOWNLOADED = "owner reported a download that did not happen"
DETAIL_REPORTED_AND_ERASED = "owner reported it before any download; private key erased"


class ClaimOutcome(StrEnum):
    DOWNLOADED = "downloaded"
    NOT_FOUND = "not_found"
    ALREADY_DOWNLOADED = "already_downloaded"
    EXPIRED = "expired"
    BAD_TOKEN = "bad_token"  # noqa: S105 - an outcome name, not a secret
    NOT_CONVERTED = "not_converted"


_CLAIM_ANSWERS = {
    ClaimOutcome.DOWNLOADED: (200, MESSAGE_DOWNLOADED),
    ClaimOutcome.NOT_FOUND: (404, MESSAGE_NOT_FOUND),
    ClaimOutcome.ALREADY_DOWNLOADED: (410, MESSAGE_ALREADY_DOWNLOADED),
    ClaimOutcome.EXPIRED: (410, MESSAGE_EXPIRED),
    # 403, not 410: the key is still there for the browser that holds the token.
    ClaimOutcome.BAD_TOKEN: (403, MESSAGE_BAD_TOKEN),
    # The portal's own failure, not the request's; the key still waits.
    ClaimOutcome.NOT_CONVERTED: (500, MESSAGE_NOT_CONVERTED),
}


@dataclass(frozen=True)
class ClaimResult:
    """What ``delivery_claim`` decided. ``private_key_pem`` and ``key_file`` (its bytes in
    ``key_format``) are set only when ``ok``.

    ``delivery`` is None for ``not_found``, so that nothing about another user's delivery
    can reach a page.
    """

    outcome: ClaimOutcome
    delivery: Delivery | None = None
    private_key_pem: str | None = field(default=None, repr=False)
    key_file: bytes | None = field(default=None, repr=False)
    key_format: KeyFormat = KeyFormat.PEM

    @property
    def ok(self) -> bool:
        return self.outcome is ClaimOutcome.DOWNLOADED

    @property
    def http_status(self) -> int:
        return _CLAIM_ANSWERS[self.outcome][0]

    @property
    def message(self) -> str:
        return _CLAIM_ANSWERS[self.outcome][1]


# --- Create -------------------------------------------------------------------------------


def delivery_create(
    *, keypair_request: KeyPairRequest, private_key_pem: str, token: str | None = None, now: datetime | None = None
) -> tuple[Delivery, str]:
    """Store the private key encrypted for its owner; return the delivery and the download token.

    The token is stored nowhere: the caller hands it to the owner's browser (an HttpOnly,
    Secure, SameSite cookie scoped to the download path) and forgets it. ``token`` lets the
    create flow pass one derived from its form token (``delivery_crypto.download_token_for``);
    without it a random one is drawn. May run inside the caller's transaction.
    """
    if not private_key_pem:
        raise ValueError("There is no private key to deliver.")
    now = now or timezone.now()
    token = token or new_download_token()
    salt, nonce, ciphertext = encrypt_private_key(
        private_key_pem=private_key_pem,
        token=token,
        owner_id=keypair_request.owner_id,
        delivery_ref=_delivery_ref(keypair_request),
    )
    delivery = Delivery.objects.create(
        request=keypair_request,
        owner_id=keypair_request.owner_id,
        token_hash=token_hash(token),
        salt=salt,
        nonce=nonce,
        ciphertext=ciphertext,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.KEYPAIR_DOWNLOAD_TTL_SECONDS),
    )
    return delivery, token


def _delivery_ref(keypair_request: KeyPairRequest) -> str:
    # Bound into the encryption: a ciphertext moved to another request's row will not decrypt.
    return f"keypair-request:{keypair_request.public_id}"


# --- Claim --------------------------------------------------------------------------------


def delivery_claim(
    *,
    delivery_public_id: uuid.UUID | str,
    user,
    token: str | None,
    origin: Origin,
    key_format: KeyFormat = KeyFormat.PEM,
    now: datetime | None = None,
) -> ClaimResult:
    """Hand the private key to its owner, once, as a file in ``key_format``. Of any number of
    concurrent claims exactly one gets the key; the rest get ``already_downloaded``.

    ``delivery_public_id`` is the KeyPairRequest's ``public_id``. Checks, in order:
    missing or someone else's -> ``not_found`` (404); already claimed -> ``already_downloaded``
    (410); past ``expires_at`` -> ``expired`` (410, ciphertext wiped now if it was not yet);
    wrong or missing token -> ``bad_token`` (403); the conversion to ``key_format`` failed ->
    ``not_converted`` (500, nothing changed, the key still waits); else ``downloaded`` with the
    PEM and the key file, and the ciphertext is gone from the database by the time this
    returns. ``origin`` goes on the audit row, and its address and user agent on the delivery
    as where the download went.
    """
    ensure_outside_transaction()
    now = now or timezone.now()
    source_ip = normalize_ip(origin.source_ip)
    user_agent = (origin.user_agent or "")[: Delivery._meta.get_field("claimed_user_agent").max_length]

    try:
        with transaction.atomic():
            delivery = _locked_delivery(delivery_public_id)
            result, audit = _claim_locked(
                delivery,
                user=user,
                token=token,
                key_format=key_format,
                source_ip=source_ip,
                user_agent=user_agent,
                now=now,
            )
            if result.ok:
                # The key leaves only if its "downloaded" row commits with the claim: should the
                # append fail, the claim rolls back and the key stays for another try.
                audit_record_with_the_work(actor=user, origin=origin, **_keypair_fields(delivery), **audit)
                return result
    except DatabaseError as error:
        raise DownloadNotHandedOut from error

    audit_record(actor=user, origin=origin, **_keypair_fields(delivery), **audit)
    return result


class DownloadNotHandedOut(Exception):
    """The claim's transaction failed and was rolled back: no key was handed out, nothing changed."""


def _claim_locked(
    delivery: Delivery | None,
    *,
    user,
    token: str | None,
    key_format: KeyFormat,
    source_ip: str | None,
    user_agent: str,
    now: datetime,
) -> tuple[ClaimResult, dict[str, Any]]:
    """Decide the claim on a row this transaction has locked; returns the result and its audit row."""
    refused = {"action": Action.DOWNLOAD_REFUSED, "outcome": Outcome.DENIED, "is_security_event": True}

    if delivery is None or user is None or delivery.owner_id != user.pk:
        detail = DETAIL_NO_SUCH_DELIVERY if delivery is None else DETAIL_NOT_THE_OWNER
        return ClaimResult(ClaimOutcome.NOT_FOUND), {**refused, "detail": detail}

    if delivery.claimed_at is not None:
        return ClaimResult(ClaimOutcome.ALREADY_DOWNLOADED, delivery), {**refused, "detail": DETAIL_SECOND_ATTEMPT}

    if delivery.ciphertext is None or now >= delivery.expires_at:
        if _wipe(delivery, now=now):
            audit = {"action": Action.EXPIRED, "outcome": Outcome.FAILURE, "detail": DETAIL_EXPIRED_ERASED}
        else:
            audit = {**refused, "is_security_event": False, "detail": DETAIL_EXPIRED_ATTEMPT}
        return ClaimResult(ClaimOutcome.EXPIRED, delivery), audit

    if not token or not constant_time_compare(token_hash(token), delivery.token_hash):
        return ClaimResult(ClaimOutcome.BAD_TOKEN, delivery), {**refused, "detail": DETAIL_BAD_TOKEN}

    try:
        private_key_pem = decrypt_private_key(
            salt=delivery.salt,
            nonce=delivery.nonce,
            ciphertext=delivery.ciphertext,
            token=token,
            owner_id=delivery.owner_id,
            delivery_ref=_delivery_ref(delivery.request),
        )
    except DeliveryDecryptionError:
        # The token matched but the row did not: it was altered or moved. Keep it for review.
        return ClaimResult(ClaimOutcome.BAD_TOKEN, delivery), {**refused, "detail": DETAIL_UNDECRYPTABLE}

    # Before anything is written: a failure here leaves the key waiting (see the module docstring).
    try:
        key_file = key_file_content(private_key_pem, key_format=key_format, comment=delivery.request.name)
    except PpkConversionFailed as failure:
        detail = DETAIL_NOT_CONVERTED.format(extension=key_format.extension, code=failure.code)
        audit = {**refused, "outcome": Outcome.FAILURE, "is_security_event": False, "detail": detail}
        return ClaimResult(ClaimOutcome.NOT_CONVERTED, delivery, key_format=key_format), audit

    claimed = {"claimed_at": now, "claimed_from": source_ip, "claimed_user_agent": user_agent}
    # The conditions make the claim safe even where the row lock is a no-op: only one UPDATE
    # can find the ciphertext still there.
    won = (
        Delivery.objects.filter(pk=delivery.pk, ciphertext__isnull=False, claimed_at__isnull=True).update(
            ciphertext=None, wiped_at=now, **claimed
        )
        == 1
    )
    if not won:
        delivery.refresh_from_db()
        return ClaimResult(ClaimOutcome.ALREADY_DOWNLOADED, delivery), {**refused, "detail": DETAIL_SECOND_ATTEMPT}
    _set(delivery, ciphertext=None, wiped_at=now, **claimed)
    detail = DETAIL_DOWNLOADED.format(extension=key_format.extension)
    audit = {"action": Action.DOWNLOADED, "outcome": Outcome.SUCCESS, "detail": detail}
    return ClaimResult(ClaimOutcome.DOWNLOADED, delivery, private_key_pem, key_file, key_format), audit


# --- Report -------------------------------------------------------------------------------


def delivery_report(
    *,
    delivery_public_id: uuid.UUID | str,
    user,
    origin: Origin,
    now: datetime | None = None,
) -> Delivery | None:
    """The owner pressed "I did not download this". Returns the delivery, or None when it is
    not theirs (the caller answers 404).

    Sets ``reported_at`` and writes a ``reported`` security event (outcome ``success``: the
    report was taken; the row is flagged for review). If the key is still waiting it is
    erased too: its owner no longer trusts this delivery. Pressing again changes nothing.
    """
    ensure_outside_transaction()
    now = now or timezone.now()
    with transaction.atomic():
        delivery = _locked_delivery(delivery_public_id)
        if delivery is None or user is None or delivery.owner_id != user.pk:
            found, first_report = None, True
            audit = {
                "outcome": Outcome.DENIED,
                "detail": DETAIL_NO_SUCH_DELIVERY if delivery is None else DETAIL_NOT_THE_OWNER,
            }
        else:
            found, first_report = delivery, delivery.reported_at is None
            audit = {"outcome": Outcome.SUCCESS, "detail": _report_detail(delivery)}
            if first_report:
                erased = _wipe(delivery, now=now)
                Delivery.objects.filter(pk=delivery.pk).update(reported_at=now)
                delivery.reported_at = now
                if erased:
                    audit["detail"] = DETAIL_REPORTED_AND_ERASED

    if first_report:
        audit_record(
            action=Action.REPORTED,
            actor=user,
            origin=origin,
            is_security_event=True,
            **_keypair_fields(delivery),
            **audit,
        )
    return found


def _report_detail(delivery: Delivery) -> str:
    if delivery.claimed_at is None:
        return DETAIL_REPORTED_UNDOWNLOADED
    where = delivery.claimed_from or "an unknown address"
    return f"owner did not make the download at {delivery.claimed_at:%Y-%m-%d %H:%M:%S %Z} from {where}"


# --- The key pair is deleted ----------------------------------------------------------------


def delivery_wipe(*, keypair_request: KeyPairRequest, now: datetime | None = None) -> bool:
    """Erase the private key still waiting for download, if any: its key pair is being deleted.

    True if this call erased one. Runs in the caller's transaction (the delete records the key
    pair deleted and the key erased together); the caller's audit row says so.
    """
    now = now or timezone.now()
    delivery = Delivery.objects.select_for_update().filter(request=keypair_request).defer("ciphertext").first()
    return delivery is not None and _wipe(delivery, now=now)


# --- Purge --------------------------------------------------------------------------------

PURGE_BATCH_SIZE = 500


def delivery_purge_expired(*, now: datetime | None = None) -> int:
    """Wipe the ciphertext of every expired, unclaimed delivery; one ``expired`` event each.

    Returns how many were wiped. Safe to run while users download: rows are locked and
    wiped only if still unclaimed, so a key is either downloaded or purged, never both.
    """
    ensure_outside_transaction()
    now = now or timezone.now()
    purged = 0
    while True:
        with transaction.atomic():
            batch = list(
                Delivery.objects.select_for_update(of=("self",))
                .select_related("request__owner")
                .defer("ciphertext", "salt", "nonce")
                .filter(expires_at__lte=now, claimed_at__isnull=True, ciphertext__isnull=False)
                .order_by("pk")[:PURGE_BATCH_SIZE]
            )
            Delivery.objects.filter(pk__in=[delivery.pk for delivery in batch]).update(ciphertext=None, wiped_at=now)
        for delivery in batch:
            audit_record(
                action=Action.EXPIRED,
                outcome=Outcome.FAILURE,
                actor_username=delivery.request.owner.get_username(),
                detail=DETAIL_PURGED,
                **_keypair_fields(delivery),
            )
        purged += len(batch)
        if len(batch) < PURGE_BATCH_SIZE:
            return purged


# --- Helpers ------------------------------------------------------------------------------


def _locked_delivery(delivery_public_id: uuid.UUID | str) -> Delivery | None:
    try:
        public_id = uuid.UUID(str(delivery_public_id))
    except ValueError:
        return None
    return (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("request")
        .filter(request__public_id=public_id)
        .first()
    )


def _wipe(delivery: Delivery, *, now: datetime) -> bool:
    """Erase an unclaimed ciphertext; True if this call erased it."""
    erased = (
        Delivery.objects.filter(pk=delivery.pk, ciphertext__isnull=False, claimed_at__isnull=True).update(
            ciphertext=None, wiped_at=now
        )
        == 1
    )
    if erased:
        _set(delivery, ciphertext=None, wiped_at=now)
    return erased


def _set(delivery: Delivery, **values: Any) -> None:
    for name, value in values.items():
        setattr(delivery, name, value)


def _keypair_fields(delivery: Delivery | None) -> dict[str, str]:
    if delivery is None:
        return {}
    request = delivery.request
    return {"region": request.region, "keypair_name": request.name, "keypair_id": request.keypair_id}
