"""Fifty downloads of one private key at the same moment: exactly one gets it.

Twice: through ``delivery_claim`` from fifty threads of this process, and through the real
download view from fifty browser tabs against gunicorn (two worker processes, so the race is
also between processes). Both run on the test run's database: SQLite here, PostgreSQL in
CI's second pass (DATABASE_URL). The race across two gunicorn instances on one PostgreSQL
database is in test_two_instances.py.

Every loser must get the "already downloaded" answer (410), not an error, and be audited as
a refused download; the audit chain must still verify.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import connection

from keypairs.audit import Origin, audit_verify
from keypairs.delivery import MESSAGE_ALREADY_DOWNLOADED, ClaimOutcome, delivery_claim, delivery_create
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from tests.gunicorn_portal import (
    GunicornPortal,
    PortalBrowser,
    developer,
    production_environment,
    run_database_url,
    session_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

CLAIMERS = 50
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----\n"
)


def all_at_once(count: int, action) -> tuple[list, list[BaseException]]:
    """Run ``action(number)`` in ``count`` threads released together; returns results and errors."""
    start = threading.Barrier(count)
    results, errors = [], []

    def run(number: int) -> None:
        try:
            start.wait()
            results.append(action(number))
        except BaseException as error:  # reported by the caller's assertion, not lost in a thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_of_50_concurrent_claims_exactly_one_gets_the_key():
    alice = developer("alice")
    keypair_request = KeyPairRequest.objects.create(
        owner=alice,
        form_token_hash=uuid.uuid4().hex,
        client_token=uuid.uuid4().hex,
        region="bj",
        name="build-server",
        status=KeyPairRequest.Status.CREATED,
        keypair_id="k-race50",
    )
    delivery, token = delivery_create(keypair_request=keypair_request, private_key_pem=PEM)

    results, errors = all_at_once(
        CLAIMERS,
        lambda number: delivery_claim(
            delivery_public_id=keypair_request.public_id,
            user=alice,
            token=token,
            origin=Origin(source_ip="198.51.100.10", user_agent=f"tab {number}"),
        ),
    )

    assert errors == []
    outcomes = sorted(result.outcome for result in results)
    assert outcomes == [ClaimOutcome.ALREADY_DOWNLOADED] * (CLAIMERS - 1) + [ClaimOutcome.DOWNLOADED]
    assert [result.private_key_pem for result in results if result.private_key_pem] == [PEM]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.ciphertext) == ("downloaded", None)
    assert AuditEvent.objects.filter(action="downloaded").count() == 1
    refused = AuditEvent.objects.filter(action="download_refused")
    assert refused.count() == CLAIMERS - 1
    assert set(refused.values_list("detail", "is_security_event")) == {("second download attempt", True)}
    assert audit_verify().ok


def test_of_50_concurrent_downloads_through_gunicorn_workers_exactly_one_gets_the_key(sandbox):
    alice = PortalBrowser(session_for(developer("alice")))
    portal = GunicornPortal.start(
        production_environment(
            database_url=run_database_url(),
            sandbox=sandbox,
            secret_key=settings.SECRET_KEY,
            audit_hmac_key=settings.AUDIT_HMAC_KEY,
            redis_url=settings.REDIS_URL,
        ),
        workers=2,
        threads=8,
    )
    try:
        created = alice.create(portal.url, name="raced-key")
        assert created.status_code == 302, created.text
        detail_path = created.headers["Location"]
        tabs = [alice.copy() for _ in range(CLAIMERS)]

        answers, errors = all_at_once(CLAIMERS, lambda number: tabs[number].download(portal.url, detail_path))
    finally:
        portal.stop()

    assert errors == []
    assert sorted(answer.status_code for answer in answers) == [200] + [410] * (CLAIMERS - 1)
    (winner,) = [answer for answer in answers if answer.status_code == 200]
    private_key = serialization.load_pem_private_key(winner.content, password=None)
    public_key = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    (keypair,) = sandbox.keypairs(region="bj")
    assert keypair["publicKey"].split()[:2] == public_key.decode().split()[:2]
    for loser in (answer for answer in answers if answer.status_code == 410):
        assert MESSAGE_ALREADY_DOWNLOADED.split(".")[0] in loser.text
        assert b"PRIVATE KEY" not in loser.content

    assert Delivery.objects.get().state == "downloaded"
    assert AuditEvent.objects.filter(action="downloaded").count() == 1
    assert AuditEvent.objects.filter(action="download_refused", is_security_event=True).count() == CLAIMERS - 1
    assert audit_verify().ok
