"""Reconciling creates whose outcome is unknown: keypairs.reconcile and ``manage.py reconcile``.

Open requests are written straight into the database (as a lost answer or a dead worker leaves
them) and key pairs are made in the real BCC sandbox with the portal's own client, so that each
test sets up exactly the evidence it is about: which key pairs of that name exist, when they
were made, and who else claims them. The fault matrix (test_fault_matrix.py) drives the same
code through the create form with real faults.
"""

from __future__ import annotations

import io
import secrets
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from keypairs import messages, services
from keypairs.audit import Origin, audit_verify
from keypairs.bcc.client import BccClient
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.reconcile import (
    BY_COMMAND,
    NOT_CREATED,
    WORKER_LOST,
    Verdict,
    keypair_reconcile,
    reconcile_open,
    settle_after,
)
from tests.create_flow import closed_port, log_lines, sent_to_bcc

Status = KeyPairRequest.Status
ORIGIN = Origin(source_ip="192.0.2.7", user_agent="test", portal_request_id="req-123")


def open_request(owner, *, name: str = "web", region: str = "bj", status=Status.UNKNOWN, age=timedelta(0)):
    """A create as a lost answer (``unknown``) or a running or dead worker (``pending``) leaves it."""
    keypair_request = KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        region=region,
        name=name,
        status=status,
        error_code="outcome_unknown" if status == Status.UNKNOWN else "",
        error_message=messages.OUTCOME_UNKNOWN.format(reference="req-123") if status == Status.UNKNOWN else "",
    )
    if age:
        KeyPairRequest.objects.filter(pk=keypair_request.pk).update(created_at=timezone.now() - age)
        keypair_request.refresh_from_db()
    return keypair_request


def made_in_bcc(name: str = "web", *, region: str = "bj") -> str:
    """A key pair in the sandbox, as a create BCC committed leaves it; returns its id."""
    return get_client(region).create_keypair(name=name).keypair_id


def ids_in_bcc(sandbox, region: str = "bj") -> set[str]:
    return {keypair["keypairId"] for keypair in sandbox.keypairs(region=region)}


def run_command() -> str:
    out = io.StringIO()
    call_command("reconcile", stdout=out)
    return out.getvalue()


@pytest.fixture
def settled_at_once(settings):
    """Open requests are old enough to be settled: finding nothing is conclusive."""
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = 0


# --- Finding the key pair the create made -----------------------------------------------------


def test_it_deletes_the_key_pair_a_lost_create_made_and_says_so(alice, portal_on_sandbox):
    keypair_request = open_request(alice)
    orphan = made_in_bcc()

    result = keypair_reconcile(keypair_request=keypair_request, origin=ORIGIN)

    keypair_request.refresh_from_db()
    event = AuditEvent.objects.latest()
    assert (result.verdict, result.keypair_id) == (Verdict.DELETED, orphan)
    assert (keypair_request.status, keypair_request.keypair_id) == (Status.RECONCILED, orphan)
    assert keypair_request.error_message == messages.RECONCILED_DELETED
    assert (event.action, event.outcome, event.keypair_id) == ("reconciled", "success", orphan)
    assert (event.actor_username, event.portal_request_id, event.source_ip) == ("alice", "req-123", "192.0.2.7")
    assert (event.region, event.keypair_name) == ("bj", "web")
    assert portal_on_sandbox.keypairs() == []
    assert audit_verify().ok


def test_it_leaves_a_key_pair_of_the_same_name_made_before_the_request(alice, portal_on_sandbox, settled_at_once):
    portal_on_sandbox.clock = lambda: datetime.now(UTC) - timedelta(minutes=5)
    older = made_in_bcc()
    portal_on_sandbox.clock = lambda: datetime.now(UTC)
    keypair_request = open_request(alice)

    result = keypair_reconcile(keypair_request=keypair_request)

    keypair_request.refresh_from_db()
    event = AuditEvent.objects.latest()
    assert result.verdict == Verdict.NOT_CREATED
    assert (keypair_request.status, keypair_request.keypair_id) == (Status.FAILED, "")
    assert keypair_request.error_message == messages.RECONCILED_NOT_CREATED
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "failure", NOT_CREATED)
    assert event.detail.endswith(BY_COMMAND)
    assert ids_in_bcc(portal_on_sandbox) == {older}


def test_it_allows_for_bccs_clock_running_a_little_behind(alice, portal_on_sandbox):
    keypair_request = open_request(alice)
    portal_on_sandbox.clock = lambda: datetime.now(UTC) - timedelta(seconds=30)
    orphan = made_in_bcc()

    result = keypair_reconcile(keypair_request=keypair_request)

    assert (result.verdict, result.keypair_id) == (Verdict.DELETED, orphan)
    assert portal_on_sandbox.keypairs() == []


def test_it_never_deletes_a_key_pair_someone_holds(alice, bob, portal_on_sandbox, settled_at_once):
    keypair_request = open_request(alice)
    bobs = made_in_bcc()
    KeyPairRequest.objects.create(
        owner=bob,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        region="bj",
        name="web",
        status=Status.CREATED,
        keypair_id=bobs,
    )

    result = keypair_reconcile(keypair_request=keypair_request)

    assert result.verdict == Verdict.NOT_CREATED
    assert ids_in_bcc(portal_on_sandbox) == {bobs}


def test_it_only_looks_at_the_requests_own_name_and_region(alice, portal_on_sandbox, settled_at_once):
    keypair_request = open_request(alice, name="web")
    other_name = made_in_bcc("web2")
    other_region = made_in_bcc("web", region="gz")

    result = keypair_reconcile(keypair_request=keypair_request)

    assert result.verdict == Verdict.NOT_CREATED
    assert ids_in_bcc(portal_on_sandbox) == {other_name}
    assert ids_in_bcc(portal_on_sandbox, "gz") == {other_region}


def test_two_lost_creates_of_one_name_each_delete_one_key_pair(alice, bob, portal_on_sandbox):
    first, second = open_request(alice), open_request(bob)
    orphans = {made_in_bcc(), made_in_bcc()}

    output = run_command()

    first.refresh_from_db()
    second.refresh_from_db()
    assert {first.keypair_id, second.keypair_id} == orphans
    assert first.status == second.status == Status.RECONCILED
    assert "2 open creates: 2 key pairs deleted" in output
    assert portal_on_sandbox.keypairs() == []
    assert AuditEvent.objects.filter(action="reconciled").count() == 2


def test_nothing_found_right_after_the_timeout_is_not_conclusive(alice, portal_on_sandbox):
    keypair_request = open_request(alice)

    result = keypair_reconcile(keypair_request=keypair_request, origin=ORIGIN)

    keypair_request.refresh_from_db()
    assert result.verdict == Verdict.NOT_CREATED_YET
    assert keypair_request.status == Status.UNKNOWN
    assert keypair_request.error_message == messages.OUTCOME_NOT_CREATED_YET.format(reference="req-123")
    assert not AuditEvent.objects.exists()


def test_it_waits_while_a_create_of_the_same_name_is_in_flight(alice, bob, portal_on_sandbox):
    keypair_request = open_request(alice)
    open_request(bob, status=Status.PENDING)  # BCC may be answering it right now
    in_flight = made_in_bcc()

    output = run_command()

    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.UNKNOWN
    assert "another create of this name is in flight" in output
    assert "1 left for a later run" in output
    assert ids_in_bcc(portal_on_sandbox) == {in_flight}


# --- Creates whose worker died ----------------------------------------------------------------------


def test_it_takes_over_a_create_whose_worker_died(alice, portal_on_sandbox, settings):
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = 120
    keypair_request = open_request(alice, status=Status.PENDING, age=timedelta(minutes=3))
    orphan = made_in_bcc()

    output = run_command()

    keypair_request.refresh_from_db()
    lost, reconciled = AuditEvent.objects.order_by("id")
    assert (keypair_request.status, keypair_request.keypair_id) == (Status.RECONCILED, orphan)
    assert (keypair_request.error_code, keypair_request.error_message) == (WORKER_LOST, messages.RECONCILED_DELETED)
    assert (lost.action, lost.outcome, lost.bcc_error_code) == ("outcome_unknown", "unknown", WORKER_LOST)
    assert lost.detail == f"no outcome recorded within 120 s: the worker handling the create stopped{BY_COMMAND}"
    assert (reconciled.action, reconciled.keypair_id, reconciled.actor_username) == ("reconciled", orphan, "alice")
    assert f"{keypair_request.public_id} (bj, web, alice): created key pair {orphan}" in output
    assert portal_on_sandbox.keypairs() == []


def test_a_create_still_within_its_time_is_left_alone(alice, portal_on_sandbox, settings):
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = 120
    keypair_request = open_request(alice, status=Status.PENDING, age=timedelta(seconds=30))
    made_in_bcc()

    output = run_command()

    keypair_request.refresh_from_db()
    assert output == "No open creates to reconcile.\n"
    assert keypair_request.status == Status.PENDING
    assert len(portal_on_sandbox.keypairs()) == 1
    assert not AuditEvent.objects.exists()


def test_a_late_answer_after_the_take_over_is_deleted_not_delivered(alice, portal_on_sandbox, settings, monkeypatch):
    """BCC answers a create just after cron decided its worker was gone: one of the two must give way."""
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = 0
    real_create = BccClient.create_keypair

    def create_then_cron_runs(self, **kwargs):
        keypair = real_create(self, **kwargs)
        reconcile_open()  # as if cron ran while the answer was on its way
        return keypair

    monkeypatch.setattr(BccClient, "create_keypair", create_then_cron_runs)

    with pytest.raises(services.ServiceFailed) as failed:
        services.keypair_create(
            user=alice,
            form_token="late-answer-form-token",
            browser_session="alices-browser",
            name="web",
            description="",
            region="bj",
            origin=ORIGIN,
        )

    keypair_request = KeyPairRequest.objects.get()
    assert failed.value.message == messages.ANSWER_TOO_LATE
    assert failed.value.code == services.ANSWERED_TOO_LATE
    assert keypair_request.status == Status.RECONCILED
    assert not Delivery.objects.exists()
    assert portal_on_sandbox.keypairs() == []
    assert list(AuditEvent.objects.order_by("id").values_list("action", "bcc_error_code")) == [
        ("requested", ""),
        ("outcome_unknown", WORKER_LOST),
        ("reconciled", ""),
        ("failed", services.ANSWERED_TOO_LATE),
    ]


# --- When BCC cannot help ----------------------------------------------------------------------------


def test_when_bcc_cannot_be_asked_it_stays_unknown_and_the_command_fails(alice, portal_on_sandbox, settings, caplog):
    keypair_request = open_request(alice)
    settings.BCC_ENDPOINT = f"http://127.0.0.1:{closed_port()}/{{region}}"
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 of 1 open creates could not be reconciled"):
        call_command("reconcile", stdout=out)

    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.UNKNOWN
    assert "could not be reconciled (BCC could not be asked: Could not connect to BCC" in out.getvalue()
    assert any(str(keypair_request.public_id) in line and "not reconciled" in line for line in log_lines(caplog))
    assert not AuditEvent.objects.exists()


def test_one_request_that_cannot_be_reconciled_does_not_stop_the_others(alice, portal_on_sandbox, settings):
    stranded = open_request(alice, region="gz")
    keypair_request = open_request(alice)
    made_in_bcc()
    settings.BCC_REGIONS = ["bj"]  # gz was offered when the create was made
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 of 2 open creates could not be reconciled"):
        call_command("reconcile", stdout=out)

    stranded.refresh_from_db()
    keypair_request.refresh_from_db()
    assert stranded.status == Status.UNKNOWN
    assert keypair_request.status == Status.RECONCILED
    assert "BCC region 'gz' is not one of BCC_REGIONS" in out.getvalue()


def test_a_delete_bcc_refuses_is_retried_without_a_second_lookup(alice, portal_on_sandbox):
    keypair_request = open_request(alice)
    orphan = made_in_bcc()
    portal_on_sandbox.inject("status", status=500, operation="delete")

    with pytest.raises(CommandError):
        run_command()
    keypair_request.refresh_from_db()
    claimed = (keypair_request.status, keypair_request.keypair_id)
    lists_before = [record.operation for record in portal_on_sandbox.request_log].count("list")

    output = run_command()

    keypair_request.refresh_from_db()
    assert claimed == (Status.UNKNOWN, orphan)
    assert "1 key pair deleted" in output
    assert keypair_request.status == Status.RECONCILED
    assert [record.operation for record in portal_on_sandbox.request_log].count("list") == lists_before
    assert portal_on_sandbox.keypairs() == []


def test_a_key_pair_already_gone_counts_as_deleted(alice, portal_on_sandbox):
    keypair_request = open_request(alice)
    orphan = made_in_bcc()
    KeyPairRequest.objects.filter(pk=keypair_request.pk).update(keypair_id=orphan)  # claimed by an earlier run
    get_client("bj").delete_keypair(orphan)  # which deleted it, then died

    result = keypair_reconcile(keypair_request=keypair_request)

    assert (result.verdict, result.keypair_id) == (Verdict.DELETED, orphan)
    assert sent_to_bcc(portal_on_sandbox).count("delete") == 2


# --- Running again, running at once ---------------------------------------------------------------


def test_a_second_run_changes_nothing(alice, portal_on_sandbox, settled_at_once):
    open_request(alice, name="found")
    open_request(alice, name="never-made")
    made_in_bcc("found")
    run_command()
    events = AuditEvent.objects.count()

    output = run_command()

    assert output == "No open creates to reconcile.\n"
    assert AuditEvent.objects.count() == events
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_two_reconcilers_at_once_delete_it_once_and_record_it_once(alice, portal_on_sandbox):
    keypair_request = open_request(alice)
    orphan = made_in_bcc()
    start = threading.Barrier(2)
    verdicts = []

    def reconcile() -> None:
        try:
            start.wait()
            verdicts.append(keypair_reconcile(keypair_request=keypair_request).verdict)
        finally:
            connection.close()

    threads = [threading.Thread(target=reconcile) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    keypair_request.refresh_from_db()
    assert sorted(verdicts) == [Verdict.DELETED, Verdict.SETTLED]
    assert (keypair_request.status, keypair_request.keypair_id) == (Status.RECONCILED, orphan)
    assert AuditEvent.objects.filter(action="reconciled").count() == 1
    assert portal_on_sandbox.keypairs() == []
    assert audit_verify().ok


# --- Settings ------------------------------------------------------------------------------------------


def test_an_open_create_is_settled_after_twice_the_longest_a_create_can_take(settings):
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = None
    settings.BCC_MAX_ATTEMPTS, settings.BCC_CONNECT_TIMEOUT, settings.BCC_READ_TIMEOUT = 3, 3.05, 20.0

    assert settle_after() == timedelta(seconds=59)


def test_the_settle_time_can_be_set(settings):
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = 600

    assert settle_after() == timedelta(minutes=10)
