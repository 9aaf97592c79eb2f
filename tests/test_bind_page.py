"""The bind page (keypairs/views_bind.py): a developer binds their key pair to the instances their
access rules allow, against the BCC sandbox over real HTTP, with real SMTP on loopback.

Alice is a developer (Django group "developers") whose SSO identity says she is in "team-web";
Bob is another developer whose key pair may be replaced on an instance.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from keypairs.bcc.factory import get_client
from keypairs.models import AccessRequest, AccessRule, AuditEvent, InstanceBinding
from portal.auth.models import Identity
from tests.offboarding_world import made
from tests.sandbox_instances import linux_instances, windows_instances

pytestmark = pytest.mark.usefixtures("portal_on_sandbox")


@pytest.fixture
def team_web(alice):
    Identity.objects.create(issuer="https://sso.example.com", subject="alice", user=alice, groups=["team-web"])
    return AccessRule.objects.create(
        name="web servers", sso_group="team-web", region="bj", tag_key="team", tag_value="web"
    )


def bind_url(keypair_request) -> str:
    return reverse("keypair_bind", kwargs={"public_id": keypair_request.public_id})


def held_by(instance_id: str) -> str:
    return get_client("bj").get_instance(instance_id).keypair_id or ""


def attaches(sandbox) -> list:
    return [record for record in sandbox.request_log if record.operation == "attach"]


def page(response) -> str:
    return response.content.decode()


# --- Default deny ----------------------------------------------------------------------------------


def test_without_a_rule_the_page_says_which_rule_is_needed_and_a_post_is_refused(
    alice, alice_client, portal_on_sandbox
):
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"}, name="web-1")

    response = alice_client.get(bind_url(web))

    assert response.status_code == 200
    assert escape(
        "No access rule lets your groups (developers) bind to instances in bj tagged team=web: ask a portal admin."
    ) in page(response)
    assert 'name="instance" value="i-web1"' not in page(response)

    response = alice_client.post(bind_url(web), {"instance": ["i-web1"]})

    assert response.status_code == 200
    assert "outcome-i-web1" in page(response) and "Not bound" in page(response)
    assert held_by("i-web1") == ""
    assert attaches(portal_on_sandbox) == []
    assert not InstanceBinding.objects.exists()
    assert AuditEvent.objects.filter(action="bind_failed", outcome="denied", detail__contains="i-web1").exists()


# --- Rules that allow ------------------------------------------------------------------------------


def test_a_group_and_tag_rule_lets_alice_bind_and_says_what_to_do_next(
    alice, alice_client, team_web, portal_on_sandbox
):
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"}, name="web-1", internalIp="10.0.0.7")
    linux_instances(portal_on_sandbox, "bj", ids=["i-db1"], tags={"team": "db"}, name="db-1")

    response = alice_client.get(bind_url(web))

    assert response.status_code == 200
    assert 'name="instance" value="i-web1"' in page(response)
    assert 'name="instance" value="i-db1"' not in page(response)
    assert "Rule web servers" in page(response) and "10.0.0.7" in page(response)

    response = alice_client.post(bind_url(web), {"instance": ["i-web1"]})

    assert response.status_code == 200
    assert held_by("i-web1") == web.keypair_id
    binding = InstanceBinding.objects.get()
    assert (binding.instance_id, binding.rule, binding.bound_by, binding.state) == ("i-web1", team_web, alice, "bound")
    text = page(response)
    assert "Bound" in text and "a running instance restarts to take the key".lower() in text.lower()
    assert "ssh -i web.pem root@10.0.0.7" in text


def test_a_name_prefix_rule_selects_instances_by_name(alice, alice_client, portal_on_sandbox):
    AccessRule.objects.create(name="build boxes", sso_group="developers", region="bj", name_prefix="build-")
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-b1"], name="build-1")
    linux_instances(portal_on_sandbox, "bj", ids=["i-p1"], name="prod-1")

    response = alice_client.get(bind_url(web))

    assert 'value="i-b1"' in page(response) and 'value="i-p1"' not in page(response)
    assert escape("in bj named prod-1: ask a portal admin") in page(response)
    assert alice_client.post(bind_url(web), {"instance": ["i-b1"]}).status_code == 200
    assert held_by("i-b1") == web.keypair_id


def test_a_disabled_rule_or_one_of_another_region_allows_nothing(alice, alice_client, team_web, portal_on_sandbox):
    team_web.enabled = False
    team_web.save()
    AccessRule.objects.create(name="gz web", sso_group="team-web", region="gz", tag_key="team")
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"})

    assert 'value="i-web1"' not in page(alice_client.get(bind_url(web)))


# --- The form edited: the service decides again -----------------------------------------------------


def test_an_instance_outside_the_rules_added_to_the_form_is_refused_and_never_sent(
    alice, alice_client, team_web, portal_on_sandbox
):
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"})
    linux_instances(portal_on_sandbox, "bj", ids=["i-db1"], tags={"team": "db"})

    response = alice_client.post(bind_url(web), {"instance": ["i-web1", "i-db1"]})

    assert response.status_code == 200
    assert held_by("i-web1") == web.keypair_id and held_by("i-db1") == ""
    assert len(attaches(portal_on_sandbox)) == 1  # i-web1 alone: i-db1 never reached BCC
    assert InstanceBinding.objects.get().instance_id == "i-web1"
    assert escape("bind to instances in bj tagged team=db") in page(response)


def test_a_windows_or_starting_instance_chosen_by_editing_the_form_is_refused_by_policy(
    alice, alice_client, team_web, portal_on_sandbox
):
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-ok"], tags={"team": "web"})
    linux_instances(portal_on_sandbox, "bj", ids=["i-starting"], tags={"team": "web"}, status="Starting")
    windows_instances(portal_on_sandbox, "bj", ids=["i-win"], tags={"team": "web"})

    shown = page(alice_client.get(bind_url(web)))
    assert 'value="i-starting"' not in shown and 'value="i-win"' not in shown
    assert "Linux instances only" in shown and "this one is Starting" in shown

    response = alice_client.post(bind_url(web), {"instance": ["i-ok", "i-starting", "i-win"]})

    text = page(response)
    assert held_by("i-ok") == web.keypair_id and held_by("i-starting") == held_by("i-win") == ""
    assert text.count("Not bound") == 2 and "Linux instances only" in text and "this one is Starting" in text
    assert [record.operation for record in attaches(portal_on_sandbox)] == ["attach"]


def test_another_persons_key_pair_cannot_be_bound_from_their_url(alice, bob_client, team_web, portal_on_sandbox):
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"})

    assert bob_client.get(bind_url(web)).status_code == 404
    assert bob_client.post(bind_url(web), {"instance": ["i-web1"]}).status_code == 404
    assert attaches(portal_on_sandbox) == []


# --- Replacing a key pair ---------------------------------------------------------------------------


def test_replacing_bobs_key_pair_needs_the_confirmation_and_mails_bob(
    alice, alice_client, bob, team_web, portal_on_sandbox, smtp_server
):
    bob.email = "bob@example.com"
    bob.save()
    bobs, mine = made(bob, "bobs"), made(alice, "mine")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"})
    get_client("bj").attach_keypair(bobs.keypair_id, instance_ids=["i-web1"])

    shown = page(alice_client.get(bind_url(mine)))
    assert escape("someone else's: bob (bobs)") in shown and 'id="confirm-replace"' in shown

    refused = alice_client.post(bind_url(mine), {"instance": ["i-web1"]})

    assert refused.status_code == 400
    assert "Tick the confirmation" in page(refused)
    assert held_by("i-web1") == bobs.keypair_id and len(attaches(portal_on_sandbox)) == 1

    done = alice_client.post(bind_url(mine), {"instance": ["i-web1"], "confirm_replace": "on"})

    assert done.status_code == 200 and held_by("i-web1") == mine.keypair_id
    [mail] = smtp_server.mails_to("bob@example.com")
    assert "bobs" in mail.subject and "i-web1" in mail.body


def test_a_key_pair_made_outside_the_portal_is_named_so(alice, alice_client, team_web, portal_on_sandbox):
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"})
    outside = get_client("bj").create_keypair(name="console-made")
    get_client("bj").attach_keypair(outside.keypair_id, instance_ids=["i-web1"])

    assert "made outside the portal: console-made" in page(alice_client.get(bind_url(web)))


# --- Double submit, time limits, approval ----------------------------------------------------------


def test_a_double_submit_binds_once(alice, alice_client, team_web, portal_on_sandbox):
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"})

    alice_client.post(bind_url(web), {"instance": ["i-web1"]})
    again = alice_client.post(bind_url(web), {"instance": ["i-web1"]})

    assert again.status_code == 200 and "Already holds this key pair" in page(again)
    assert len(attaches(portal_on_sandbox)) == 1
    assert InstanceBinding.objects.filter(state="bound").count() == 1


def test_a_time_limited_rule_needs_a_duration_within_it(alice, alice_client, team_web, portal_on_sandbox):
    team_web.max_duration = timedelta(hours=8)
    team_web.save()
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"})

    missing = alice_client.post(bind_url(web), {"instance": ["i-web1"]})
    too_long = alice_client.post(bind_url(web), {"instance": ["i-web1"], "duration_hours": "9"})

    assert missing.status_code == too_long.status_code == 400
    assert "allows access for at most 8 hours" in page(too_long)
    assert attaches(portal_on_sandbox) == []

    assert alice_client.post(bind_url(web), {"instance": ["i-web1"], "duration_hours": "8"}).status_code == 200
    binding = InstanceBinding.objects.get()
    assert timedelta(hours=7, minutes=59) < binding.expires_at - binding.bound_at <= timedelta(hours=8, seconds=5)


def test_an_approval_rule_creates_a_pending_request_and_mails_the_approvers(
    alice, alice_client, bob, team_web, portal_on_sandbox, smtp_server, settings
):
    team_web.requires_approval = True
    team_web.save()
    bob.email = "approver@example.com"
    bob.save()
    bob.user_permissions.add(Permission.objects.get(codename="approve_accessrequest"))
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"})

    no_reason = alice_client.post(bind_url(web), {"instance": ["i-web1"]})
    assert no_reason.status_code == 400 and "requires approval" in page(no_reason)

    response = alice_client.post(bind_url(web), {"instance": ["i-web1"], "reason": "debug the checkout outage"})

    assert response.status_code == 200 and "Waiting for approval" in page(response)
    request = AccessRequest.objects.get()
    assert (request.status, request.instance_ids, request.rule, request.requester) == (
        "pending",
        ["i-web1"],
        team_web,
        alice,
    )
    hours = (request.decide_by - request.created_at).total_seconds() / 3600
    assert round(hours) == settings.ACCESS_REQUEST_DECIDE_WITHIN_HOURS
    assert attaches(portal_on_sandbox) == [] and held_by("i-web1") == ""
    assert AuditEvent.objects.filter(action="access_requested", keypair_name="web").exists()
    [mail] = smtp_server.mails_to("approver@example.com")
    assert "alice" in mail.subject and "debug the checkout outage" in mail.body and "i-web1" in mail.body


def test_an_approval_request_no_approver_received_is_audited(alice, alice_client, team_web, portal_on_sandbox):
    team_web.requires_approval = True
    team_web.save()
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"})

    alice_client.post(bind_url(web), {"instance": ["i-web1"], "reason": "on call"})

    assert AccessRequest.objects.get().status == "pending"
    assert AuditEvent.objects.filter(action="mail_failed", detail__contains="no approver").exists()


def test_the_request_is_mailed_to_those_who_may_decide_it_with_a_link_to_it(alice, team_web, portal_on_sandbox):
    # Not to a superuser without the approver role, nor to the requester (nobody decides their own
    # request), both of whom the approvers' page would refuse.
    from django.contrib.auth import get_user_model

    from keypairs.services.access_requests import approver_addresses
    from portal.auth.roles import Role, assign_roles

    users = get_user_model().objects
    approver = users.create_user("ann", email="ann@example.com")
    assign_roles(approver, {Role.APPROVER})
    users.create_superuser("root", email="root@example.com", password="x")
    alice.email = "alice@example.com"
    alice.save()
    assign_roles(alice, {Role.DEVELOPER, Role.APPROVER})

    assert approver_addresses(except_person=alice) == ["ann@example.com"]
    assert approver_addresses() == ["alice@example.com", "ann@example.com"]


# --- Unbinding, BCC down, cost ----------------------------------------------------------------------


def test_the_owner_unbinds_an_instance_without_any_rule(alice, alice_client, portal_on_sandbox):
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"])
    get_client("bj").attach_keypair(web.keypair_id, instance_ids=["i-web1"])

    shown = page(alice_client.get(bind_url(web)))
    assert 'id="unbind-i-web1"' in shown

    response = alice_client.post(
        reverse("keypair_unbind_instance", kwargs={"public_id": web.public_id}), {"instance": "i-web1"}
    )

    assert response.status_code == 200 and "no longer signs in to i-web1" in page(response)
    assert held_by("i-web1") == ""
    assert AuditEvent.objects.filter(action="unbound", detail__contains="i-web1").exists()
    assert 'id="unbind-i-web1"' not in page(response)


def test_bcc_unreachable_is_said_with_the_time_and_cached(alice, alice_client, team_web, portal_on_sandbox):
    web = made(alice, "web")
    portal_on_sandbox.inject("status", status=500, operation="list_instances")

    first = alice_client.get(bind_url(web))
    second = alice_client.get(bind_url(web))

    assert first.status_code == second.status_code == 200
    assert "BCC could not be reached at" in page(first) and "BCC could not be reached at" in page(second)
    assert [r.operation for r in portal_on_sandbox.request_log].count("list_instances") == 1


def test_the_page_reads_the_list_once_and_its_queries_do_not_grow_with_instances(
    alice, alice_client, bob, team_web, portal_on_sandbox, empty_cache
):
    web = made(alice, "web")
    theirs = made(bob, "bobs")

    def queries_for(count: int, prefix: str) -> int:
        ids = linux_instances(portal_on_sandbox, "bj", count, tags={"team": "web"}, name=prefix)
        get_client("bj").attach_keypair(theirs.keypair_id, instance_ids=ids)
        empty_cache()
        alice_client.get(bind_url(web))  # a first view, as the person would have made
        empty_cache()  # the list walked again: the measured view pays for the walk too
        with CaptureQueriesContext(connection) as queries:
            assert alice_client.get(bind_url(web)).status_code == 200
        return len(queries)

    assert queries_for(2, "small") == queries_for(30, "large")
    lists = [r.operation for r in portal_on_sandbox.request_log if r.operation == "list_instances"]
    assert len(lists) == 4  # one walk per page view after each cache clear, never one call per instance


def test_the_requester_withdraws_a_pending_request_once(alice, bob, team_web, portal_on_sandbox):
    from keypairs.audit import Origin
    from keypairs.services.access_requests import access_request_create, access_request_withdraw
    from keypairs.services.errors import ServiceRefused

    team_web.requires_approval = True
    team_web.save()
    web = made(alice, "web")
    request = access_request_create(
        requester=alice,
        keypair_request=web,
        rule=team_web,
        instance_ids=["i-web1"],
        duration=None,
        reason="release night",
        origin=Origin(),
    )

    with pytest.raises(ServiceRefused):
        access_request_withdraw(requester=bob, access_request=request, origin=Origin())
    assert access_request_withdraw(requester=alice, access_request=request, origin=Origin()).status == "withdrawn"
    assert AuditEvent.objects.filter(action="access_withdrawn", keypair_name="web").count() == 1
    with pytest.raises(ServiceRefused):
        access_request_withdraw(requester=alice, access_request=request, origin=Origin())


def test_bcc_binding_some_instances_and_not_others_is_shown_per_instance(
    alice, alice_client, team_web, portal_on_sandbox, monkeypatch
):
    """One instance starts between the portal's fresh read and the bind: BCC binds the other alone."""
    from keypairs.services import bind_under_rules

    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1", "i-web2"], tags={"team": "web"})
    read_then_started = bind_under_rules.instances_now

    def instances_now(**kwargs):
        found = read_then_started(**kwargs)
        portal_on_sandbox.set_instance_status("i-web2", "Starting", region="bj")  # someone started it meanwhile
        return found

    monkeypatch.setattr(bind_under_rules, "instances_now", instances_now)

    response = alice_client.post(bind_url(web), {"instance": ["i-web1", "i-web2"]})

    text = page(response)
    assert response.status_code == 200
    assert "Bound." in text and "BCC did not bind it; it keeps the key pair it had." in text
    assert held_by("i-web1") == web.keypair_id and held_by("i-web2") == ""
    assert list(InstanceBinding.objects.values_list("instance_id", flat=True)) == ["i-web1"]
    assert AuditEvent.objects.filter(action="bind_failed", detail="BCC did not bind: i-web2").exists()


def test_a_region_with_many_instances_is_shown_a_page_at_a_time_and_found_by_name(
    alice, alice_client, team_web, portal_on_sandbox
):
    web = made(alice, "web")
    linux_instances(portal_on_sandbox, "bj", 150, tags={"team": "web"}, name="web")
    linux_instances(portal_on_sandbox, "bj", 30, tags={"team": "db"}, name="db")

    first = page(alice_client.get(bind_url(web)))
    second = page(alice_client.get(bind_url(web) + "?page=2"))
    found = page(alice_client.get(bind_url(web) + "?q=WEB-42"))
    nothing = page(alice_client.get(bind_url(web) + "?q=no-such"))

    assert first.count('name="instance" value=') == 100 and 'id="page-next"' in first
    assert "Your rules allow 150 instances here; showing 1–100 of 150." in first
    assert second.count('name="instance" value=') == 50 and 'id="page-prev"' in second
    assert found.count('name="instance" value=') == 1 and ">web-42<" in found
    assert "showing 1–1 of 1." in found
    assert 'id="no-match"' in nothing and 'id="no-rule"' not in nothing
    # The 30 no rule covers are one sentence with a few names and a count, on every page.
    assert first.count('<tr id="row-') == 100 and "and 20 more" in first


def test_an_instance_on_another_page_can_still_be_bound(alice, alice_client, team_web, portal_on_sandbox):
    web = made(alice, "web")
    ids = linux_instances(portal_on_sandbox, "bj", 120, tags={"team": "web"}, name="web")

    response = alice_client.post(bind_url(web), {"instance": [ids[-1]]})

    assert response.status_code == 200
    assert held_by(ids[-1]) == web.keypair_id
