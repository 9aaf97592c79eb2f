"""A developer signs in, creates a key pair and downloads its private key, in a real Chromium.

What only a browser shows: the static JavaScript loads and runs under the portal's CSP, the
server's messages reach the page, the one-time download cookie travels with the form, and
the file the browser saves is the private key whose public half the page shows.

Screenshots of the form with errors, the result page before and after the download, and the
refused second download go to /tmp/screens/ for a person to look at; nothing asserts on them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from keypairs import validation
from keypairs.bcc.fingerprints import fingerprint_matches, sha256_fingerprint
from keypairs.delivery import MESSAGE_ALREADY_DOWNLOADED
from portal.middleware import CONTENT_SECURITY_POLICY

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = Path("/tmp/screens")
PASSWORD = "a long passphrase nobody guesses"
KEYPAIR_PAGE = re.compile(r"/keypairs/[0-9a-f-]{36}/$")


@pytest.fixture
def alice(django_user_model):
    from portal.auth.roles import Role, assign_roles

    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


def sign_in(page, user) -> None:
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def open_create_form(page, user) -> None:
    """From a signed-out browser: the portal asks for sign-in, then the user follows the menu."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    sign_in(page, user)
    expect(page.get_by_role("heading", name="SSH key pairs for Baidu AI Cloud BCC")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Create a key pair").click()
    expect(page.get_by_role("heading", name="Create a key pair")).to_be_visible()


def create_key_pair(page, *, name: str, description: str, region_label: str) -> None:
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_role("textbox", name="Description (optional)").fill(description)
    page.get_by_role("combobox", name="Region").select_option(label=region_label)
    page.get_by_role("button", name="Create key pair").click()
    expect(page).to_have_url(KEYPAIR_PAGE)


def screenshot(page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / name, full_page=True)


def assert_pages_kept_their_policy(browser_log) -> None:
    """Every page came with the portal's CSP, and nothing on any page broke or was blocked."""
    assert browser_log.documents, "the browser loaded no page"
    for document in browser_log.documents:
        assert document.content_security_policy == CONTENT_SECURITY_POLICY, document.url
    assert browser_log.csp_violations == []
    assert browser_log.console_errors == []
    assert browser_log.page_errors == []
    assert browser_log.failed_subresources == []


def test_an_anonymous_visit_to_the_create_page_lands_on_sign_in_and_returns_there(page, browser_log, alice):
    page.goto("/keypairs/new")

    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/keypairs/new$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#create-form")).to_have_count(0)

    sign_in(page, alice)
    expect(page).to_have_url(re.compile(r"/keypairs/new$"))
    expect(page.get_by_role("heading", name="Create a key pair")).to_be_visible()
    assert_pages_kept_their_policy(browser_log)


def test_the_create_form_names_every_broken_rule_and_keeps_the_name_as_typed(
    page, browser_log, alice, portal_on_sandbox
):
    open_create_form(page, alice)
    name = page.get_by_role("textbox", name="Name", exact=True)
    hint = page.locator("#id_name_hint")
    counter = page.locator("#id_name_count")
    expect(hint).to_have_text("")

    # keypair-form.js hints while the user types: proof that the static script is served and
    # that the CSP lets it run.
    name.press_sequentially("1bad name")
    expect(hint).to_have_text(validation.NAME_MUST_START_WITH_LETTER)
    expect(counter).to_have_text(f"9 / {validation.NAME_MAX_LENGTH}")

    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Create key pair").click()

    assert navigation.value.status == 400
    expect(page.locator("#id_name_error li")).to_have_text(
        [
            validation.NAME_MUST_START_WITH_LETTER,
            validation.NAME_FORBIDDEN_CHARACTERS.format(characters="' ' (space)"),
        ]
    )
    expect(page.locator("#id_name_error")).to_contain_text("must start with a letter")
    expect(page.locator("#id_name_error")).to_contain_text("may not contain ' ' (space)")
    expect(name).to_have_value("1bad name")
    # Each message is said once: the server's list, no live hint repeating its first line...
    expect(hint).to_have_text("")
    expect(page.get_by_text(validation.NAME_MUST_START_WITH_LETTER, exact=True).filter(visible=True)).to_have_count(1)
    screenshot(page, "create-form-errors.png")
    # ...until the name is edited: the list described the old value, the hint takes over.
    name.press("Home")
    name.press_sequentially("x")
    expect(page.locator("#id_name_error")).to_be_hidden()
    expect(hint).to_have_text(validation.NAME_FORBIDDEN_CHARACTERS.format(characters="' ' (space)"))

    # Only the lists that count the shared quota for the form reached BCC: no create.
    sent = [record.operation for record in portal_on_sandbox.request_log if record.operation != "list"]
    assert sent == [], "an invalid name must not reach BCC"
    assert_pages_kept_their_policy(browser_log)


def test_a_developer_creates_a_key_pair_and_downloads_the_private_key_that_matches_the_page(
    page, browser_log, alice, portal_on_sandbox, tmp_path
):
    open_create_form(page, alice)
    create_key_pair(page, name="e2e-web/01", description="Web servers, e2e test", region_label="Guangzhou (gz)")

    expect(page.get_by_role("alert")).to_contain_text("This is your only chance to save the private key.")
    keypair_id = page.locator("#keypair-id").inner_text()
    assert [keypair["keypairId"] for keypair in portal_on_sandbox.keypairs(region="gz")] == [keypair_id]
    public_key = page.locator("#public-key").input_value()
    fingerprint_sha256 = page.locator("#fingerprint-sha256").inner_text()
    fingerprint_bcc = page.locator("#fingerprint-bcc").inner_text()
    assert public_key.startswith("ssh-rsa ")
    assert fingerprint_matches(public_key, fingerprint_bcc)
    screenshot(page, "keypair-result.png")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the private key").click()
    download = download_info.value
    assert download.suggested_filename == "e2e-web_01.pem"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    private_key = serialization.load_pem_private_key(saved.read_bytes(), password=None)
    openssh_public_key = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode("ascii")
    )
    assert openssh_public_key == public_key
    assert sha256_fingerprint(openssh_public_key) == fingerprint_sha256

    # keypair-detail.js reloads the page after the download; it then says what happened.
    expect(page.locator("#downloaded-note")).to_contain_text("Downloaded at")
    expect(page.get_by_role("button", name=re.compile("^Download"))).to_have_count(0)
    screenshot(page, "keypair-downloaded.png")
    assert_pages_kept_their_policy(browser_log)


def test_a_second_download_from_a_tab_left_open_is_refused_as_gone(
    page, browser_context, browser_log, alice, portal_on_sandbox
):
    open_create_form(page, alice)
    create_key_pair(page, name="e2e-web/02", description="", region_label="Beijing (bj)")
    # The same key pair page, open twice in one browser: both offer the download.
    other_tab = browser_context.new_page()
    other_tab.goto(page.url)
    downloads_in_other_tab = []
    other_tab.on("download", lambda download: downloads_in_other_tab.append(download))

    with page.expect_download():
        page.get_by_role("button", name="Download the private key").click()
    with other_tab.expect_response(re.compile(r"/download$")) as second_attempt:
        other_tab.get_by_role("button", name="Download the private key").click()

    assert second_attempt.value.status == 410
    expect(other_tab.get_by_role("heading", name="No download")).to_be_visible()
    expect(other_tab.locator("#refusal")).to_have_text(str(MESSAGE_ALREADY_DOWNLOADED))
    assert downloads_in_other_tab == []
    screenshot(other_tab, "download-refused.png")
    assert_pages_kept_their_policy(browser_log)
