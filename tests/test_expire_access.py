"""``manage.py expire_access`` with a moving clock (``--now``), against the sandbox and real SMTP."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import close_old_connections

from keypairs.audit import Origin
from keypairs.bcc.factory import get_client, reset_clients
from keypairs.models import AccessRequest, InstanceBinding
from keypairs.services.binding import TargetInstance, keypair_bind
from keypairs.single_runner import single_run
from portal.auth.roles import Role
from tests.access_world import NOW, audited, held_by, pending_request
from tests.auth_people import person
from tests.offboarding_world import made
from tests.people import signed_in
from tests.sandbox_instances import linux_instances

ORIGIN = Origin()
pytestmark = pytest.mark.usefixtures("portal_on_sandbox")
STUCK_PAGE = "/admin/keypairs/stuck-bindings/"


def run(at, *, expect_error: bool = False) -> str:
    out, err = io.StringIO(), io.StringIO()
    if expect_error:
        with pytest.raises(CommandError):
            call_command("expire_access", now=at, stdout=out, stderr=err)
    else:
        call_command("expire_access", now=at, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.fixture
def alice_mailed(alice):
    alice.email = "alice@example.com"
    alice.save()
    return alice


@pytest.fixture
def pat():
    """A portal admin, with an address for the summaries."""
    admin = person("pat", Role.PORTAL_ADMIN)
    admin.email = "pat@example.com"
    admin.save()
    return admin


def bound_for_8_hours(owner, sandbox, *instance_ids: str):
    web = made(owner, "web")
    linux_instances(sandbox, "bj", ids=list(instance_ids))
    keypair_bind(
        actor=owner,
        keypair_request=web,
        instances=[TargetInstance(i) for i in instance_ids],
        origin=ORIGIN,
        expires_at=NOW + timedelta(hours=8),
    )
    return web


def test_a_request_nobody_decided_in_time_expires_and_the_requester_is_told(alice_mailed, smtp_server):
    request = pending_request(alice_mailed, made(alice_mailed, "web"), ["i-web1"])

    assert "Nothing to do" in run(NOW + timedelta(hours=71))
    output = run(NOW + timedelta(hours=72))

    request.refresh_from_db()
    assert request.status == AccessRequest.Status.EXPIRED
    assert f"Request {request.public_id} (web) expired undecided." in output
    [row] = audited("access_request_expired")
    assert row[:3] == ("access_request_expired", "success", "") and str(request.public_id) in row[3]
    [mail] = smtp_server.mails_to("alice@example.com")
    assert "expired" in mail.subject and str(request.public_id) in mail.body
    assert "Nothing to do" in run(NOW + timedelta(hours=73))  # idempotent: once only
    assert len(smtp_server.mails_to("alice@example.com")) == 1


def test_a_binding_ending_is_warned_once_then_unbound_then_the_owner_told(
    alice_mailed, portal_on_sandbox, smtp_server, settings
):
    settings.ACCESS_EXPIRY_WARNING_HOURS = 2
    web = bound_for_8_hours(alice_mailed, portal_on_sandbox, "i-web1", "i-web2")

    assert "Nothing to do" in run(NOW + timedelta(hours=5))
    assert "Warned alice: web leaves i-web1, i-web2 within 2 h." in run(NOW + timedelta(hours=6, minutes=30))
    assert "Nothing to do" in run(NOW + timedelta(hours=7))
    [warning] = smtp_server.mails_to("alice@example.com")
    assert "ends soon" in warning.subject and "i-web1" in warning.body
    assert held_by("i-web1") == web.keypair_id

    output = run(NOW + timedelta(hours=8))

    assert "web: unbound from i-web1, i-web2 (time over)." in output
    assert held_by("i-web1") == "" and held_by("i-web2") == ""
    assert set(InstanceBinding.objects.values_list("state", flat=True)) == {"unbound"}
    assert [row[0] for row in audited("unbind_requested", "unbound")] == ["unbind_requested", "unbound"]
    assert "access ended" in audited("unbound")[0][3]
    ended = smtp_server.mails_to("alice@example.com")[-1]
    assert "has ended" in ended.subject and "i-web2" in ended.body
    assert "Nothing to do" in run(NOW + timedelta(hours=9))


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 500}, {"kind": "drop"}], ids=["refused", "dropped"])
def test_an_unbind_bcc_fails_stays_bound_is_listed_and_retried_next_run(
    alice_mailed, pat, portal_on_sandbox, smtp_server, fault
):
    web = bound_for_8_hours(alice_mailed, portal_on_sandbox, "i-web1")
    portal_on_sandbox.inject(
        fault["kind"], operation="detach", count=20, **({"status": fault["status"]} if "status" in fault else {})
    )

    output = run(NOW + timedelta(hours=8))  # exits 0: BCC was asked; the next run retries

    binding = InstanceBinding.objects.get()
    assert binding.state == "bound" and binding.unbind_attempts == 1 and binding.last_error
    assert held_by("i-web1") == web.keypair_id
    assert "left bound, retried next run" in output and "summary mailed to the portal admins" in output
    [summary] = smtp_server.mails_to("pat@example.com")
    assert "could not be removed" in summary.subject and "i-web1" in summary.body
    page = signed_in(pat).get(STUCK_PAGE)
    assert page.status_code == 200 and b"i-web1" in page.content and b"no-stuck-bindings" not in page.content
    assert not smtp_server.mails_to("alice@example.com")  # not told it ended: it has not

    # The next run retries and fails again: counted, still listed, no second summary every 5 minutes.
    assert "1 binding(s) still could not be removed" in run(NOW + timedelta(hours=8, minutes=5))
    assert InstanceBinding.objects.get().unbind_attempts == 2
    assert len(smtp_server.mails_to("pat@example.com")) == 1

    portal_on_sandbox.clear_faults()
    output = run(NOW + timedelta(hours=8, minutes=10))

    assert "web: unbound from i-web1 (time over)." in output and held_by("i-web1") == ""
    assert InstanceBinding.objects.get().state == "unbound"
    assert b"no-stuck-bindings" in signed_in(pat).get(STUCK_PAGE).content
    assert len(smtp_server.mails_to("pat@example.com")) == 1
    [ended] = smtp_server.mails_to("alice@example.com")
    assert "has ended" in ended.subject


def test_a_binding_replaced_in_bcc_is_ended_without_asking_bcc_to_detach(alice_mailed, bob, portal_on_sandbox):
    bound_for_8_hours(alice_mailed, portal_on_sandbox, "i-web1")
    bobs = made(bob, "bobs")
    get_client("bj").attach_keypair(bobs.keypair_id, instance_ids=["i-web1"])  # in BCC's console

    run(NOW + timedelta(hours=8))

    assert InstanceBinding.objects.get().state == "replaced"
    assert held_by("i-web1") == bobs.keypair_id  # Bob's key pair left alone
    assert "detach" not in [record.operation for record in portal_on_sandbox.request_log]
    assert f"held {bobs.keypair_id} instead" in audited("unbound")[0][3]
    assert "Nothing to do" in run(NOW + timedelta(hours=9))


def test_bcc_unreachable_for_an_unbind_exits_non_zero_and_keeps_the_binding(alice_mailed, portal_on_sandbox, settings):
    bound_for_8_hours(alice_mailed, portal_on_sandbox, "i-web1")
    settings.BCC_ENDPOINT = "http://127.0.0.1:9/{region}"  # nothing listens on the discard port
    reset_clients()

    output = run(NOW + timedelta(hours=8), expect_error=True)

    assert "BCC could not be read" in output
    binding = InstanceBinding.objects.get()
    assert binding.state == "bound" and binding.unbind_attempts == 1


def test_a_second_run_while_one_works_says_so_and_exits_0(alice_mailed, portal_on_sandbox):
    bound_for_8_hours(alice_mailed, portal_on_sandbox, "i-web1")

    with single_run("expire_access"):
        output = run(NOW + timedelta(hours=8))

    assert "Another run of expire_access is at work" in output
    assert InstanceBinding.objects.get().state == "bound"


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_unbind_and_mail_once(alice_mailed, portal_on_sandbox, smtp_server):
    bound_for_8_hours(alice_mailed, portal_on_sandbox, "i-web1")
    start, outputs = threading.Barrier(2), []

    def one_run():
        start.wait()
        try:
            outputs.append(run(NOW + timedelta(hours=8)))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert held_by("i-web1") == "" and InstanceBinding.objects.get().state == "unbound"
    assert sum("unbound from i-web1" in output for output in outputs) == 1
    assert len(audited("unbound")) == 1
    assert len(smtp_server.mails_to("alice@example.com")) == 1
