"""The admin page "Key pairs of people who left" (and every flagged key pair): who sees it, who decides.

Pat (portal admin) sees and decides; Audrey (auditor) only sees. Decisions are confirmed on a
page of their own and POSTed with the admin's CSRF token; "keep" clears the flag, "delete" deletes
in the sandbox; both are audited with Pat as the actor.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.formats import date_format
from django.utils.timezone import localtime

from keypairs.models import AuditEvent, BccInventoryEntry, Departure, KeyPairRequest
from keypairs.offboarding import person_left
from keypairs.services.policy import keypair_apply_policy
from portal.auth.roles import Role
from tests.auth_people import person
from tests.offboarding_world import ORIGIN, actions, fresh, in_bcc, made
from tests.people import signed_in

PAGE = "/admin/keypairs/flagged/"
FlagReason = KeyPairRequest.FlagReason

pytestmark = pytest.mark.usefixtures("portal_on_sandbox")


def decide_url(record: KeyPairRequest, decision: str) -> str:
    return f"{PAGE}{record.public_id}/{decision}/"


@pytest.fixture
def audrey(db):
    return person("audrey", Role.AUDITOR)


def test_portal_admins_see_who_left_when_how_and_each_key_pair_with_its_status(alice, bob, pat, delete_policy):
    web, db_server = made(alice, "web"), made(alice, "db", region="gz")
    BccInventoryEntry.objects.create(region="bj", keypair_id=web.keypair_id, name="web", instance_count=2)
    departure = person_left(person=alice, route=Departure.Route.OFFBOARDED, origin=ORIGIN)
    old = made(bob, "old-build")
    keypair_apply_policy(keypair_request=old, reason=FlagReason.EXPIRED, policy="flag", why="too old", origin=ORIGIN)

    response = signed_in(pat).get(PAGE)

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="flagged-row"') == 3
    assert f"pending deletion on {date_format(localtime(departure.delete_after), 'DATETIME_FORMAT')}" in page
    assert "manage.py offboard" in page  # the route
    assert web.keypair_id in page and db_server.keypair_id in page and old.keypair_id in page
    assert "<td>2</td>" in page and "unknown" in page  # bound: from the inventory, or not known
    assert "flagged (Older than the maximum age)" in page
    assert decide_url(old, "keep") in page and decide_url(web, "delete") in page
    assert decide_url(web, "keep") in page  # pending deletion: keeping it spares it from the deletion


def test_the_filter_shows_one_reason(alice, bob, pat, flag_policy):
    made(alice, "web")
    person_left(person=alice, route=Departure.Route.DEACTIVATED, origin=ORIGIN)
    old = made(bob, "old-build")
    keypair_apply_policy(keypair_request=old, reason=FlagReason.EXPIRED, policy="flag", why="too old", origin=ORIGIN)
    admin = signed_in(pat)

    expired = admin.get(PAGE, {"reason": "expired"}).content.decode()
    left = admin.get(PAGE, {"reason": "owner_left"}).content.decode()

    assert expired.count('class="flagged-row"') == 1 and "old-build" in expired
    assert left.count('class="flagged-row"') == 1 and "alice" in left and "old-build" not in left


def test_keep_asks_for_confirmation_then_clears_the_flag_audited(alice, pat, flag_policy):
    web = made(alice, "web")
    person_left(person=alice, route=Departure.Route.DEACTIVATED, origin=ORIGIN)
    admin = signed_in(pat)

    confirm = admin.get(decide_url(web, "keep"))
    assert confirm.status_code == 200
    assert 'id="confirm-decision"' in confirm.content.decode()
    assert fresh(web).flagged_at is not None

    response = admin.post(decide_url(web, "keep"))

    assert response.status_code == 302 and response["Location"] == PAGE
    assert (fresh(web).flagged_at, fresh(web).flag_reason) == (None, "")
    assert in_bcc(web)
    [cleared] = actions("flag_cleared")
    assert cleared[1] == "kept by a portal admin"
    assert admin.get(PAGE).content.decode().count("Kept: the flag on web is cleared.") == 1


def test_delete_deletes_in_bcc_with_the_admin_as_actor(alice, pat, flag_policy):
    web = made(alice, "web")
    person_left(person=alice, route=Departure.Route.DEACTIVATED, origin=ORIGIN)

    response = signed_in(pat).post(decide_url(web, "delete"))

    assert response.status_code == 302
    assert not in_bcc(web) and fresh(web).status == "deleted"
    deleted = AuditEvent.objects.get(action="deleted")
    assert deleted.actor_username == "pat"
    assert deleted.detail.endswith("(deleted by a portal admin (key pairs of people who left))")
    assert "deleted on" in signed_in(pat).get(PAGE).content.decode()


def test_auditors_see_the_page_but_cannot_decide(alice, audrey, flag_policy):
    web = made(alice, "web")
    person_left(person=alice, route=Departure.Route.DEACTIVATED, origin=ORIGIN)
    reviewer = signed_in(audrey)

    page = reviewer.get(PAGE)
    assert page.status_code == 200
    assert 'id="view-only"' in page.content.decode() and decide_url(web, "keep") not in page.content.decode()

    assert reviewer.get(decide_url(web, "keep")).status_code == 403
    assert reviewer.post(decide_url(web, "delete")).status_code == 403
    assert in_bcc(web) and fresh(web).flagged_at is not None


def test_a_decision_without_the_csrf_token_changes_nothing(alice, pat, flag_policy):
    web = made(alice, "web")
    person_left(person=alice, route=Departure.Route.DEACTIVATED, origin=ORIGIN)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(pat)

    response = browser.post(decide_url(web, "delete"))

    assert response.status_code == 403
    assert in_bcc(web) and fresh(web).status == "created"


def test_a_key_pair_not_on_the_page_cannot_be_decided_on(alice, pat):
    web = made(alice, "web")  # Alice has not left, and nothing is flagged

    assert signed_in(pat).post(decide_url(web, "delete")).status_code == 404
    assert signed_in(pat).get(decide_url(web, "unknown")).status_code == 404
    assert in_bcc(web)


def test_the_admin_index_links_to_the_page_for_those_who_may_see_it(pat, audrey):
    assert PAGE in signed_in(pat).get("/admin/").content.decode()
    assert PAGE in signed_in(audrey).get("/admin/").content.decode()


def test_the_page_costs_the_same_queries_for_many_key_pairs_as_for_one(alice, bob, pat, flag_policy):
    admin = signed_in(pat)
    made(alice, "web")
    person_left(person=alice, route=Departure.Route.DEACTIVATED, origin=ORIGIN)
    with CaptureQueriesContext(connection) as one:
        assert admin.get(PAGE).content.decode().count('class="flagged-row"') == 1

    for number in range(5):
        made(bob, f"build-{number}")
    person_left(person=bob, route=Departure.Route.OFFBOARDED, origin=ORIGIN)
    with CaptureQueriesContext(connection) as six:
        assert admin.get(PAGE).content.decode().count('class="flagged-row"') == 6

    assert len(six.captured_queries) == len(one.captured_queries)
