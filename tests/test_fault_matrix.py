"""The fault matrix: every way BCC or the network can fail a create, one test each.

Each fault is produced for real: by the BCC sandbox (injected faults, its quota, wrong
credentials) or on loopback (a closed port; a listening socket whose accept queue is full, so
that a connect times out). Each test asserts what Alice reads (never a stack trace or a 500
page), the audit trail with the outcome and the error, the request's final state, and what is
left in the sandbox: no key pair, unless Alice got its private key.

When BCC never answers, the portal reconciles (keypairs/reconcile.py): a key pair BCC did
create is deleted at once; one BCC creates late is deleted by ``manage.py reconcile``.
Other failures of the create flow (input BCC rejects, a private key the database cannot
store, resubmitted forms) are in test_create_failures.py.
"""

from __future__ import annotations

import io
import logging
import socket
import time

import pytest
from django.core.management import call_command

from keypairs import messages
from keypairs.audit import audit_verify
from keypairs.bcc import errors
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.reconcile import NOT_CREATED
from keypairs.views import DOWNLOAD_COOKIE
from tests.create_flow import (
    audit_trail,
    closed_port,
    create,
    log_lines,
    open_form,
    page_says,
    sent_to_bcc,
    the_request,
)

Status = KeyPairRequest.Status
REQUESTED = ("requested", "success")
FAILED = ("failed", "failure")
UNKNOWN = ("outcome_unknown", "unknown")
RECONCILED = ("reconciled", "success")


def outcome_event() -> AuditEvent:
    """The audit row that says what became of the create (the one after "requested")."""
    return AuditEvent.objects.order_by("id")[1]


def reconcile_later(settings) -> str:
    """Run the cron job once the request is old enough to be settled; returns what it printed."""
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = 0
    out = io.StringIO()
    call_command("reconcile", stdout=out)
    return out.getvalue()


def wait_for(condition, *, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the sandbox did not get there in time"
        time.sleep(0.05)


@pytest.fixture
def full_backlog_port():
    """A port that listens but never accepts, its accept queue already full: a connect there times out.

    Linux drops further SYNs, which is what a client sees from a black-holed address.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    yield port
    filler.close()
    listener.close()


# --- The request never reaches BCC ----------------------------------------------------------------


def test_a_refused_connection_says_bcc_could_not_be_reached(alice_client, portal_on_sandbox, settings):
    form_token = open_form(alice_client)
    settings.BCC_ENDPOINT = f"http://127.0.0.1:{closed_port()}/{{region}}"

    response = create(alice_client, form_token=form_token)

    keypair_request = the_request()
    event = outcome_event()
    assert response.status_code == 503
    assert page_says(response, messages.BCC_UNAVAILABLE.format(reason="could not connect to BCC"))
    assert DOWNLOAD_COOKIE not in response.cookies
    assert (keypair_request.status, keypair_request.error_code) == (Status.FAILED, "connect_error")
    assert audit_trail() == [REQUESTED, FAILED]
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "failure", "connect_error")
    assert sent_to_bcc(portal_on_sandbox) == []
    assert portal_on_sandbox.keypairs() == []


def test_a_connect_timeout_says_bcc_could_not_be_reached(alice_client, portal_on_sandbox, settings, full_backlog_port):
    form_token = open_form(alice_client)
    settings.BCC_ENDPOINT = f"http://127.0.0.1:{full_backlog_port}/{{region}}"
    settings.BCC_CONNECT_TIMEOUT = 0.2

    response = create(alice_client, form_token=form_token)

    keypair_request = the_request()
    event = outcome_event()
    assert response.status_code == 503
    assert page_says(response, messages.BCC_UNAVAILABLE.format(reason="connecting to BCC timed out"))
    assert (keypair_request.status, keypair_request.error_code) == (Status.FAILED, "connect_timeout")
    assert audit_trail() == [REQUESTED, FAILED]
    assert (event.bcc_error_code, event.detail) == ("connect_timeout", errors.CONNECT_TIMED_OUT)
    assert sent_to_bcc(portal_on_sandbox) == []
    assert portal_on_sandbox.keypairs() == []


# --- BCC answers with an error ------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(500, "InternalError"), (503, "ServiceUnavailable")])
def test_a_bcc_error_answer_is_a_failure_that_can_be_retried(alice_client, portal_on_sandbox, status, code):
    portal_on_sandbox.inject("status", status=status, operation="create")

    response = create(alice_client)

    keypair_request = the_request()
    event = outcome_event()
    assert response.status_code == 502
    assert page_says(response, messages.BCC_FAILED.format(code=code))
    assert (keypair_request.status, keypair_request.error_code) == (Status.FAILED, code)
    assert audit_trail() == [REQUESTED, FAILED]
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "failure", code)
    assert event.bcc_request_id == keypair_request.bcc_request_id != ""
    # A create is never repeated once it may have reached BCC.
    assert sent_to_bcc(portal_on_sandbox) == ["create"]
    assert portal_on_sandbox.keypairs() == []


def test_a_full_region_says_so_and_suggests_another(alice_client, portal_on_sandbox):
    portal_on_sandbox.quota = 0

    response = create(alice_client, region="gz")

    keypair_request = the_request()
    event = outcome_event()
    assert response.status_code == 409
    assert page_says(response, messages.QUOTA_EXCEEDED.format(region="gz"))
    assert DOWNLOAD_COOKIE not in response.cookies
    assert (keypair_request.status, keypair_request.error_code) == (Status.FAILED, errors.KEYPAIR_QUOTA_EXCEEDED)
    assert keypair_request.error_message == messages.QUOTA_EXCEEDED.format(region="gz")
    assert audit_trail() == [REQUESTED, FAILED]
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "failure", errors.KEYPAIR_QUOTA_EXCEEDED)
    assert (event.region, event.keypair_name) == ("gz", "build-server")
    assert event.latency_ms is not None
    assert portal_on_sandbox.keypairs(region="gz") == []
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("setting", "value", "code"),
    [
        pytest.param("BCC_ACCESS_KEY_ID", "wrong", errors.INVALID_ACCESS_KEY_ID, id="InvalidAccessKeyId"),
        pytest.param(
            "BCC_SECRET_ACCESS_KEY", "not-the-secret-key", errors.SIGNATURE_DOES_NOT_MATCH, id="SignatureDoesNotMatch"
        ),
    ],
)
def test_wrong_credentials_are_the_operators_problem(
    alice_client, portal_on_sandbox, settings, caplog, setting, value, code
):
    setattr(settings, setting, value)

    response = create(alice_client)

    reference = response["X-Request-ID"]
    keypair_request = the_request()
    event = outcome_event()
    assert response.status_code == 502
    # Alice is sent to the operators, with nothing about credentials or codes.
    assert page_says(response, messages.PORTAL_MISCONFIGURED.format(reference=reference))
    assert code not in response.content.decode()
    assert (keypair_request.status, keypair_request.error_code) == (Status.FAILED, code)
    assert audit_trail() == [REQUESTED, FAILED]
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "failure", code)
    assert event.portal_request_id == reference
    # The operators get the detail: BCC's code, BCC's request id and Alice's reference.
    (logged,) = [line for line in log_lines(caplog) if "needs an operator" in line]
    assert f"code={code}" in logged
    assert f"portal_request_id={reference}" in logged
    assert f"bcc_request_id={keypair_request.bcc_request_id}" in logged
    assert value not in logged
    assert portal_on_sandbox.keypairs() == []


# --- No answer: reconciled -------------------------------------------------------------------------


@pytest.fixture
def key_generation_slower_than_the_read_timeout(monkeypatch, settings):
    """What a loaded machine does to the sandbox's 2048-bit key generation.

    ``hung-after-creating`` once failed under load: the sandbox generated the key inside the
    create request, the generation outlasted the portal's 1 s read timeout, and the portal gave
    up *before* BCC committed; reconciling at once then found nothing and the trail stopped at
    "outcome unknown". The sandbox now generates an after-acting fault's key when the fault is
    injected, so how long that takes no longer races the client's timeout.
    """
    from keypairs.sandbox import keys

    generate = keys.generate_rsa_keypair

    def slow_generate():
        time.sleep(settings.BCC_READ_TIMEOUT + 0.2)
        return generate()

    monkeypatch.setattr(keys, "generate_rsa_keypair", slow_generate)


@pytest.mark.usefixtures("key_generation_slower_than_the_read_timeout")
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        pytest.param("commit_then_drop", "connection_lost", id="dropped-after-creating"),
        pytest.param("commit_then_hang", "read_timeout", id="hung-after-creating"),
    ],
)
def test_a_create_bcc_committed_but_never_answered_is_deleted_at_once(
    alice_client, portal_on_sandbox, settings, caplog, fault, reason
):
    settings.BCC_READ_TIMEOUT = 1.0
    # However long generating the key takes: the sandbox does it here, before the create is sent.
    portal_on_sandbox.inject(fault, operation="create", seconds=1.5 if fault == "commit_then_hang" else None)

    response = create(alice_client)

    reference = response["X-Request-ID"]
    keypair_request = the_request()
    unknown, reconciled = AuditEvent.objects.order_by("id")[1:]
    assert response.status_code == 504
    assert page_says(response, messages.RECONCILED_DELETED)
    assert DOWNLOAD_COOKIE not in response.cookies
    assert keypair_request.status == Status.RECONCILED
    assert keypair_request.error_message == messages.RECONCILED_DELETED
    assert audit_trail() == [REQUESTED, UNKNOWN, RECONCILED]
    # What happened on the wire is on record for the operators...
    assert unknown.detail.endswith(f"({reason})")
    # ...and which key pair the create made, now deleted.
    assert reconciled.keypair_id == keypair_request.keypair_id != ""
    assert {unknown.portal_request_id, reconciled.portal_request_id} == {reference}
    # The sandbox logs a request when it ends, and a hung one ends late.
    wait_for(lambda: "create" in sent_to_bcc(portal_on_sandbox))
    assert sorted(sent_to_bcc(portal_on_sandbox)) == ["create", "delete"]
    assert portal_on_sandbox.keypairs() == []
    assert not Delivery.objects.exists()
    assert any(keypair_request.keypair_id in line and reference in line for line in log_lines(caplog, logging.WARNING))
    # Nothing is left for an operator: no error was logged.
    assert not [line for line in log_lines(caplog) if "needs an operator" in line or "not reconciled" in line]
    assert audit_verify().ok


@pytest.mark.parametrize(
    ("fault", "seconds", "reason"),
    [
        pytest.param("not_json", None, "bad_response", id="not-json"),
        pytest.param("drop", None, "connection_lost", id="dropped-before-acting"),
    ],
)
def test_no_answer_when_bcc_did_nothing_is_settled_as_nothing_created(
    alice_client, portal_on_sandbox, settings, fault, seconds, reason
):
    portal_on_sandbox.inject(fault, operation="create", seconds=seconds)

    response = create(alice_client)

    reference = response["X-Request-ID"]
    keypair_request = the_request()
    assert response.status_code == 504
    # Not conclusive yet: BCC could still act on a create it was slow to read.
    assert page_says(response, messages.OUTCOME_NOT_CREATED_YET.format(reference=reference))
    assert DOWNLOAD_COOKIE not in response.cookies
    assert keypair_request.status == Status.UNKNOWN
    assert audit_trail() == [REQUESTED, UNKNOWN]
    assert outcome_event().detail.endswith(f"({reason})")
    assert outcome_event().portal_request_id == reference

    printed = reconcile_later(settings)

    keypair_request.refresh_from_db()
    settled = AuditEvent.objects.latest()
    assert "1 not created" in printed
    assert (keypair_request.status, keypair_request.error_message) == (Status.FAILED, messages.RECONCILED_NOT_CREATED)
    assert audit_trail() == [REQUESTED, UNKNOWN, FAILED]
    assert (settled.bcc_error_code, settled.actor_username) == (NOT_CREATED, "alice")
    assert sent_to_bcc(portal_on_sandbox) == ["create"]
    assert portal_on_sandbox.keypairs() == []
    # Alice's page now says what happened.
    page = alice_client.get(f"/keypairs/{keypair_request.public_id}/")
    assert page_says(page, messages.RECONCILED_NOT_CREATED)


def test_a_read_timeout_before_bcc_acted_leaves_nothing_behind(alice_client, portal_on_sandbox, settings):
    settings.BCC_READ_TIMEOUT = 1.0
    # BCC sits on the create longer than the portal waits, then creates the key pair anyway.
    portal_on_sandbox.inject("latency", operation="create", seconds=2.0)

    response = create(alice_client)

    reference = response["X-Request-ID"]
    keypair_request = the_request()
    assert response.status_code == 504
    assert page_says(response, messages.OUTCOME_NOT_CREATED_YET.format(reference=reference))
    assert keypair_request.status == Status.UNKNOWN
    assert audit_trail() == [REQUESTED, UNKNOWN]
    assert outcome_event().detail.endswith("(read_timeout)")
    assert portal_on_sandbox.keypairs() == []  # not yet

    wait_for(lambda: len(portal_on_sandbox.keypairs()) == 1)
    (late,) = portal_on_sandbox.keypairs()
    printed = reconcile_later(settings)

    keypair_request.refresh_from_db()
    assert "1 key pair deleted" in printed
    assert (keypair_request.status, keypair_request.keypair_id) == (Status.RECONCILED, late["keypairId"])
    assert audit_trail() == [REQUESTED, UNKNOWN, RECONCILED]
    assert AuditEvent.objects.latest().keypair_id == late["keypairId"]
    assert portal_on_sandbox.keypairs() == []
    assert audit_verify().ok


def test_no_answer_and_bcc_gone_leaves_the_outcome_unknown_for_the_cron_job(
    alice_client, portal_on_sandbox, settings, caplog
):
    form_token = open_form(alice_client)
    settings.BCC_READ_TIMEOUT = 1.0
    portal_on_sandbox.inject("commit_then_hang", operation="create", seconds=2.0)
    # The lookup after the timeout fails too: BCC answers every attempt of the list with an error page.
    portal_on_sandbox.inject("not_json", operation="list", count=3)

    response = create(alice_client, form_token=form_token)

    reference = response["X-Request-ID"]
    keypair_request = the_request()
    assert response.status_code == 504
    assert page_says(response, messages.OUTCOME_UNKNOWN.format(reference=reference))
    assert keypair_request.status == Status.UNKNOWN
    assert audit_trail() == [REQUESTED, UNKNOWN]
    assert len(portal_on_sandbox.keypairs()) == 1
    assert any("not reconciled" in line and reference in line for line in log_lines(caplog))

    printed = reconcile_later(settings)

    keypair_request.refresh_from_db()
    assert "1 key pair deleted" in printed
    assert keypair_request.status == Status.RECONCILED
    assert audit_trail() == [REQUESTED, UNKNOWN, RECONCILED]
    assert portal_on_sandbox.keypairs() == []
