"""A portal admin in Chromium: the drift on the admin index, the BCC inventory at 1280 px, assigning a key pair.

The key pair is made behind the portal's back (imported into the sandbox through the BCC
client) and found by ``manage.py sync_bcc``; the admin follows the index's "Unowned" link,
opens it, assigns it to Alice through the confirmation page, and is told so.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from keypairs.models import BccInventoryEntry, KeyPairRequest
from portal.auth.roles import Role, assign_roles
from tests.test_bcc_state import imported

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def pat(django_user_model):
    user = django_user_model.objects.create_user(username="pat", password=PASSWORD)
    assign_roles(user, {Role.PORTAL_ADMIN})
    return user


@pytest.fixture
def alice_developer(django_user_model):
    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


def test_a_portal_admin_follows_the_drift_to_an_unowned_key_pair_and_assigns_it(
    page, browser_log, pat, alice_developer, portal_on_sandbox, settings
):
    settings.BCC_REGIONS = ["bj", "gz"]
    keypair_id = imported("bj", "legacy-build-server", "made by a script in 2019")
    call_command("sync_bcc", stdout=StringIO(), stderr=StringIO())
    page.set_viewport_size(LAPTOP)

    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(pat.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/admin/")
    assert page.locator("#drift-unowned").inner_text() == "1"
    page.get_by_role("link", name="Unowned key pairs in BCC").click()
    page.wait_for_url(re.compile(r"/admin/keypairs/bccinventoryentry/\?state=unowned$"))

    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    # The admin puts the table in a box that scrolls sideways: no column may hide in it either.
    assert page.locator("#changelist .results").evaluate("box => box.scrollWidth <= box.clientWidth")
    assert page.locator("#result_list .inventory-unowned").inner_text() == "unowned"
    page.get_by_role("link", name="legacy-build-server").click()
    page.get_by_role("button", name="Assign to a person…").click()
    page.get_by_label("New owner").select_option(label="alice")
    page.get_by_role("button", name="Yes, assign it").click()

    assert "now belongs to alice" in page.locator(".messagelist").inner_text()
    record = BccInventoryEntry.objects.get(keypair_id=keypair_id).record
    assert (record.owner, record.kind) == (alice_developer, KeyPairRequest.Kind.ASSIGNED)
    assert page.get_by_role("button", name="Assign to a person…").count() == 0  # owned now: no more actions
