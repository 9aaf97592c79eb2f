"""People who leave (issue 11, part 2): each route, each policy, coming back, and their sessions.

Alice is a developer with key pairs made for real in the sandbox. She leaves by each route: a
superuser deactivates her in the admin's change form, the proxy's assertion stops carrying the
developer role, an OIDC sign-in without it, ``manage.py offboard``. Under ``flag`` her key pairs
are flagged at once; under ``delete`` they go when the grace period is over (a moving clock),
a bound one unbound from its instances first (flagged when one still holds it). Coming back
before then keeps them. Pat, a portal admin, gets a mail each time (the locmem outbox here; the
real SMTP server in test_enforce_key_policy).
"""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client

from keypairs.bcc.factory import get_client
from keypairs.management.commands.offboard import UNKNOWN_USER
from keypairs.models import Departure, KeyPairRequest
from keypairs.offboarding import enforce_departures, person_left, person_returned
from keypairs.services.policy import PolicyOutcome, keypair_clear_flag
from portal.auth import refusals
from portal.auth.roles import Role, assign_roles
from tests.auth_people import person
from tests.offboarding_world import (
    ORIGIN,
    actions,
    bind,
    departure_of,
    fresh,
    in_bcc,
    made,
)
from tests.people import signed_in
from tests.test_auth_oidc import sign_in
from tests.test_auth_proxy import assertion, get

Route = Departure.Route
OWNER_LEFT = KeyPairRequest.FlagReason.OWNER_LEFT

pytestmark = pytest.mark.usefixtures("portal_on_sandbox", "pat")


# --- Route 1: a superuser deactivates her in the admin --------------------------------------


def change_form(user, **changes) -> dict:
    """The admin's change form for ``user`` as the browser posts it, with ``changes``."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_deactivated_in_the_admin_her_key_pairs_are_flagged_and_the_admins_told(
    alice, flag_policy, django_capture_on_commit_callbacks
):
    web, db_server = made(alice, "web"), made(alice, "db", region="gz")
    root = signed_in(person("root", superuser=True))

    with django_capture_on_commit_callbacks(execute=True):
        response = root.post(f"/admin/auth/user/{alice.pk}/change/", change_form(alice, is_active=None))

    assert response.status_code == 302
    alice.refresh_from_db()
    assert not alice.is_active
    departure = departure_of(alice)
    assert (departure.route, departure.delete_after) == (Route.DEACTIVATED, None)
    assert departure.settled_at is not None
    for record in (web, db_server):
        assert (fresh(record).flag_reason, fresh(record).status) == (OWNER_LEFT, "created")
        assert in_bcc(record)
    [left] = actions("person_left")
    assert left[1] == "alice left (deactivated); policy flag: 2 key pair(s) flagged for a decision"
    assert len(actions("flagged")) == 2
    [summary] = mail.outbox
    assert summary.to == ["pat@example.com"]
    assert summary.subject == "alice left: what happens to their key pairs"
    assert "Their 2 key pairs are flagged" in summary.body
    assert web.keypair_id in summary.body and db_server.keypair_id in summary.body


def test_reactivated_in_the_admin_she_keeps_her_key_pairs(alice, flag_policy, django_capture_on_commit_callbacks):
    web = made(alice, "web")
    root = signed_in(person("root", superuser=True))
    with django_capture_on_commit_callbacks(execute=True):
        root.post(f"/admin/auth/user/{alice.pk}/change/", change_form(alice, is_active=None))
    assert fresh(web).flagged_at is not None

    alice.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        response = root.post(f"/admin/auth/user/{alice.pk}/change/", change_form(alice))

    assert response.status_code == 302
    assert departure_of(alice).returned_at is not None
    assert (fresh(web).flagged_at, fresh(web).flag_reason) == (None, "")
    assert actions("person_returned") == [
        ("person_returned", "alice came back; 1 owner_left flag(s) cleared, 1 key pair(s) kept")
    ]
    assert [action for action, _ in actions("flag_cleared")] == ["flag_cleared"]


def test_deactivating_someone_without_a_key_pair_records_no_departure(
    bob, flag_policy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        bob.is_active = False
        bob.save()

    assert not Departure.objects.exists()
    assert actions("person_left") == []
    assert mail.outbox == []


# --- Route 2: the identity provider stops granting the developer role --------------------------


def test_the_proxy_assertion_without_the_developer_role_is_leaving(
    client, proxy_mode, flag_policy, django_capture_on_commit_callbacks
):
    assert get(client, "/keypairs/", assertion(groups=["developers", "auditors"])).status_code == 200
    alice = get_user_model().objects.get(username="alice")
    web = made(alice, "web")

    with django_capture_on_commit_callbacks(execute=True):
        response = get(client, "/keypairs/new", assertion(groups=["auditors"]))

    assert response.status_code == 403
    assert departure_of(alice).route == Route.ROLE_LOST
    assert fresh(web).flag_reason == OWNER_LEFT
    assert [action for action, _ in actions("roles_changed", "person_left")] == ["roles_changed", "person_left"]

    # The role comes back with the next assertion: she is back, and keeps it.
    with django_capture_on_commit_callbacks(execute=True):
        assert get(client, "/keypairs/", assertion(groups=["developers", "auditors"])).status_code == 200

    assert departure_of(alice).returned_at is not None
    assert fresh(web).flagged_at is None


def test_a_proxy_assertion_with_no_role_at_all_is_a_refused_sign_in(
    client, proxy_mode, flag_policy, django_capture_on_commit_callbacks
):
    get(client, "/", assertion(groups=["developers"]))
    alice = get_user_model().objects.get(username="alice")
    made(alice, "web")

    with django_capture_on_commit_callbacks(execute=True):
        response = get(client, "/keypairs/", assertion(groups=["everyone"]))

    assert response.status_code == 403
    assert refusals.NO_ROLE in response.content.decode()
    assert departure_of(alice).route == Route.SIGN_IN_REFUSED


def test_an_oidc_sign_in_without_the_developer_role_is_leaving(
    oidc_mode, flag_policy, django_capture_on_commit_callbacks
):
    oidc_mode.set_user("sub-olga", email="olga@example.com", preferred_username="olga", groups=["developers"])
    sign_in(Client(), oidc_mode, "sub-olga")
    olga = get_user_model().objects.get(username="olga")
    web = made(olga, "web")

    oidc_mode.set_user("sub-olga", email="olga@example.com", preferred_username="olga", groups=["auditors"])
    with django_capture_on_commit_callbacks(execute=True):
        sign_in(Client(), oidc_mode, "sub-olga")

    assert departure_of(olga).route == Route.ROLE_LOST
    assert fresh(web).flag_reason == OWNER_LEFT

    # Refused outright (no role left) is leaving too, but not twice: same row, same time.
    left_at = departure_of(olga).left_at
    oidc_mode.set_user("sub-olga", email="olga@example.com", preferred_username="olga", groups=["everyone"])
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_in(Client(), oidc_mode, "sub-olga")
    assert response["Location"] == "/accounts/no-access/"
    assert departure_of(olga).left_at == left_at
    assert len(actions("person_left")) == 1


def test_a_known_person_refused_at_the_oidc_sign_in_has_left(
    oidc_mode, flag_policy, django_capture_on_commit_callbacks
):
    oidc_mode.set_user("sub-piet", email="piet@example.com", preferred_username="piet", groups=["developers"])
    sign_in(Client(), oidc_mode, "sub-piet")
    piet = get_user_model().objects.get(username="piet")
    made(piet, "web")

    oidc_mode.set_user("sub-piet", email="piet@example.com", preferred_username="piet", groups=["everyone"])
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_in(Client(), oidc_mode, "sub-piet")

    assert response["Location"] == "/accounts/no-access/"
    assert departure_of(piet).route == Route.SIGN_IN_REFUSED


# --- Route 3: manage.py offboard --------------------------------------------------------------


def offboard(*args: str) -> str:
    out = StringIO()
    call_command("offboard", *args, stdout=out)
    return out.getvalue()


def test_offboard_deactivates_and_applies_the_policy_once(alice, delete_policy):
    web = made(alice, "web")

    said = offboard("alice", "--reason", "HR ticket 4711")

    alice.refresh_from_db()
    assert not alice.is_active
    departure = departure_of(alice)
    assert departure.route == Route.OFFBOARDED
    assert departure.delete_after - departure.left_at == timedelta(days=14)
    assert said.startswith("alice offboarded: account deactivated; 1 key pair(s) to be deleted on ")
    assert "reason: HR ticket 4711" in actions("person_left")[0][1]
    # Under delete: flagged at once (listed "pending deletion"), deleted only after the grace period.
    assert fresh(web).flag_reason == OWNER_LEFT and in_bcc(web)

    again = offboard("alice")

    assert again.startswith("alice was already offboarded")
    assert len(actions("person_left")) == 1
    assert departure_of(alice).left_at == departure.left_at


def test_offboard_refuses_an_unknown_user_with_a_sentence(db):
    with pytest.raises(CommandError, match=re.escape(UNKNOWN_USER.format(username="nobody"))):
        offboard("nobody")
    assert not Departure.objects.exists()


# --- The delete policy, with a moving clock ---------------------------------------------------


def test_under_delete_key_pairs_go_after_the_grace_period_and_a_bound_one_is_unbound_first(
    alice, delete_policy, portal_on_sandbox
):
    web, bound = made(alice, "web"), made(alice, "bound")
    bind(portal_on_sandbox, bound, "i-web-1", "i-web-2")
    departure = person_left(person=alice, route=Route.OFFBOARDED, origin=ORIGIN)

    assert enforce_departures(now=departure.delete_after - timedelta(minutes=1), origin=ORIGIN) == []
    assert in_bcc(web) and in_bcc(bound)

    steps = enforce_departures(now=departure.delete_after + timedelta(minutes=1), origin=ORIGIN)

    assert {step.keypair_request.name: step.outcome for step in steps} == {
        "web": PolicyOutcome.DELETED,
        "bound": PolicyOutcome.UNBOUND_DELETED,
    }
    assert not in_bcc(web) and fresh(web).status == "deleted"
    assert not in_bcc(bound) and fresh(bound).status == "deleted"
    assert [instance.keypair_id for instance in get_client("bj").list_instances()] == [None, None]
    assert departure_of(alice).settled_at is not None
    unbound = [detail for action, detail in actions("unbound")]
    assert unbound == ["instances: i-web-1, i-web-2 (before deleting the key pair; owner left)"]
    # Idempotent: nothing left to do.
    assert enforce_departures(now=departure.delete_after + timedelta(days=1), origin=ORIGIN) == []


def test_under_delete_a_bound_key_pair_an_instance_still_holds_is_flagged_not_deleted(
    alice, delete_policy, portal_on_sandbox
):
    bound = made(alice, "bound")
    bind(portal_on_sandbox, bound, "i-web-1", "i-web-2")
    portal_on_sandbox.set_instance_status("i-web-1", "Stopping", region="bj")  # BCC refuses to unbind it now
    departure = person_left(person=alice, route=Route.OFFBOARDED, origin=ORIGIN)

    steps = enforce_departures(now=departure.delete_after + timedelta(minutes=1), origin=ORIGIN)

    assert [step.outcome for step in steps] == [PolicyOutcome.FLAGGED_UNBIND_FAILED]
    assert in_bcc(bound) and fresh(bound).status == "created" and fresh(bound).flag_reason == OWNER_LEFT
    holders = {instance.instance_id: instance.keypair_id for instance in get_client("bj").list_instances()}
    assert holders == {"i-web-1": bound.keypair_id, "i-web-2": None}
    assert actions("delete_requested") == []
    assert "i-web-1" in actions("unbind_failed")[-1][1]
    # Flagged since she left: the flag stays, and the step says why the key pair is still there.
    assert steps[0].detail == "unbind failed: still_bound"


def test_under_delete_a_key_pair_a_portal_admin_kept_is_not_deleted_after_the_grace_period(alice, delete_policy):
    kept, gone = made(alice, "kept"), made(alice, "gone")
    departure = person_left(person=alice, route=Route.OFFBOARDED, origin=ORIGIN)
    keypair_clear_flag(keypair_request=kept, actor=None, why="kept by a portal admin", origin=ORIGIN)

    steps = enforce_departures(now=departure.delete_after + timedelta(minutes=1), origin=ORIGIN)

    assert {step.keypair_request.name: step.outcome for step in steps} == {"gone": PolicyOutcome.DELETED}
    assert in_bcc(kept) and fresh(kept).status == "created" and fresh(kept).flagged_at is None
    assert not in_bcc(gone)


def test_coming_back_before_the_grace_period_ends_keeps_the_key_pairs(alice, delete_policy):
    web = made(alice, "web")
    departure = person_left(person=alice, route=Route.ROLE_LOST, origin=ORIGIN)

    assert person_returned(person=alice, origin=ORIGIN) is not None

    assert enforce_departures(now=departure.delete_after + timedelta(days=1), origin=ORIGIN) == []
    assert in_bcc(web) and fresh(web).status == "created"


def test_leaving_twice_keeps_one_row_and_the_first_grace_period(alice, delete_policy):
    made(alice, "web")
    first = person_left(person=alice, route=Route.ROLE_LOST, origin=ORIGIN)

    second = person_left(person=alice, route=Route.DEACTIVATED, origin=ORIGIN)

    assert (second.pk, second.route, second.delete_after) == (first.pk, Route.ROLE_LOST, first.delete_after)
    assert Departure.objects.count() == 1
    assert len(actions("person_left")) == 1
    assert len(mail.outbox) == 1


def test_leaving_again_after_coming_back_is_a_new_departure(alice, flag_policy):
    web = made(alice, "web")
    person_left(person=alice, route=Route.ROLE_LOST, origin=ORIGIN)
    person_returned(person=alice, origin=ORIGIN)

    again = person_left(person=alice, route=Route.OFFBOARDED, origin=ORIGIN)

    assert (again.route, again.returned_at) == (Route.OFFBOARDED, None)
    assert fresh(web).flag_reason == OWNER_LEFT
    assert len(actions("person_left")) == 2


def test_reactivated_without_the_developer_role_is_not_back_yet(alice, flag_policy):
    web = made(alice, "web")
    person_left(person=alice, route=Route.ROLE_LOST, origin=ORIGIN)
    assign_roles(alice, {Role.AUDITOR})

    assert person_returned(person=alice, origin=ORIGIN) is None

    assert departure_of(alice).returned_at is None
    assert fresh(web).flag_reason == OWNER_LEFT


# --- Sessions: a deactivated person's session stops working on the next request ----------------


def test_a_deactivated_persons_local_session_ends_on_the_next_request(alice):
    browser = signed_in(alice)
    assert browser.get("/keypairs/").status_code == 200

    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)

    response = browser.get("/keypairs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_deactivated_persons_oidc_session_ends_on_the_next_request(alice, settings):
    from portal.auth import modes

    settings.AUTH_MODE = modes.OIDC
    settings.AUTHENTICATION_BACKENDS = modes.backends_for(modes.OIDC)
    browser = Client()
    browser.force_login(alice, backend="portal.auth.oidc.PortalOIDCBackend")
    assert browser.get("/keypairs/").status_code == 200

    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)

    response = browser.get("/keypairs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_deactivated_persons_proxy_session_ends_on_the_next_request(client, proxy_mode):
    assert get(client, "/keypairs/", assertion()).status_code == 200
    get_user_model().objects.filter(username="alice").update(is_active=False)

    response = get(client, "/keypairs/", assertion())

    assert response.status_code == 403
    assert refusals.ACCOUNT_DISABLED in response.content.decode()
    assert get(client, "/keypairs/new", assertion()).status_code == 403
