"""Alice binds her key pair to an instance that holds Bob's, in Chromium at 1280 px, confirming the
replacement first; against the BCC sandbox, with real SMTP on loopback.
"""

from __future__ import annotations

import pytest

from keypairs.bcc.factory import get_client
from keypairs.models import AccessRule, InstanceBinding
from portal.auth.roles import Role, assign_roles
from tests.browser.test_create_and_download import assert_pages_kept_their_policy, screenshot
from tests.offboarding_world import made
from tests.sandbox_instances import linux_instances

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def people(django_user_model):
    alice = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    bob = django_user_model.objects.create_user(username="bob", password=PASSWORD, email="bob@example.com")
    for person in (alice, bob):
        assign_roles(person, {Role.DEVELOPER})
    return alice, bob


def test_alice_binds_her_key_pair_replacing_bobs_after_confirming(
    page, browser_log, people, portal_on_sandbox, smtp_server
):
    alice, bob = people
    AccessRule.objects.create(name="web servers", sso_group="developers", region="bj", tag_key="team", tag_value="web")
    mine, bobs = made(alice, "build-server"), made(bob, "bobs-key")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"}, name="web-1", internalIp="10.0.0.7")
    get_client("bj").attach_keypair(bobs.keypair_id, instance_ids=["i-web1"])
    page.set_viewport_size(LAPTOP)

    page.goto(f"/keypairs/{mine.public_id}/")
    page.get_by_label("User name").fill(alice.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Bind to instances").click()
    # The click only starts the navigation: measuring before the bind page is there reads a document
    # in between (CI once saw documentElement null).
    page.wait_for_url(f"**/keypairs/{mine.public_id}/bind/")

    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    assert page.locator("#row-i-web1 .holder").inner_text() == "someone else's: bob (bobs-key)"
    page.get_by_label("Bind to i-web1").check()
    page.get_by_role("button", name="Bind").click()
    # Not confirmed: refused, nothing sent.
    assert "Tick the confirmation" in page.locator("#form-error").inner_text()
    assert get_client("bj").get_instance("i-web1").keypair_id == bobs.keypair_id

    page.get_by_label("Bind to i-web1").check()
    page.locator("#confirm-replace").check()
    screenshot(page, "bind-confirmation.png")
    page.get_by_role("button", name="Bind").click()

    assert "Bound." in page.locator("#outcome-i-web1").inner_text()
    assert "ssh -i build-server.pem root@10.0.0.7" in page.locator("#next-steps").inner_text()
    assert get_client("bj").get_instance("i-web1").keypair_id == mine.keypair_id
    assert InstanceBinding.objects.get(state="bound").keypair_request == mine
    assert len(smtp_server.mails_to("bob@example.com")) == 1
    assert_pages_kept_their_policy(browser_log)
