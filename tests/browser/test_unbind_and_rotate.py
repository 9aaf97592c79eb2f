"""A bound key pair in the real Chromium, against the sandbox: unbound from all its instances and
deleted, or replaced on them by a new key pair (guided rotation)."""

from __future__ import annotations

import re

import pytest

from keypairs.bcc.factory import get_client
from keypairs.models import KeyPairRequest
from keypairs.services import delete
from tests.browser.test_create_and_download import assert_pages_kept_their_policy, create_key_pair, screenshot
from tests.browser.test_delete_and_rename import PASSWORD
from tests.sandbox_instances import linux_instances

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

KEYPAIR_PAGE = re.compile(r"/keypairs/[0-9a-f-]{36}/$")


@pytest.fixture
def alice(django_user_model):
    from portal.auth.roles import Role, assign_roles

    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


def signed_in_with_a_bound_key_pair(page, alice, sandbox) -> KeyPairRequest:
    page.goto("/keypairs/new")
    page.get_by_label("User name").fill(alice.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    create_key_pair(page, name="old-key", description="", region_label="Beijing (bj)")
    old = KeyPairRequest.objects.get(name="old-key")
    linux_instances(sandbox, "bj", ids=["i-web1", "i-web2"], name="web")
    get_client("bj").attach_keypair(old.keypair_id, instance_ids=["i-web1", "i-web2"])
    page.reload()
    return old


def holders() -> dict[str, str | None]:
    return {instance.instance_id: instance.keypair_id for instance in get_client("bj").list_instances()}


def test_alice_unbinds_her_key_pair_from_all_its_instances_then_deletes_it(page, browser_log, alice, portal_on_sandbox):
    signed_in_with_a_bound_key_pair(page, alice, portal_on_sandbox)

    page.locator("#keypair-actions").get_by_role("link", name="Delete").click()
    expect(page.locator(".bound-instance")).to_have_count(2)
    button = page.get_by_role("button", name="Unbind from all 2 instances, then delete")
    screenshot(page, "delete-bound.png")
    button.click()  # without the tick: refused, nothing done
    expect(page.locator("#delete-error")).to_contain_text("Tick the box")
    assert holders() == {
        "i-web1": KeyPairRequest.objects.get().keypair_id,
        "i-web2": KeyPairRequest.objects.get().keypair_id,
    }

    page.get_by_label("I understand: this key pair stops working on these 2 instances.").check()
    page.get_by_role("button", name="Unbind from all 2 instances, then delete").click()

    expect(page).to_have_url(KEYPAIR_PAGE)
    expect(page.get_by_role("status").filter(has_text="is deleted")).to_contain_text(
        str(delete.DELETED.format(name="old-key"))
    )
    assert holders() == {"i-web1": None, "i-web2": None}
    assert portal_on_sandbox.keypairs() == []
    assert_pages_kept_their_policy(browser_log)


def test_alice_replaces_her_key_pair_on_its_instances(page, browser_log, alice, portal_on_sandbox):
    old = signed_in_with_a_bound_key_pair(page, alice, portal_on_sandbox)
    old_page = page.url
    page.goto("/keypairs/new")
    create_key_pair(page, name="new-key", description="", region_label="Beijing (bj)")
    new = KeyPairRequest.objects.get(name="new-key")
    page.goto(old_page)

    page.get_by_role("link", name="Replace this key pair on its instances").click()
    expect(page.locator(".to-rotate-instance")).to_have_count(2)
    page.get_by_label("The key pair that replaces it").select_option(label=f"new-key ({new.keypair_id})")
    page.get_by_label("I understand").check()
    screenshot(page, "rotate.png")
    page.get_by_role("button", name="Replace it, then delete it").click()

    expect(page).to_have_url(re.compile(rf"/keypairs/{new.public_id}/$"))
    expect(page.locator(".messages")).to_contain_text("new-key now holds 2 instances in place of old-key")
    assert holders() == {"i-web1": new.keypair_id, "i-web2": new.keypair_id}
    old.refresh_from_db()
    assert old.status == KeyPairRequest.Status.DELETED
    assert_pages_kept_their_policy(browser_log)
