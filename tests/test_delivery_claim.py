"""The one-time download: Alice owns the key pair, Bob must get nothing, and the key can be
taken exactly once, by the browser holding the token, before it expires."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from keypairs import delivery as delivery_services
from keypairs.audit import AuditInsideTransactionError, Origin, audit_verify
from keypairs.delivery import ClaimOutcome, delivery_claim, delivery_create, delivery_report
from keypairs.delivery_crypto import token_hash
from keypairs.models import AuditEvent, Delivery, KeyPairRequest

User = get_user_model()

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----\n"
)
ALICE_IP = "198.51.100.10"
BOB_IP = "203.0.113.66"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


def _keypair_request(owner, name: str = "build-server") -> KeyPairRequest:
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=uuid.uuid4().hex,
        client_token=uuid.uuid4().hex,
        region="bj",
        name=name,
        status=KeyPairRequest.Status.CREATED,
        keypair_id="k-y7VWq",
    )


@pytest.fixture
def waiting(alice):
    """Alice's fresh delivery and the token her browser holds."""
    return delivery_create(keypair_request=_keypair_request(alice), private_key_pem=PEM)


def _claim(delivery: Delivery, user, token, **overrides):
    arguments = {
        "delivery_public_id": delivery.request.public_id,
        "user": user,
        "token": token,
        "origin": Origin(source_ip=overrides.pop("source_ip", ALICE_IP), user_agent=BROWSER),
        **overrides,
    }
    return delivery_claim(**arguments)


def _events() -> list[tuple[str, str, str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("action", "outcome", "actor_username", "detail"))


# --- Create -------------------------------------------------------------------------------


def test_a_new_delivery_waits_for_the_configured_time(alice, settings):
    settings.KEYPAIR_DOWNLOAD_TTL_SECONDS = 60
    now = timezone.now()

    delivery, _ = delivery_create(keypair_request=_keypair_request(alice), private_key_pem=PEM, now=now)

    delivery.refresh_from_db()
    assert delivery.expires_at == now + timedelta(seconds=60)
    assert delivery.owner == alice
    assert delivery.state == "waiting"


def test_the_database_holds_neither_the_token_nor_the_key(waiting):
    delivery, token = waiting

    row = Delivery.objects.filter(pk=delivery.pk).values().get()

    assert row["token_hash"] == token_hash(token)
    stored = b"".join(value if isinstance(value, bytes) else str(value).encode() for value in row.values())
    assert token.encode() not in stored
    assert b"PRIVATE KEY" not in stored
    assert b"MIIEowIBAAKCAQEA" not in stored


def test_a_deliverys_repr_shows_no_key_material(waiting):
    delivery, _ = waiting

    assert repr(delivery) == f"<Delivery: Delivery {delivery.pk} (waiting)>"


# --- Claim --------------------------------------------------------------------------------


def test_the_owner_downloads_the_private_key(alice, waiting):
    delivery, token = waiting

    result = _claim(delivery, alice, token)

    assert (result.outcome, result.http_status, result.ok) == (ClaimOutcome.DOWNLOADED, 200, True)
    assert result.private_key_pem == PEM
    delivery.refresh_from_db()
    assert delivery.ciphertext is None
    assert delivery.claimed_at is not None
    assert delivery.claimed_from == ALICE_IP
    assert delivery.claimed_user_agent == BROWSER
    assert delivery.state == "downloaded"
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome, event.actor_username) == ("downloaded", "success", "alice")
    assert (event.source_ip, event.user_agent, event.keypair_name, event.region) == (
        ALICE_IP,
        BROWSER,
        "build-server",
        "bj",
    )


def test_a_claim_result_never_shows_the_key_in_its_repr(alice, waiting):
    delivery, token = waiting

    result = _claim(delivery, alice, token)

    assert "PRIVATE KEY" not in repr(result)


def test_a_second_download_is_refused(alice, waiting):
    delivery, token = waiting
    _claim(delivery, alice, token)

    result = _claim(delivery, alice, token)

    assert (result.outcome, result.http_status) == (ClaimOutcome.ALREADY_DOWNLOADED, 410)
    assert result.message == delivery_services.MESSAGE_ALREADY_DOWNLOADED
    assert result.private_key_pem is None
    event = AuditEvent.objects.latest()
    assert (event.action, event.outcome, event.detail) == ("download_refused", "denied", "second download attempt")
    assert event.is_security_event


def test_another_user_gets_not_found_even_with_the_token(bob, waiting):
    delivery, token = waiting

    result = _claim(delivery, bob, token, source_ip=BOB_IP)

    assert (result.outcome, result.http_status) == (ClaimOutcome.NOT_FOUND, 404)
    assert result.message == delivery_services.MESSAGE_NOT_FOUND
    assert result.delivery is None
    assert result.private_key_pem is None
    delivery.refresh_from_db()
    assert delivery.state == "waiting"
    assert _events() == [("download_refused", "denied", "bob", "not the owner")]
    assert AuditEvent.objects.get().source_ip == BOB_IP


def test_an_anonymous_visitor_gets_not_found(waiting):
    delivery, token = waiting

    result = _claim(delivery, AnonymousUser(), token)

    assert result.outcome == ClaimOutcome.NOT_FOUND
    assert Delivery.objects.get(pk=delivery.pk).state == "waiting"


@pytest.mark.parametrize("public_id", [uuid.uuid4(), "not-a-uuid"])
def test_an_unknown_download_is_not_found(alice, public_id):
    result = delivery_claim(
        delivery_public_id=public_id, user=alice, token="t", origin=Origin(source_ip=ALICE_IP, user_agent=BROWSER)
    )

    assert result.outcome == ClaimOutcome.NOT_FOUND
    assert _events() == [("download_refused", "denied", "alice", "no such download")]


@pytest.mark.parametrize("token", ["wrong-token", "", None])
def test_a_wrong_or_missing_token_is_refused_and_the_key_keeps_waiting(alice, waiting, token):
    delivery, right_token = waiting

    result = _claim(delivery, alice, token)

    assert (result.outcome, result.http_status) == (ClaimOutcome.BAD_TOKEN, 403)
    assert result.message == delivery_services.MESSAGE_BAD_TOKEN
    assert _events() == [("download_refused", "denied", "alice", "wrong or missing download token")]
    assert _claim(delivery, alice, right_token).private_key_pem == PEM


def test_an_expired_key_is_erased_at_the_first_attempt(alice, waiting):
    delivery, token = waiting

    result = _claim(delivery, alice, token, now=delivery.expires_at)

    assert (result.outcome, result.http_status) == (ClaimOutcome.EXPIRED, 410)
    assert result.message == delivery_services.MESSAGE_EXPIRED
    assert result.private_key_pem is None
    delivery.refresh_from_db()
    assert delivery.ciphertext is None
    assert delivery.wiped_at == delivery.expires_at
    assert delivery.claimed_at is None
    assert delivery.state == "expired"
    assert _events() == [("expired", "failure", "alice", "not downloaded in time; private key erased")]


def test_a_later_attempt_on_an_erased_key_is_refused_without_a_second_expiry(alice, waiting):
    delivery, token = waiting
    _claim(delivery, alice, token, now=delivery.expires_at)

    result = _claim(delivery, alice, token, now=delivery.expires_at + timedelta(minutes=1))

    assert result.outcome == ClaimOutcome.EXPIRED
    assert [action for action, *_ in _events()] == ["expired", "download_refused"]


def test_a_key_downloads_until_its_last_second(alice, waiting):
    delivery, token = waiting

    result = _claim(delivery, alice, token, now=delivery.expires_at - timedelta(microseconds=1))

    assert result.private_key_pem == PEM


def test_a_ciphertext_moved_to_another_delivery_does_not_decrypt(alice, waiting):
    delivery, token = waiting
    other, _ = delivery_create(keypair_request=_keypair_request(alice, name="other"), private_key_pem="other key")
    Delivery.objects.filter(pk=other.pk).update(
        token_hash=delivery.token_hash, salt=delivery.salt, nonce=delivery.nonce, ciphertext=delivery.ciphertext
    )

    result = _claim(other, alice, token)

    assert result.outcome == ClaimOutcome.BAD_TOKEN
    assert _events() == [("download_refused", "denied", "alice", "ciphertext failed authentication")]
    assert Delivery.objects.get(pk=other.pk).ciphertext is not None


def test_a_claim_inside_a_transaction_is_refused_before_it_changes_anything(alice, waiting):
    delivery, token = waiting

    with pytest.raises(AuditInsideTransactionError), transaction.atomic():
        _claim(delivery, alice, token)

    assert Delivery.objects.get(pk=delivery.pk).state == "waiting"
    assert not AuditEvent.objects.exists()


def test_no_audit_row_holds_the_token_or_the_key(alice, bob, waiting):
    delivery, token = waiting
    _claim(delivery, bob, token)
    _claim(delivery, alice, "wrong")
    _claim(delivery, alice, token)
    _claim(delivery, alice, token)

    rows = " ".join(str(value) for row in AuditEvent.objects.values_list() for value in row)

    assert AuditEvent.objects.count() == 4
    assert token not in rows
    assert "PRIVATE KEY" not in rows
    assert token_hash(token) not in rows


@pytest.mark.django_db(transaction=True)
def test_of_24_concurrent_claims_exactly_one_gets_the_key():
    alice = User.objects.create_user(username="alice", password="password")
    delivery, token = delivery_create(keypair_request=_keypair_request(alice), private_key_pem=PEM)
    claimers = 24
    start = threading.Barrier(claimers)
    results, errors = [], []

    def claim() -> None:
        try:
            start.wait()
            results.append(_claim(delivery, alice, token))
        except BaseException as error:  # reported by the assertion below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    outcomes = sorted(result.outcome for result in results)
    assert outcomes == [ClaimOutcome.ALREADY_DOWNLOADED] * (claimers - 1) + [ClaimOutcome.DOWNLOADED]
    assert [result.private_key_pem for result in results if result.private_key_pem] == [PEM]
    assert AuditEvent.objects.filter(action="downloaded").count() == 1
    assert AuditEvent.objects.filter(action="download_refused").count() == claimers - 1
    assert audit_verify().ok


# --- Report -------------------------------------------------------------------------------


def test_the_owner_reports_a_download_they_did_not_make(alice, waiting):
    delivery, token = waiting
    _claim(delivery, alice, token, source_ip=BOB_IP)

    reported = delivery_report(
        delivery_public_id=delivery.request.public_id, user=alice, origin=Origin(source_ip=ALICE_IP, user_agent=BROWSER)
    )

    assert reported == delivery
    delivery.refresh_from_db()
    assert delivery.reported_at is not None
    event = AuditEvent.objects.latest()
    assert (event.action, event.outcome, event.actor_username, event.is_security_event) == (
        "reported",
        "success",
        "alice",
        True,
    )
    assert event.detail.startswith("owner did not make the download at ")
    assert event.detail.endswith(f" from {BOB_IP}")


def test_reporting_twice_records_it_once(alice, waiting):
    delivery, token = waiting
    _claim(delivery, alice, token)
    report = {"delivery_public_id": delivery.request.public_id, "user": alice, "origin": Origin(source_ip=ALICE_IP)}
    delivery_report(**report)
    first_reported_at = Delivery.objects.get(pk=delivery.pk).reported_at

    delivery_report(**report)

    assert Delivery.objects.get(pk=delivery.pk).reported_at == first_reported_at
    assert AuditEvent.objects.filter(action="reported").count() == 1


def test_reporting_a_waiting_key_erases_it(alice, waiting):
    delivery, token = waiting

    delivery_report(delivery_public_id=delivery.request.public_id, user=alice, origin=Origin(source_ip=ALICE_IP))

    assert Delivery.objects.get(pk=delivery.pk).ciphertext is None
    assert AuditEvent.objects.latest().detail == delivery_services.DETAIL_REPORTED_AND_ERASED
    assert _claim(delivery, alice, token).outcome == ClaimOutcome.EXPIRED


def test_another_user_cannot_report_alices_delivery(bob, waiting):
    delivery, _ = waiting

    reported = delivery_report(
        delivery_public_id=delivery.request.public_id, user=bob, origin=Origin(source_ip=BOB_IP, user_agent=BROWSER)
    )

    assert reported is None
    delivery.refresh_from_db()
    assert delivery.reported_at is None
    assert delivery.state == "waiting"
    assert _events() == [("reported", "denied", "bob", "not the owner")]
