"""The list "My key pairs" on a phone (390 px wide), in Chromium: no sideways scrolling, ids whole on one line.

The rows stack as cards under a media query (static/css/portal.css). Names are the person's
own words and may wrap; ids and fingerprints are copied whole, so they stay on one line (cut
with an ellipsis, in full in their title, when a line cannot hold them).
"""

from __future__ import annotations

import re
import secrets

import pytest

from keypairs.models import KeyPairRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
PHONE = {"width": 390, "height": 844}
LONG_NAME = "a" + "very-long-name-without-spaces" * 2 + "x" * 5  # 64 characters, no break opportunity but "-"
LONG_ID = "k-" + "Z" * 22
FINGERPRINT = "SHA256:" + "nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"


@pytest.fixture
def alice(django_user_model):
    from portal.auth.roles import Role, assign_roles

    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


def record(owner, name: str, keypair_id: str) -> KeyPairRequest:
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        kind=KeyPairRequest.Kind.IMPORT,
        region="bj",
        name=name,
        description="",
        status=KeyPairRequest.Status.CREATED,
        keypair_id=keypair_id,
        fingerprint_sha256=FINGERPRINT,
    )


def test_the_list_fits_a_phone_and_keeps_each_id_on_one_line(page, browser_log, alice, portal_on_sandbox):
    record(alice, LONG_NAME, LONG_ID)
    record(alice, "Zh" + "中文名字" * 10, "k-" + "Q" * 40)  # longer than a phone's line: cut, not broken
    page.set_viewport_size(PHONE)

    page.goto("/keypairs/")
    page.get_by_label("User name").fill(alice.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/keypairs/$"))

    assert page.get_by_label("Name contains").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ids = page.locator("#keypair-table code.id")
    assert ids.count() == 4  # a key pair id and a fingerprint per row
    for index in range(ids.count()):
        assert ids.nth(index).evaluate("element => element.getClientRects().length") == 1
        height = ids.nth(index).evaluate("element => element.getBoundingClientRect().height")
        line = ids.nth(index).evaluate("element => parseFloat(getComputedStyle(element).lineHeight) || 0")
        assert line == 0 or height <= line * 1.5  # one line, not two
    assert page.locator(f'code.id[title="{LONG_ID}"]').inner_text() == LONG_ID
    assert browser_log.console_errors == []
    assert browser_log.page_errors == []
