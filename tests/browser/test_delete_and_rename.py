"""Deleting (with its confirmation) and renaming a key pair, in the real Chromium, against the sandbox."""

from __future__ import annotations

import re

import pytest

from keypairs.models import KeyPairRequest
from keypairs.services import change, delete
from tests.browser.test_create_and_download import assert_pages_kept_their_policy, create_key_pair, screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

PASSWORD = "a long passphrase nobody guesses"
KEYPAIR_PAGE = re.compile(r"/keypairs/[0-9a-f-]{36}/$")


@pytest.fixture
def alice(django_user_model):
    from portal.auth.roles import Role, assign_roles

    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


def alice_with_a_key_pair(page, alice) -> None:
    page.goto("/keypairs/new")
    page.get_by_label("User name").fill(alice.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    create_key_pair(page, name="build-server", description="CI runners", region_label="Beijing (bj)")


def test_alice_deletes_her_key_pair_after_a_confirmation(page, browser_log, alice, portal_on_sandbox):
    alice_with_a_key_pair(page, alice)
    detail = page.url

    page.locator("#keypair-actions").get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete key pair build-server")).to_be_visible()
    expect(page.locator("#bound-instances")).to_have_text("BCC says it is bound to 0 instances.")
    expect(page.locator("#delete-meaning")).to_contain_text("nobody can use this key pair to sign in")
    screenshot(page, "delete-confirmation.png")
    # Nothing happens before the confirmation.
    assert len(portal_on_sandbox.keypairs()) == 1

    page.get_by_role("button", name="Delete this key pair").click()

    expect(page).to_have_url(detail)
    expect(page.get_by_role("status").filter(has_text="is deleted")).to_contain_text(
        str(delete.DELETED.format(name="build-server"))
    )
    expect(page.locator("#deleted-note")).to_be_visible()
    expect(page.locator("#keypair-actions")).to_have_count(0)
    assert portal_on_sandbox.keypairs() == []
    assert KeyPairRequest.objects.get().status == KeyPairRequest.Status.DELETED
    assert_pages_kept_their_policy(browser_log)


def test_alice_renames_her_key_pair_and_changes_its_description(page, browser_log, alice, portal_on_sandbox):
    alice_with_a_key_pair(page, alice)

    page.get_by_role("link", name="Rename or edit").click()
    name = page.get_by_role("textbox", name="Name", exact=True)
    expect(name).to_have_value("build-server")
    name.fill("web 2")
    # The create form's live hint, from the same rules.
    expect(page.locator("#id_name_hint")).to_contain_text("The name may not contain")
    name.fill("web-2")
    page.get_by_role("textbox", name="Description (optional)").fill("web servers")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(KEYPAIR_PAGE)
    expect(page.get_by_role("heading", name="Key pair web-2")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text(str(change.CHANGED.format(name="web-2")))
    ((keypair),) = portal_on_sandbox.keypairs()
    assert (keypair["name"], keypair["description"]) == ("web-2", "web servers")
    screenshot(page, "renamed.png")
    assert_pages_kept_their_policy(browser_log)
