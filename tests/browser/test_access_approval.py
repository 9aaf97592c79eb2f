"""Bind under a rule that requires approval, end to end in Chromium against the BCC sandbox, with
real SMTP on loopback: Alice asks, the approver follows the link in the mail and approves (by
keyboard), Alice's mail says approved, BCC's instance holds her key pair. And an approver's own
request offers them no approve form, and a POST of one is refused.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from keypairs.bcc.factory import get_client
from keypairs.models import AccessRequest, AccessRule, InstanceBinding
from keypairs.services.access_decisions import OWN_REQUEST
from portal.auth.roles import Role, assign_roles
from tests.access_world import pending_request
from tests.browser.test_create_and_download import assert_pages_kept_their_policy, screenshot
from tests.offboarding_world import made
from tests.sandbox_instances import linux_instances

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REQUEST_LINK = re.compile(r"(http://\S+/access/requests/[0-9a-f-]{36}/)")


@pytest.fixture
def people(django_user_model):
    """Alice and Bob are developers; Carol approves (and, to ask for access herself, develops too)."""
    alice = django_user_model.objects.create_user(username="alice", password=PASSWORD, email="alice@example.com")
    bob = django_user_model.objects.create_user(username="bob", password=PASSWORD, email="bob@example.com")
    carol = django_user_model.objects.create_user(username="carol", password=PASSWORD, email="carol@example.com")
    for person in (alice, bob):
        assign_roles(person, {Role.DEVELOPER})
    assign_roles(carol, {Role.DEVELOPER, Role.APPROVER})
    return alice, bob, carol


@pytest.fixture
def approval_rule(db) -> AccessRule:
    return AccessRule.objects.create(
        name="web servers",
        sso_group="developers",
        region="bj",
        tag_key="team",
        tag_value="web",
        requires_approval=True,
        max_duration=timedelta(hours=8),
    )


@pytest.fixture
def mail_links_to_live_server(settings, live_server):
    # The mails link to PORTAL_BASE_URL; here that is the live server the browser talks to.
    settings.PORTAL_BASE_URL = live_server.url


def sign_in(page, username: str) -> None:
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def fits(page, width: int) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_alice_asks_carol_approves_from_the_mail_by_keyboard_and_bcc_binds(
    browser_context,
    browser,
    live_server,
    browser_log,
    people,
    approval_rule,
    portal_on_sandbox,
    smtp_server,
    mail_links_to_live_server,
):
    alice, bob, _ = people
    mine, bobs = made(alice, "alice-key"), made(bob, "bobs-key")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"}, name="web-1", internalIp="10.0.0.7")
    get_client("bj").attach_keypair(bobs.keypair_id, instance_ids=["i-web1"])

    # Alice asks, at 1280 px.
    requester = browser_context.new_page()
    requester.set_viewport_size(LAPTOP)
    requester.goto(f"/keypairs/{mine.public_id}/")
    sign_in(requester, "alice")
    requester.get_by_role("link", name="Bind to instances").click()
    expect(requester.locator(f"#rule-{approval_rule.pk}")).to_contain_text("Requires approval")
    requester.get_by_label("Bind to i-web1").check()
    requester.get_by_label("For how many hours").fill("4")
    requester.get_by_label("Why you need this access").fill("deploying release 7")
    requester.locator("#confirm-replace").check()
    requester.get_by_role("button", name="Bind").click()

    expect(requester.locator("#outcome-i-web1")).to_contain_text("Waiting for approval (rule web servers)")
    assert get_client("bj").get_instance("i-web1").keypair_id == bobs.keypair_id  # nothing bound yet
    access_request = AccessRequest.objects.get()
    assert access_request.status == AccessRequest.Status.PENDING

    # The approver's mail, through real SMTP: the link to the request's page.
    (asked,) = smtp_server.mails_to("carol@example.com")
    assert smtp_server.mails_to("alice@example.com") == []  # the requester is not asked to decide
    assert "alice asks to bind key pair alice-key" in asked.body
    assert "deploying release 7" in asked.body
    link = REQUEST_LINK.search(asked.body).group(1)
    assert link == f"{live_server.url}/access/requests/{access_request.public_id}/"

    # Carol, in a browser of her own, follows the link; first at 390 px: the page fits.
    approver_context = browser.new_context(base_url=live_server.url)
    browser_log.watch(approver_context)
    try:
        approver = approver_context.new_page()
        approver.set_viewport_size(PHONE)
        approver.goto(link)
        sign_in(approver, "carol")
        expect(approver).to_have_url(link)
        expect(approver.locator("#approve-form")).to_be_visible()
        screenshot(approver, "access-request-phone.png")
        assert fits(approver, PHONE["width"])

        approver.set_viewport_size(LAPTOP)
        assert fits(approver, LAPTOP["width"])
        expect(approver.locator("#access-request-status")).to_have_text("Waiting for approval")
        expect(approver.locator("#access-request-instances")).to_contain_text(
            f"i-web1 (web-1): holds bob: bobs-key ({bobs.keypair_id}) now"
        )
        expect(approver.locator(".facts")).to_contain_text("deploying release 7")

        # Keyboard only: type the note, Tab to the button, Enter.
        approver.locator("#approve-reason").focus()
        approver.keyboard.type("ok, don't break <main>")
        approver.keyboard.press("Tab")
        assert approver.evaluate("document.activeElement.textContent.trim()") == "Approve and bind now"
        assert approver.evaluate("document.activeElement.closest('form').id") == "approve-form"
        screenshot(approver, "access-request-approve.png")
        approver.keyboard.press("Enter")

        expect(approver.locator(".messages")).to_contain_text("Approved. Bound to: i-web1.")
        expect(approver.locator("#access-request-status")).to_have_text("Approved")
        expect(approver.locator("#access-request-decision")).to_contain_text("carol")
        expect(approver.locator("#access-request-decision")).to_contain_text("ok, don't break <main>")
        expect(approver.locator("#approve-form")).to_have_count(0)
    finally:
        approver_context.close()

    # BCC's instance holds Alice's key pair now, for the 4 hours asked.
    assert get_client("bj").get_instance("i-web1").keypair_id == mine.keypair_id
    binding = InstanceBinding.objects.get(instance_id="i-web1", state="bound")
    assert binding.keypair_request == mine and binding.expires_at is not None

    # Alice's mail says approved; Bob is told his key pair was replaced.
    (decided,) = smtp_server.mails_to("alice@example.com")
    assert "carol approved your request to bind key pair alice-key" in decided.body
    assert "Their note: ok, don't break <main>" in decided.body
    assert "i-web1" in decided.body
    assert smtp_server.mails_to("bob@example.com")

    # Alice's "My access requests" shows it approved, by carol.
    requester.goto("/access/my-requests/")
    row = requester.locator("#my-access-requests tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("alice-key")
    expect(row).to_contain_text("Approved (carol)")
    row.get_by_role("link", name="alice-key").click()
    expect(requester.locator("#access-request-status")).to_have_text("Approved")
    expect(requester.locator("#approve-form")).to_have_count(0)
    assert_pages_kept_their_policy(browser_log)


def test_an_approver_gets_no_approve_button_on_their_own_request_and_a_post_is_refused(
    page, browser_log, people, approval_rule, portal_on_sandbox
):
    _, _, carol = people
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], tags={"team": "web"}, name="web-1")
    own = pending_request(carol, made(carol, "carol-key"), ["i-web1"])
    page.set_viewport_size(LAPTOP)

    page.goto(f"/access/requests/{own.public_id}/")
    sign_in(page, "carol")
    expect(page.locator("#access-request-status")).to_have_text("Waiting for approval")
    expect(page.locator("#waiting-note")).to_be_visible()
    expect(page.get_by_role("button", name="Approve and bind now")).to_have_count(0)
    expect(page.locator("#approve-form")).to_have_count(0)

    # The form the page does not offer, posted anyway with her session and CSRF token.
    token = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    response = page.request.post(
        f"/access/requests/{own.public_id}/approve",
        form={"csrfmiddlewaretoken": token, "reason": "me"},
        headers={"Referer": page.url},
    )
    assert response.status == 403
    assert str(OWN_REQUEST) in response.text()
    own.refresh_from_db()
    assert own.status == AccessRequest.Status.PENDING
    assert get_client("bj").get_instance("i-web1").keypair_id is None
    assert_pages_kept_their_policy(browser_log)
