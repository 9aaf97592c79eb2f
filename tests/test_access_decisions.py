"""Approving and denying access requests (keypairs.services.access_decisions), against the sandbox and real SMTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections

from keypairs.audit import Origin
from keypairs.models import AccessRequest, InstanceBinding
from keypairs.services.access_decisions import (
    OWN_REQUEST,
    REASON_REQUIRED,
    access_request_approve,
    access_request_deny,
    access_request_retry_bind,
)
from keypairs.services.errors import ServiceRefused
from tests.access_world import NOW, approver, audited, held_by, pending_request
from tests.offboarding_world import made
from tests.sandbox_instances import linux_instances

ORIGIN = Origin()
pytestmark = pytest.mark.usefixtures("portal_on_sandbox")


@pytest.fixture
def alice_mailed(alice):
    alice.email = "alice@example.com"
    alice.save()
    return alice


def test_an_approval_binds_at_once_and_tells_the_requester(alice_mailed, portal_on_sandbox, smtp_server):
    carol = approver()
    web = made(alice_mailed, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1", "i-web2"], name="web")
    request = pending_request(alice_mailed, web, ["i-web1", "i-web2"], duration=timedelta(hours=8))

    decision = access_request_approve(
        approver=carol, access_request=request, reason="release day", origin=ORIGIN, now=NOW + timedelta(hours=1)
    )

    assert decision.bind.bound == ("i-web1", "i-web2") and not decision.bind.not_bound
    assert [held_by("i-web1"), held_by("i-web2")] == [web.keypair_id] * 2
    request.refresh_from_db()
    assert (request.status, request.decided_by, request.decision_reason) == ("approved", carol, "release day")
    bindings = InstanceBinding.objects.filter(access_request=request, state="bound")
    assert {b.expires_at for b in bindings} == {NOW + timedelta(hours=9)}
    assert {b.bound_by for b in bindings} == {carol}
    [approved] = audited("access_approved")
    assert approved[:3] == ("access_approved", "success", "carol")
    assert str(request.public_id) in approved[3] and "i-web1, i-web2" in approved[3] and "release day" in approved[3]
    [mail] = smtp_server.mails_to("alice@example.com")
    assert "approved" in mail.subject and "i-web1" in mail.body and "carol" in mail.body


def test_nobody_approves_their_own_request(alice_mailed, portal_on_sandbox):
    alice_mailed.groups.add(*approver("x").groups.all())  # Alice is a developer and an approver
    web = made(alice_mailed, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"])
    request = pending_request(alice_mailed, web, ["i-web1"])

    with pytest.raises(ServiceRefused) as refused:
        access_request_approve(approver=alice_mailed, access_request=request, origin=ORIGIN, now=NOW)

    assert refused.value.message == str(OWN_REQUEST)
    request.refresh_from_db()
    assert request.status == "pending" and not held_by("i-web1")
    [row] = audited("access_approved")
    assert row[:3] == ("access_approved", "denied", "alice") and "own access request" in row[3]


def test_nobody_denies_their_own_request_either_reason_or_not(alice, portal_on_sandbox):
    alice.groups.add(*approver("x").groups.all())
    request = pending_request(alice, made(alice, "web"), ["i-web1"])

    with pytest.raises(ServiceRefused) as refused:
        access_request_deny(approver=alice, access_request=request, reason="", origin=ORIGIN, now=NOW)

    assert refused.value.code == "own_request"
    request.refresh_from_db()
    assert request.status == "pending"
    assert audited("access_denied")[0][:3] == ("access_denied", "denied", "alice")


def test_a_denial_needs_a_reason_and_then_tells_the_requester(alice_mailed, portal_on_sandbox, smtp_server):
    carol = approver()
    web = made(alice_mailed, "web")
    request = pending_request(alice_mailed, web, ["i-web1"])

    with pytest.raises(ServiceRefused) as refused:
        access_request_deny(approver=carol, access_request=request, reason="   ", origin=ORIGIN, now=NOW)
    assert refused.value.message == str(REASON_REQUIRED)
    request.refresh_from_db()
    assert request.status == "pending" and not audited("access_denied")

    access_request_deny(
        approver=carol, access_request=request, reason="use the staging servers", origin=ORIGIN, now=NOW
    )

    request.refresh_from_db()
    assert (request.status, request.decision_reason) == ("denied", "use the staging servers")
    assert audited("access_denied")[0][:3] == ("access_denied", "success", "carol")
    [mail] = smtp_server.mails_to("alice@example.com")
    assert "denied" in mail.subject and "use the staging servers" in mail.body


def test_a_request_past_its_decide_by_time_is_not_decided(alice, portal_on_sandbox):
    carol = approver()
    request = pending_request(alice, made(alice, "web"), ["i-web1"])

    with pytest.raises(ServiceRefused) as refused:
        access_request_approve(approver=carol, access_request=request, origin=ORIGIN, now=NOW + timedelta(hours=73))

    assert refused.value.code == "past_decide_by"
    request.refresh_from_db()
    assert request.status == "pending" and request.decided_by is None


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_decide_once(alice, portal_on_sandbox):
    carol, dave = approver("carol"), approver("dave")
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"])
    request = pending_request(alice, web, ["i-web1"])
    start, outcomes = threading.Barrier(2), {}

    def decide(who, act):
        start.wait()
        try:
            act(
                approver=who,
                access_request=AccessRequest.objects.get(pk=request.pk),
                reason="r",
                origin=ORIGIN,
                now=NOW,
            )
            outcomes[who.username] = "decided"
        except ServiceRefused as error:
            outcomes[who.username] = error.code
        finally:
            close_old_connections()

    threads = [
        threading.Thread(target=decide, args=(carol, access_request_approve)),
        threading.Thread(target=decide, args=(dave, access_request_deny)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["already_decided", "decided"]
    request.refresh_from_db()
    winner = next(name for name, outcome in outcomes.items() if outcome == "decided")
    assert request.decided_by.username == winner
    assert len(audited("access_approved", "access_denied")) == 1
    assert bool(held_by("i-web1")) == (request.status == "approved")


def test_a_bind_that_fails_after_approval_keeps_the_approval_and_a_retry_binds(
    alice_mailed, portal_on_sandbox, smtp_server
):
    carol = approver()
    web = made(alice_mailed, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"])
    request = pending_request(alice_mailed, web, ["i-web1"])
    portal_on_sandbox.inject("status", status=500, operation="attach", count=10)

    decision = access_request_approve(approver=carol, access_request=request, origin=ORIGIN, now=NOW)

    request.refresh_from_db()
    assert request.status == "approved" and decision.bind.not_bound == ("i-web1",) and decision.bind.failure
    assert not held_by("i-web1")
    assert audited("bind_failed")
    [mail] = smtp_server.mails_to("alice@example.com")
    assert "Not bound" in mail.body and "retry" in mail.body

    portal_on_sandbox.clear_faults()
    outcome = access_request_retry_bind(approver=carol, access_request=request, origin=ORIGIN, now=NOW)

    assert outcome.bound == ("i-web1",) and held_by("i-web1") == web.keypair_id
    with pytest.raises(ServiceRefused) as refused:
        access_request_retry_bind(approver=carol, access_request=request, origin=ORIGIN, now=NOW)
    assert refused.value.code == "nothing_to_retry"


def test_an_approval_reads_each_instances_key_pair_fresh_and_tells_the_replaced_owner(
    alice, bob, portal_on_sandbox, smtp_server
):
    bob.email = "bob@example.com"
    bob.save()
    carol = approver()
    web, bobs = made(alice, "web"), made(bob, "bobs")
    linux_instances(portal_on_sandbox, "bj", ids=["i-shared"])
    request = pending_request(alice, web, ["i-shared"])
    # After Alice asked, Bob's key pair was bound there in BCC's console.
    from keypairs.bcc.factory import get_client

    get_client("bj").attach_keypair(bobs.keypair_id, instance_ids=["i-shared"])

    access_request_approve(approver=carol, access_request=request, origin=ORIGIN, now=NOW)

    assert held_by("i-shared") == web.keypair_id
    assert InstanceBinding.objects.get(access_request=request).replaced_keypair_id == bobs.keypair_id
    [mail] = smtp_server.mails_to("bob@example.com")
    assert "bobs" in mail.subject


def test_only_approvers_decide(alice, bob, portal_on_sandbox):
    request = pending_request(alice, made(alice, "web"), ["i-web1"])
    auditor = approver("audrey")
    auditor.groups.clear()

    for who in (bob, auditor):
        with pytest.raises(ServiceRefused) as refused:
            access_request_approve(approver=who, access_request=request, origin=ORIGIN, now=NOW)
        assert refused.value.code == "not_an_approver"
    request.refresh_from_db()
    assert request.status == "pending"


def test_bcc_unreadable_at_approval_keeps_the_approval_audits_the_failure_and_records_the_untold(
    alice, portal_on_sandbox, settings
):
    from keypairs.bcc.factory import reset_clients

    carol = approver()
    request = pending_request(alice, made(alice, "web"), ["i-web1"])  # Alice has no mail address
    settings.BCC_ENDPOINT = "http://127.0.0.1:9/{region}"  # nothing listens on the discard port
    reset_clients()

    decision = access_request_approve(approver=carol, access_request=request, origin=ORIGIN, now=NOW)

    request.refresh_from_db()
    assert request.status == "approved"
    assert decision.bind.not_bound == ("i-web1",) and "could not read the instances" in decision.bind.failure
    [failed] = audited("bind_failed")
    assert failed[:3] == ("bind_failed", "failure", "carol") and str(request.public_id) in failed[3]
    [untold] = audited("mail_failed")
    assert untold[3] == "access_request_approved to alice (no address)"
