"""The real import page in a real Chromium: paste a key and see what the server understood;
generate in the browser and check, with OpenSSH, that the key pair BCC (the sandbox) holds is
the one whose private key the browser saved, and that no request carried that private key."""

from __future__ import annotations

import re
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keypairs.public_keys import public_key_inspect
from tests.browser.test_create_and_download import PASSWORD, alice, sign_in  # noqa: F401
from tests.browser.test_generate_in_browser import assert_nowhere, private_key_traces

try:
    from playwright.sync_api import expect
except ImportError:
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEYPAIR_PAGE = re.compile(r"/keypairs/[0-9a-f-]{36}/$")


def open_import_page(page, user) -> None:
    page.goto("/keypairs/import")
    sign_in(page, user)
    expect(page.get_by_role("heading", name="Import a public key")).to_be_visible()


def test_a_pasted_key_shows_what_the_server_understood_then_imports(
    page,
    alice,  # noqa: F811
    portal_on_sandbox,
    browser_log,
):
    line = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
        + " alice@laptop"
    )
    open_import_page(page, alice)

    page.get_by_role("textbox", name="Name", exact=True).fill("pasted")
    page.get_by_role("textbox", name="Public key").fill(line)

    expect(page.locator("#key-preview")).to_be_visible()
    expect(page.locator("#preview-type")).to_have_text("ecdsa-sha2-nistp256")
    expect(page.locator("#preview-bits")).to_have_text("256 bits")
    expect(page.locator("#preview-fingerprint")).to_have_text(public_key_inspect(line).sha256_fingerprint)
    expect(page.locator("#preview-comment")).to_have_text("alice@laptop")
    page.get_by_role("button", name="Import public key").click()
    expect(page).to_have_url(KEYPAIR_PAGE)
    expect(page.locator("#imported-note")).to_be_visible()
    assert len(portal_on_sandbox.keypairs()) == 1
    assert browser_log.csp_violations == []
    assert browser_log.page_errors == []


def test_a_key_pair_generated_on_the_import_page_is_the_one_bcc_holds(
    page,
    alice,  # noqa: F811
    portal_on_sandbox,
    browser_log,
    tmp_path,
):
    requests = []
    page.on("request", lambda request: requests.append(request))
    open_import_page(page, alice)

    page.get_by_role("textbox", name="Name", exact=True).fill("generated")
    page.get_by_role("combobox", name="Key type").select_option("ecdsa-p256")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Generate, save the private key and import").click()
    expect(page).to_have_url(KEYPAIR_PAGE)

    saved = tmp_path / "generated.pem"
    download_info.value.save_as(saved)
    saved.chmod(0o600)
    derived = subprocess.run(
        ["/usr/bin/ssh-keygen", "-y", "-f", str(saved)], capture_output=True, text=True, check=True
    ).stdout.strip()
    (in_bcc,) = portal_on_sandbox.keypairs()
    # The sandbox holds BCC's MD5 fingerprint; OpenSSH prints the same for the saved file.
    md5 = subprocess.run(
        ["/usr/bin/ssh-keygen", "-l", "-E", "md5", "-f", str(saved)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert md5 == "MD5:" + in_bcc["fingerPrint"]
    assert in_bcc["publicKey"].split()[:2] == derived.split()[:2]
    assert in_bcc["name"] == "generated"

    traces = private_key_traces(saved.read_text(), derived)
    bodies = [f"{request.url}\n{request.post_data or ''}" for request in requests]
    assert any(request.method == "POST" for request in requests)
    for body in bodies:
        assert_nowhere(traces, body)
    assert browser_log.csp_violations == []
    assert browser_log.page_errors == []
