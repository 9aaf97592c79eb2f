"""The expiry on "My key pairs" and a key pair's page in Chromium: readable on a phone (390 px) and at
1280 px, no sideways scrolling, and the next step one click away."""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta

import pytest
from django.utils import timezone

from keypairs.bcc.factory import get_client
from keypairs.models import KeyPairRequest
from tests.import_flow import ec_key, public_line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def alice(django_user_model):
    from portal.auth.roles import Role, assign_roles

    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


def made_days_ago(owner, name: str, days: float) -> KeyPairRequest:
    """A key pair in the sandbox (the list checks BCC holds it) whose record says BCC made it ``days`` ago."""
    in_bcc = get_client("bj").import_keypair(name=name, public_key=public_line(ec_key()))
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        kind=KeyPairRequest.Kind.IMPORT,
        region="bj",
        name=name,
        status=KeyPairRequest.Status.CREATED,
        keypair_id=in_bcc.keypair_id,
        fingerprint_sha256="SHA256:" + "nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
        bcc_created_at=timezone.now() - timedelta(days=days),
    )


def screenshot(page, name: str) -> None:
    """For a person checking the look: KEY_AGE_SCREENSHOTS=/some/dir keeps the pages as PNG files."""
    if os.environ.get("KEY_AGE_SCREENSHOTS"):
        page.screenshot(path=f"{os.environ['KEY_AGE_SCREENSHOTS']}/{name}.png", full_page=True)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_expiry_reads_on_a_phone_and_a_desktop(page, browser_log, alice, portal_on_sandbox, settings, viewport):
    settings.KEYPAIR_MAX_AGE_DAYS, settings.KEYPAIR_EXPIRY_REMINDER_DAYS = 90, [14, 3]
    made_days_ago(alice, "near-its-end", 85.5)
    made_days_ago(alice, "too-old", 93.5)
    made_days_ago(alice, "young", 2)
    page.set_viewport_size(viewport)

    page.goto("/keypairs/")
    page.get_by_label("User name").fill(alice.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/keypairs/$"))

    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.locator(".badge.key-expiring").inner_text() == "Expires soon"
    assert page.locator(".badge.key-expired").inner_text() == "Too old"
    assert page.locator(".key-age").count() == 3
    assert page.get_by_text(re.compile(r"Expires on \d{1,2} [A-Z][a-z]{2} \d{4} \(in 5 days\)")).is_visible()
    screenshot(page, f"list-{viewport['width']}")

    page.get_by_role("link", name="near-its-end").click()
    note = page.locator("#key-age-note")
    assert "(in 5 days)" in note.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    screenshot(page, f"detail-{viewport['width']}")
    note.get_by_role("link", name="create a new key pair").click()
    page.wait_for_url(re.compile(r"/keypairs/new$"))
    assert browser_log.console_errors == []
    assert browser_log.page_errors == []
