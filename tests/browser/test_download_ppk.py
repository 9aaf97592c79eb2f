"""A developer on Windows chooses PuTTY's format on the result page, with the keyboard, and
PuTTYgen reads the saved file as the key pair the page shows.

Needs a real Chromium (``browser``) and Debian's ``puttygen`` (``putty``); CI requires both.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.browser.test_create_and_download import (
    PASSWORD,
    assert_pages_kept_their_policy,
    create_key_pair,
    open_create_form,
    screenshot,
)

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

PUTTYGEN = shutil.which("puttygen")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.putty,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(PUTTYGEN is None, reason="needs puttygen (Debian's putty-tools)"),
]


@pytest.fixture
def alice(django_user_model):
    from portal.auth.roles import Role, assign_roles

    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


PEM_CHOICE = ".pem, for OpenSSH (Linux, macOS, Windows 10 and later)"
PPK_CHOICE = ".ppk, for PuTTY and WinSCP"


def test_a_developer_chooses_ppk_with_the_keyboard_and_puttygen_reads_the_saved_file(
    page,
    browser_log,
    alice,
    portal_on_sandbox,
    tmp_path,
):
    open_create_form(page, alice)
    create_key_pair(page, name="win/desktop", description="", region_label="Beijing (bj)")
    fingerprint_sha256 = page.locator("#fingerprint-sha256").inner_text()
    pem_choice = page.get_by_role("radio", name=PEM_CHOICE)
    ppk_choice = page.get_by_role("radio", name=PPK_CHOICE)
    expect(pem_choice).to_be_checked()
    expect(ppk_choice).not_to_be_checked()

    # Keyboard only: the arrow key moves the choice within the group, Tab reaches the button.
    pem_choice.focus()
    page.keyboard.press("ArrowDown")
    expect(ppk_choice).to_be_checked()
    expect(ppk_choice).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Download the private key")).to_be_focused()
    screenshot(page, "keypair-result-ppk-chosen.png")
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    download = download_info.value

    assert download.suggested_filename == "win_desktop.ppk"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    listed = subprocess.run([PUTTYGEN, str(saved), "-l"], check=True, capture_output=True, text=True).stdout.split()
    assert (listed[0], listed[2]) == ("ssh-rsa", fingerprint_sha256)
    assert saved.read_text().splitlines()[2] == "Comment: win/desktop"

    # keypair-detail.js reloads the page after the download: the one download is spent.
    expect(page.locator("#downloaded-note")).to_contain_text("Downloaded at")
    expect(page.get_by_role("radio", name=re.compile("ppk"))).to_have_count(0)
    assert_pages_kept_their_policy(browser_log)
