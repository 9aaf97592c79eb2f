"""The developer's whole flow by keyboard alone, in Chromium: sign in, create a key pair, download
its private key, report "I did not download this" and confirm, delete the key pair and confirm.

Only Tab, Shift+Tab, typing, Enter and Space: no click, no mouse, no ``.click()``, no ``.fill()``.
At every stop of the Tab key the focused element must show a ring (an outline or a box shadow):
someone who cannot see where the focus is cannot use a keyboard either.
"""

from __future__ import annotations

import re

import pytest

from keypairs.models import KeyPairRequest
from portal.auth.roles import Role, assign_roles
from tests.browser.test_create_and_download import assert_pages_kept_their_policy

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
KEYPAIR_PAGE = re.compile(r"/keypairs/[0-9a-f-]{36}/$")
# More Tab presses than any page here has stops: a target never reached fails instead of looping.
MAX_TABS = 60

FOCUSED = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return null;
  const style = getComputedStyle(element);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== 'none';
  return {
    id: element.id, tag: element.tagName.toLowerCase(),
    text: (element.innerText || element.value || '').trim().slice(0, 40),
    visible: outline || shadow,
  };
}"""


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


class Keyboard:
    """Tabs through a page, checking at every stop that the focus is visible."""

    def __init__(self, page) -> None:
        self.page = page
        self.unseen: list[str] = []

    def focused(self) -> dict | None:
        return self.page.evaluate(FOCUSED)

    def tab_to(self, element_id: str, *, backwards: bool = False) -> None:
        key = "Shift+Tab" if backwards else "Tab"
        self.page.wait_for_load_state()
        for _ in range(MAX_TABS):
            self.page.keyboard.press(key)
            now = self.focused()
            if now is None:
                continue
            if not now["visible"]:
                self.unseen.append(f"{self.page.url}: {now}")
            if now["id"] == element_id:
                return
        raise AssertionError(f"{key} never reached #{element_id} on {self.page.url}")


def test_create_download_report_and_delete_by_keyboard_alone(page, browser_log, alice, portal_on_sandbox):
    keys = Keyboard(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/keypairs/new")  # the address bar is not the page: typing an address is not a click

    # Sign in.
    keys.tab_to("id_username")
    page.keyboard.type("alice")
    keys.tab_to("id_password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^http://[^/]+/keypairs/new$"))

    # Create: the name, then a region chosen with the arrow keys, then Enter on the button.
    keys.tab_to("id_name")
    page.keyboard.type("keyboard-only")
    keys.tab_to("id_region")
    page.keyboard.press("ArrowDown")
    region = page.locator("#id_region").input_value()
    keys.tab_to("create-button")
    page.keyboard.press("Enter")
    page.wait_for_url(KEYPAIR_PAGE)
    record = KeyPairRequest.objects.get(name="keyboard-only")
    assert record.region == region

    # Download: Tab past the button, come back with Shift+Tab, and press Enter.
    keys.tab_to("download-button")
    page.keyboard.press("Tab")
    keys.tab_to("download-button", backwards=True)
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == "keyboard-only.pem"
    expect(page.locator("#downloaded-note")).to_be_visible()

    # "I did not download this", with Space; then its confirmation, with Enter.
    keys.tab_to("report-button")
    page.keyboard.press("Space")
    page.locator("#report-confirm-form").wait_for()
    keys.tab_to("report-confirm-button")
    page.keyboard.press("Enter")
    expect(page.locator("#reported-note")).to_be_visible()
    record.refresh_from_db()
    assert record.delivery.reported_at is not None

    # Delete, from the reported note's link; then its confirmation.
    keys.tab_to("reported-delete-link")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/delete$"))
    keys.tab_to("confirm-delete-button")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: not url.endswith("/delete"))
    record.refresh_from_db()
    assert record.status == KeyPairRequest.Status.DELETED
    assert portal_on_sandbox.keypairs(region=region) == []

    assert keys.unseen == [], "focus without a visible ring:\n" + "\n".join(keys.unseen)
    assert_pages_kept_their_policy(browser_log)
