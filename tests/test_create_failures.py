"""When a create fails: what Alice reads, what the portal records, what is left in BCC.

Every fault of BCC and the network (unreachable, timeouts, error answers, no answer, bad
credentials, a full region) has its own test in test_fault_matrix.py. This file holds the rest:
input BCC rejects, a portal clock BCC refuses, missing credentials, resubmitting a failed form,
and a private key the database cannot store. Failures are produced for real by the BCC sandbox,
except the database that cannot store the private key, which is simulated: nothing else can
make that write fail on cue. Every test asserts the exact sentence from ``keypairs.messages``, the HTTP status, the
KeyPairRequest row, the audit row, and the key pairs that exist in BCC afterwards.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from keypairs import messages, services
from keypairs.audit import Origin
from keypairs.bcc import errors
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.services import create as create_service
from keypairs.views import DOWNLOAD_COOKIE
from tests.create_flow import sent_to_bcc

User = get_user_model()

CREATE_URL = reverse("keypair_create")
Status = KeyPairRequest.Status


def form_token_in(response) -> str:
    match = re.search(r'<input type="hidden" name="form_token" value="([^"]*)"', response.content.decode())
    assert match, "the create form has no form_token"
    return match.group(1)


def create(client: Client, *, name: str = "build-server", region: str = "bj", form_token: str | None = None):
    if form_token is None:
        form_token = form_token_in(client.get(CREATE_URL))
    return client.post(CREATE_URL, {"name": name, "description": "", "region": region, "form_token": form_token})


def page_says(response, sentence: str) -> bool:
    return escape(str(sentence)) in response.content.decode()


def the_request() -> KeyPairRequest:
    (keypair_request,) = KeyPairRequest.objects.all()
    return keypair_request


def the_outcome_event() -> AuditEvent:
    """The audit row after "requested": what became of the create."""
    requested, outcome = AuditEvent.objects.order_by("id")
    assert requested.action == AuditEvent.Action.REQUESTED
    return outcome


def operator_errors(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


# --- BCC refuses the input (only reachable through the service) -----------------------------


def test_a_name_bcc_rejects_is_explained_with_bccs_reason(alice, portal_on_sandbox):
    # The form checks BCC's exact rules (tests/test_create_form.py holds it to the sandbox), so
    # no name the form accepts is refused; call the service the view calls, with one it would not.
    with pytest.raises(services.ServiceFailed) as failed:
        services.keypair_create(
            user=alice,
            form_token="name-test",
            browser_session="alices-browser",
            name="9lives",
            description="",
            region="bj",
            origin=Origin(portal_request_id="r-1"),
        )

    keypair_request = the_request()
    event = the_outcome_event()
    assert failed.value.message == (
        "BCC rejected the name: The key pair name must be 1 to 65 characters, start with a letter, and contain "
        "only letters, digits, Chinese characters and - _ / . Change the name and try again."
    )
    assert failed.value.http_status == 400
    assert not Delivery.objects.exists()  # no key waits for a download
    assert failed.value.keypair_request == keypair_request
    assert (keypair_request.status, keypair_request.error_code) == (Status.FAILED, errors.KEYPAIR_NAME_INVALID)
    assert keypair_request.error_message == failed.value.message
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "failure", errors.KEYPAIR_NAME_INVALID)
    assert event.bcc_request_id == keypair_request.bcc_request_id != ""
    assert portal_on_sandbox.keypairs() == []


def test_a_description_bcc_rejects_is_explained_with_bccs_reason(alice, portal_on_sandbox):
    with pytest.raises(services.ServiceFailed) as failed:
        services.keypair_create(
            user=alice,
            form_token="description-test",
            browser_session="alices-browser",
            name="web",
            description="<b>bold</b>",
            region="bj",
            origin=Origin(),
        )

    keypair_request = the_request()
    assert failed.value.message.startswith("BCC rejected the description: The description must be at most 140")
    assert failed.value.message.endswith(". Change the description and try again.")
    assert failed.value.http_status == 400
    assert failed.value.code == errors.KEYPAIR_DESCRIPTION_INVALID
    assert keypair_request.error_code == errors.KEYPAIR_DESCRIPTION_INVALID
    assert the_outcome_event().bcc_error_code == errors.KEYPAIR_DESCRIPTION_INVALID
    assert portal_on_sandbox.keypairs() == []


# --- BCC refuses the request ----------------------------------------------------------------


def test_the_form_shown_after_a_failure_can_be_submitted_again(alice_client, portal_on_sandbox):
    portal_on_sandbox.quota = 0
    refused = create(alice_client)
    portal_on_sandbox.quota = 500

    response = create(alice_client, form_token=form_token_in(refused))

    assert refused.status_code == 409
    assert response.status_code == 302
    assert DOWNLOAD_COOKIE in response.cookies
    assert len(portal_on_sandbox.keypairs()) == 1
    assert sorted(KeyPairRequest.objects.values_list("status", flat=True)) == [Status.CREATED, Status.FAILED]


def test_submitting_a_failed_form_again_shows_the_failure_instead_of_retrying(alice_client, portal_on_sandbox):
    portal_on_sandbox.quota = 0
    form_token = form_token_in(alice_client.get(CREATE_URL))
    create(alice_client, form_token=form_token)
    portal_on_sandbox.quota = 500

    replay = create(alice_client, form_token=form_token)
    page = alice_client.get(replay["Location"])

    keypair_request = the_request()
    assert replay.status_code == 302
    assert replay["Location"] == f"/keypairs/{keypair_request.public_id}/"
    assert page.status_code == 200
    assert page_says(page, messages.QUOTA_EXCEEDED.format(region="bj"))
    assert portal_on_sandbox.keypairs() == []


def test_a_portal_clock_bcc_does_not_accept_is_the_operators_problem(alice_client, portal_on_sandbox, caplog):
    portal_on_sandbox.clock = lambda: datetime.now(UTC) + timedelta(hours=2)

    response = create(alice_client)

    reference = response["X-Request-ID"]
    keypair_request = the_request()
    assert response.status_code == 502
    assert page_says(response, messages.PORTAL_MISCONFIGURED.format(reference=reference))
    assert keypair_request.error_code == errors.REQUEST_EXPIRED
    assert the_outcome_event().bcc_error_code == errors.REQUEST_EXPIRED
    assert any(f"code={errors.REQUEST_EXPIRED}" in line for line in operator_errors(caplog))
    assert portal_on_sandbox.keypairs() == []


def test_missing_credentials_are_the_operators_problem_too(alice_client, portal_on_sandbox, settings, caplog):
    # Production refuses to start without them; a development portal can get this far.
    settings.BCC_SECRET_ACCESS_KEY = ""

    response = create(alice_client)

    reference = response["X-Request-ID"]
    keypair_request = the_request()
    event = the_outcome_event()
    assert response.status_code == 502
    assert page_says(response, messages.PORTAL_MISCONFIGURED.format(reference=reference))
    assert (keypair_request.status, keypair_request.error_code) == (Status.FAILED, services.SETTINGS_INCOMPLETE)
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "failure", services.SETTINGS_INCOMPLETE)
    assert any(f"portal_request_id={reference}" in line for line in operator_errors(caplog))
    assert portal_on_sandbox.request_log == []


# --- BCC created it, the portal could not store its private key ---------------------------------


def _database_refuses_deliveries(monkeypatch) -> None:
    def refuse(**kwargs):
        raise DatabaseError("disk full")

    # The service holds its own reference to delivery_create.
    monkeypatch.setattr(create_service, "delivery_create", refuse)


def test_a_private_key_that_cannot_be_stored_is_deleted_in_bcc(alice_client, portal_on_sandbox, monkeypatch):
    _database_refuses_deliveries(monkeypatch)

    response = create(alice_client)

    keypair_request = the_request()
    event = the_outcome_event()
    assert response.status_code == 500
    assert page_says(response, messages.NOT_STORED)
    assert DOWNLOAD_COOKIE not in response.cookies
    assert keypair_request.status == Status.FAILED
    assert keypair_request.error_message == messages.NOT_STORED
    assert keypair_request.error_code == services.NOT_STORED
    assert keypair_request.keypair_id
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "failure", services.NOT_STORED)
    assert event.keypair_id == keypair_request.keypair_id
    assert sent_to_bcc(portal_on_sandbox) == ["create", "delete"]
    assert portal_on_sandbox.keypairs() == []
    assert not Delivery.objects.exists()


def test_a_key_pair_that_can_be_neither_stored_nor_deleted_is_named(
    alice_client, portal_on_sandbox, monkeypatch, caplog
):
    _database_refuses_deliveries(monkeypatch)
    portal_on_sandbox.inject("status", status=500, operation="delete")

    response = create(alice_client)

    reference = response["X-Request-ID"]
    keypair_request = the_request()
    event = the_outcome_event()
    (orphan,) = portal_on_sandbox.keypairs()
    sentence = messages.NOT_STORED_NOT_DELETED.format(keypair_id=orphan["keypairId"], reference=reference)
    assert response.status_code == 500
    assert page_says(response, sentence)
    assert (keypair_request.status, keypair_request.keypair_id) == (Status.FAILED, orphan["keypairId"])
    assert keypair_request.error_message == sentence
    assert keypair_request.error_code == event.bcc_error_code == services.ORPHANED
    assert (event.action, event.outcome, event.keypair_id) == ("failed", "failure", orphan["keypairId"])
    assert any("orphaned" in line and orphan["keypairId"] in line for line in operator_errors(caplog))
