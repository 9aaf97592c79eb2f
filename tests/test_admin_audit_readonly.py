"""The admin shows the audit log and create attempts, and refuses to add, change or delete
them, even to a superuser. No page shows a delivery's ciphertext."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse

from keypairs.audit import Origin, audit_record
from keypairs.delivery import delivery_claim, delivery_create
from keypairs.models import AuditEvent, KeyPairRequest

User = get_user_model()

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgO\n-----END RSA PRIVATE KEY-----\n"


@pytest.fixture
def admin_client(client, db):
    root = User.objects.create_superuser(username="root", password="password", email="root@example.com")
    client.force_login(root)
    return client


@pytest.fixture
def event(db):
    return audit_record(
        action="created", outcome="success", actor_username="alice", region="bj", keypair_name="web", keypair_id="k-1"
    )


@pytest.fixture
def keypair_request(db):
    alice = User.objects.create_user(username="alice", password="password")
    return KeyPairRequest.objects.create(
        owner=alice,
        form_token_hash="form-token-never-shown",
        client_token=uuid.uuid4().hex,
        region="bj",
        name="build-server",
        status=KeyPairRequest.Status.CREATED,
        keypair_id="k-y7VWq",
    )


# --- Audit events -------------------------------------------------------------------------


def test_the_audit_log_lists_events_newest_first(admin_client, event):
    newer = audit_record(action="downloaded", outcome="success", actor_username="alice", keypair_name="newer")

    response = admin_client.get(reverse("admin:keypairs_auditevent_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("newer") < page.index(">web<")
    assert newer.pk > event.pk


def test_the_audit_log_can_be_searched_and_filtered(admin_client, event):
    audit_record(action="failed", outcome="failure", keypair_id="k-other")
    url = reverse("admin:keypairs_auditevent_changelist")

    by_id = admin_client.get(url, {"q": "k-1"})
    by_action = admin_client.get(url, {"action__exact": "failed"})

    assert by_id.status_code == by_action.status_code == 200
    assert list(by_id.context["cl"].result_list) == [event]
    assert [e.keypair_id for e in by_action.context["cl"].result_list] == ["k-other"]


def test_an_event_can_be_viewed(admin_client, event):
    response = admin_client.get(reverse("admin:keypairs_auditevent_change", args=[event.pk]))

    assert response.status_code == 200
    assert event.row_hash in response.content.decode()
    assert b'name="_save"' not in response.content


def test_an_event_cannot_be_added(admin_client, db):
    url = reverse("admin:keypairs_auditevent_add")

    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"action": "created", "outcome": "success"}).status_code == 403
    assert not AuditEvent.objects.exists()


def test_an_event_cannot_be_changed(admin_client, event):
    response = admin_client.post(
        reverse("admin:keypairs_auditevent_change", args=[event.pk]),
        {"action": "failed", "outcome": "failure", "detail": "rewritten"},
    )

    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).detail == ""
    assert AuditEvent.objects.get(pk=event.pk).action == "created"


def test_an_event_cannot_be_deleted(admin_client, event):
    url = reverse("admin:keypairs_auditevent_delete", args=[event.pk])

    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_events_cannot_be_deleted_in_bulk(admin_client, event):
    url = reverse("admin:keypairs_auditevent_changelist")

    page = admin_client.get(url)
    response = admin_client.post(url, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})

    assert b"delete_selected" not in page.content
    assert response.status_code == 200
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- Key pair requests and deliveries -----------------------------------------------------


def test_a_keypair_request_can_be_viewed_but_not_changed_or_deleted(admin_client, keypair_request):
    change_url = reverse("admin:keypairs_keypairrequest_change", args=[keypair_request.pk])
    delete_url = reverse("admin:keypairs_keypairrequest_delete", args=[keypair_request.pk])

    view = admin_client.get(change_url)
    change = admin_client.post(change_url, {"name": "renamed", "status": "failed"})
    delete = admin_client.post(delete_url, {"post": "yes"})
    add = admin_client.get(reverse("admin:keypairs_keypairrequest_add"))

    assert (view.status_code, change.status_code, delete.status_code, add.status_code) == (200, 403, 403, 403)
    assert "form-token-never-shown" not in view.content.decode()
    keypair_request.refresh_from_db()
    assert (keypair_request.name, keypair_request.status) == ("build-server", "created")


def test_a_keypair_request_shows_its_download_but_never_the_ciphertext(admin_client, keypair_request):
    delivery, token = delivery_create(keypair_request=keypair_request, private_key_pem=PEM)
    delivery_claim(
        delivery_public_id=keypair_request.public_id,
        user=keypair_request.owner,
        token=token,
        origin=Origin(source_ip="198.51.100.10", user_agent="Firefox"),
    )

    page = admin_client.get(reverse("admin:keypairs_keypairrequest_change", args=[keypair_request.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert "from 198.51.100.10." in text
    assert delivery.token_hash not in text
    assert "PRIVATE KEY" not in text


def test_a_waiting_delivery_is_described_without_its_ciphertext(admin_client, keypair_request):
    delivery, _ = delivery_create(keypair_request=keypair_request, private_key_pem=PEM)

    page = admin_client.get(reverse("admin:keypairs_keypairrequest_change", args=[keypair_request.pk]))

    assert "Waiting for download until" in page.content.decode()
    assert delivery.ciphertext.hex() not in page.content.decode()


def test_deliveries_have_no_admin_pages(admin_client):
    with pytest.raises(NoReverseMatch):
        reverse("admin:keypairs_delivery_changelist")

    assert admin_client.get("/admin/keypairs/delivery/").status_code == 404
