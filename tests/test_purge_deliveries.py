"""`manage.py purge_deliveries`: keys nobody downloaded in time are erased, once, and each
erasure is audited; waiting and downloaded keys are left alone."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from keypairs import delivery as delivery_services
from keypairs.audit import Origin
from keypairs.delivery import delivery_claim, delivery_create, delivery_purge_expired
from keypairs.models import AuditEvent, Delivery, KeyPairRequest

User = get_user_model()

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgO\n-----END RSA PRIVATE KEY-----\n"


def _delivery(owner, *, created: datetime, name: str = "build-server") -> tuple[Delivery, str]:
    keypair_request = KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=uuid.uuid4().hex,
        client_token=uuid.uuid4().hex,
        region="gz",
        name=name,
        status=KeyPairRequest.Status.CREATED,
        keypair_id=f"k-{name}",
    )
    return delivery_create(keypair_request=keypair_request, private_key_pem=PEM, now=created)


def _purge() -> str:
    out = StringIO()
    call_command("purge_deliveries", stdout=out)
    return out.getvalue()


def test_it_erases_only_expired_undownloaded_keys(alice, settings):
    settings.KEYPAIR_DOWNLOAD_TTL_SECONDS = 600
    now = timezone.now()
    expired, _ = _delivery(alice, created=now - timedelta(minutes=11), name="expired")
    _delivery(alice, created=now - timedelta(minutes=9), name="waiting")
    downloaded, token = _delivery(alice, created=now - timedelta(minutes=20), name="downloaded")
    delivery_claim(
        delivery_public_id=downloaded.request.public_id,
        user=alice,
        token=token,
        origin=Origin(source_ip="198.51.100.10"),
        now=now - timedelta(minutes=19),
    )

    assert delivery_purge_expired(now=now) == 1

    states = {d.request.name: (d.state_at(now), d.ciphertext is None) for d in Delivery.objects.all()}
    assert states == {"expired": ("expired", True), "waiting": ("waiting", False), "downloaded": ("downloaded", True)}
    assert Delivery.objects.get(pk=expired.pk).wiped_at == now
    event = AuditEvent.objects.latest()
    assert (event.action, event.outcome, event.actor_username) == ("expired", "failure", "alice")
    assert (event.keypair_name, event.keypair_id, event.region) == ("expired", "k-expired", "gz")
    assert event.detail == delivery_services.DETAIL_PURGED


def test_a_second_run_erases_and_records_nothing_more(alice):
    _delivery(alice, created=timezone.now() - timedelta(days=1))
    delivery_purge_expired()

    assert delivery_purge_expired() == 0
    assert AuditEvent.objects.filter(action="expired").count() == 1


def test_it_works_through_more_than_one_batch(alice, monkeypatch):
    monkeypatch.setattr(delivery_services, "PURGE_BATCH_SIZE", 2)
    for n in range(5):
        _delivery(alice, created=timezone.now() - timedelta(days=1), name=f"key-{n}")

    assert delivery_purge_expired() == 5
    assert not Delivery.objects.filter(ciphertext__isnull=False).exists()
    assert AuditEvent.objects.filter(action="expired").count() == 5


def test_the_command_prints_how_many_it_purged(alice):
    _delivery(alice, created=timezone.now() - timedelta(days=1), name="one")
    _delivery(alice, created=timezone.now() - timedelta(days=1), name="two")

    assert _purge() == "Purged 2 expired deliveries.\n"
    assert _purge() == "Purged 0 expired deliveries.\n"


def test_the_command_says_delivery_for_one(alice):
    _delivery(alice, created=timezone.now() - timedelta(days=1))

    assert _purge() == "Purged 1 expired delivery.\n"
