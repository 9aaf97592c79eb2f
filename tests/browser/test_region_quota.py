"""The shared quota line on the create form follows the chosen region (static/js/keypair-quota.js), in Chromium.

The server renders one line per region and shows the default region's; the script shows the
line of whichever region is chosen. Through the portal itself, so that the script also has to
load and run under the portal's Content-Security-Policy.
"""

from __future__ import annotations

import re

import pytest

from keypairs import messages
from keypairs.bcc.factory import get_client
from portal.middleware import CONTENT_SECURITY_POLICY

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"


@pytest.fixture
def alice(django_user_model):
    from portal.auth.roles import Role, assign_roles

    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


def test_the_quota_line_follows_the_chosen_region(page, browser_log, alice, portal_on_sandbox):
    for _ in range(2):
        get_client("gz").create_keypair(name="someone-elses")
    beijing = messages.QUOTA_LEFT.format(remaining=500, total=500, region="Beijing (bj)") + "."
    guangzhou = messages.QUOTA_LEFT.format(remaining=498, total=500, region="Guangzhou (gz)") + "."

    page.goto("/keypairs/new")
    page.get_by_label("User name").fill(alice.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/keypairs/new$"))
    quota = page.locator("#region-quota")

    expect(quota.locator("span:visible")).to_have_text([beijing])
    page.get_by_role("combobox", name="Region").select_option("gz")
    expect(quota.locator("span:visible")).to_have_text([guangzhou])
    page.get_by_role("combobox", name="Region").select_option("bj")
    expect(quota.locator("span:visible")).to_have_text([beijing])

    assert all(document.content_security_policy == CONTENT_SECURITY_POLICY for document in browser_log.documents)
    assert browser_log.csp_violations == []
    assert browser_log.console_errors == []
    assert browser_log.page_errors == []
