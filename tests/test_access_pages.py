"""The access request pages: the approvers' queue, a request's page, "My access requests"; who sees and does what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from keypairs.bcc.factory import get_client
from keypairs.models import AccessRequest, InstanceBinding
from keypairs.services.access_decisions import OWN_REQUEST, REASON_REQUIRED
from portal.auth.roles import Role
from tests.access_world import approver, audited, held_by, pending_request
from tests.auth_people import person
from tests.offboarding_world import made
from tests.people import signed_in
from tests.sandbox_instances import linux_instances

pytestmark = pytest.mark.usefixtures("portal_on_sandbox")


def waiting(alice, sandbox, **fields) -> AccessRequest:
    """Alice asks to bind her key pair "web" to i-web1 (named web-1), waiting for a decision."""
    linux_instances(sandbox, "bj", ids=["i-web1"], name="web-1")
    return pending_request(alice, made(alice, "web"), ["i-web1"], created_at=timezone.now(), **fields)


def test_the_queue_shows_each_request_with_whose_key_pair_each_instance_holds_now(alice, bob, portal_on_sandbox):
    request = waiting(alice, portal_on_sandbox, duration=timedelta(hours=4))
    bobs = made(bob, "bobs")
    get_client("bj").attach_keypair(bobs.keypair_id, instance_ids=["i-web1"])

    page = signed_in(approver()).get("/access/requests/")

    assert page.status_code == 200
    text = page.content.decode()
    assert f"/access/requests/{request.public_id}/" in text and "alice" in text and "web-1" in text
    assert f"holds bob: bobs ({bobs.keypair_id}) now" in text
    assert "deploying the release" in text and "4 hours" in text


def test_an_approver_approves_from_the_request_page_and_it_binds(alice, portal_on_sandbox):
    request = waiting(alice, portal_on_sandbox)
    carol = signed_in(approver())
    page = carol.get(f"/access/requests/{request.public_id}/")
    assert b'id="approve-form"' in page.content and b'id="deny-form"' in page.content

    response = carol.post(f"/access/requests/{request.public_id}/approve", {"reason": "ok"}, follow=True)

    assert response.status_code == 200
    assert b"Bound to: i-web1" in response.content
    request.refresh_from_db()
    assert request.status == "approved" and held_by("i-web1") == request.keypair_request.keypair_id
    assert b'id="approve-form"' not in response.content


def test_a_denial_without_a_reason_is_refused_with_a_sentence(alice, portal_on_sandbox):
    request = waiting(alice, portal_on_sandbox)
    carol = signed_in(approver())

    response = carol.post(f"/access/requests/{request.public_id}/deny", {"reason": ""})

    assert response.status_code == 400
    assert str(REASON_REQUIRED) in response.content.decode()
    request.refresh_from_db()
    assert request.status == "pending"

    response = carol.post(f"/access/requests/{request.public_id}/deny", {"reason": "not this week"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.decision_reason) == ("denied", "not this week")


def test_the_requester_sees_their_request_read_only_and_nobody_else_does(alice, bob, portal_on_sandbox):
    request = waiting(alice, portal_on_sandbox)
    url = f"/access/requests/{request.public_id}/"

    page = signed_in(alice).get(url)

    assert page.status_code == 200
    assert b"Waiting for approval" in page.content and b'id="approve-form"' not in page.content
    assert signed_in(bob).get(url).status_code == 404
    assert signed_in(person("audrey", Role.AUDITOR)).get(url).status_code == 404
    mine = signed_in(alice).get("/access/my-requests/")
    assert mine.status_code == 200 and url.encode() in mine.content
    assert url.encode() not in signed_in(bob).get("/access/my-requests/").content


def test_an_approver_cannot_approve_their_own_request_even_by_posting(alice, portal_on_sandbox):
    alice.groups.add(*approver("x").groups.all())
    request = waiting(alice, portal_on_sandbox)
    client = signed_in(alice)

    assert b'id="approve-form"' not in client.get(f"/access/requests/{request.public_id}/").content
    response = client.post(f"/access/requests/{request.public_id}/approve", {"reason": ""})

    assert response.status_code == 403
    assert str(OWN_REQUEST) in response.content.decode()
    request.refresh_from_db()
    assert request.status == "pending" and not held_by("i-web1")
    assert audited("access_approved")[0][1] == "denied"


def test_a_failed_bind_is_shown_and_an_approver_retries_it(alice, portal_on_sandbox):
    request = waiting(alice, portal_on_sandbox)
    carol = signed_in(approver())
    portal_on_sandbox.inject("status", status=500, operation="attach", count=10)

    response = carol.post(f"/access/requests/{request.public_id}/approve", {}, follow=True)

    assert b"Not bound: i-web1." in response.content and b'id="retry-bind-form"' in response.content
    requester_view = signed_in(alice).get(f"/access/requests/{request.public_id}/")
    assert b'id="not-bound"' in requester_view.content and b'id="retry-bind-form"' not in requester_view.content

    portal_on_sandbox.clear_faults()
    response = carol.post(f"/access/requests/{request.public_id}/retry-bind", follow=True)

    assert b"Bound to: i-web1" in response.content and b'id="not-bound"' not in response.content
    assert InstanceBinding.objects.get(access_request=request).state == "bound"


def test_approvers_get_a_link_to_the_queue_and_land_on_it(alice, db):
    carol = approver()
    assert b'id="nav-access-queue"' not in signed_in(alice).get("/keypairs/").content

    home = signed_in(carol).get("/")

    assert home.status_code == 302 and home["Location"] == "/access/requests/"
    assert b'id="nav-access-queue"' in signed_in(carol).get("/access/requests/").content
    assert not carol.is_staff


def test_a_developer_is_refused_the_queue_with_the_role_they_lack(alice_client):
    response = alice_client.get("/access/requests/")

    assert response.status_code == 403
    assert b"approver role" in response.content
