"""Generate in your browser (static/js/keypair-generate.js) in a real Chromium, checked with OpenSSH.

The import page is built elsewhere; these tests serve a page of their own through the live
server (so the portal's middleware, CSP included, applies): a form with a name input and a
public key textarea, the real fragment templates/keypairs/_generate_in_browser.html inside
it, and the real script loaded as a page will load it. The form posts to a view that says
what it received. This module is that page's URLconf (``settings.ROOT_URLCONF``).

What is checked is what a person relies on: the saved file is a private key OpenSSH reads,
whose public key is exactly the line the form sent; the file is saved before anything is
sent; the private key is in no request, no cookie, no storage and not in the page; and
without WebCrypto or JavaScript the option says why and offers the other ways.
"""

from __future__ import annotations

import base64
import re
import subprocess
from urllib.parse import parse_qs, unquote_plus

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from keypairs.forms import KeyPairCreateForm
from portal.middleware import CONTENT_SECURITY_POLICY

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

pytestmark = pytest.mark.browser

SSH_KEYGEN = "/usr/bin/ssh-keygen"
CREATE_URL = "/create-instead/"
IMPORT_PAGE = "/import-with-generate/"
RECEIVED_HEADING = "The import form received"

# The import form as the import page will hold it: the real name field (with its pattern and
# data-rules), a public key textarea, and the fragment inside the form.
IMPORT_PAGE_TEMPLATE = """{% load static %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Import a public key</title></head><body>
<form method="post" action="{% url 'received' %}" id="import-form">{% csrf_token %}
  <label for="id_name">Name</label>{{ name_field }}
  <label for="id_public_key">Public key</label>
  <textarea id="id_public_key" name="public_key" required></textarea>
  {% include "keypairs/_generate_in_browser.html" with create_url=create_url %}
  <button type="submit">Import</button>
</form>
<script src="{% static 'js/keypair-generate.js' %}" defer></script>
</body></html>"""

RECEIVED_TEMPLATE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Received</title></head>
<body><h1>The import form received</h1><pre id="received-public-key">{{ public_key }}</pre></body></html>"""


@login_not_required
def import_page(request: HttpRequest) -> HttpResponse:
    page = engines["django"].from_string(IMPORT_PAGE_TEMPLATE)
    name_field = KeyPairCreateForm()["name"]
    return HttpResponse(page.render({"name_field": name_field, "create_url": CREATE_URL}, request))


@login_not_required
def received(request: HttpRequest) -> HttpResponse:
    page = engines["django"].from_string(RECEIVED_TEMPLATE)
    return HttpResponse(page.render({"public_key": request.POST.get("public_key", "")}, request))


urlpatterns = [
    path(IMPORT_PAGE.strip("/") + "/", import_page, name="import_page"),
    path("received/", received, name="received"),
]


@pytest.fixture
def import_page_url(settings) -> str:
    settings.ROOT_URLCONF = __name__
    return IMPORT_PAGE


@pytest.fixture
def watched(page):
    """The page, with every request it sends and every download it starts recorded in order."""
    events: list[tuple[str, object]] = []
    page.on("request", lambda request: events.append(("request", request)))
    page.on("download", lambda download: events.append(("download", download)))
    return page, events


def posts(events) -> list:
    return [event for kind, event in events if kind == "request" and event.method == "POST"]


def downloads(events) -> list:
    return [event for kind, event in events if kind == "download"]


def private_key_traces(pem: str, public_line: str) -> list[str]:
    """What a leak of the private key would carry, and the public key does not.

    A PKCS#8 file holds the public half too (the RSA modulus, the EC point), so some of its
    base64 can legitimately equal stretches of the public key line: those lines are left
    out. What remains: the whole base64 body, every PEM line the public key does not
    contain, and the secret numbers (RSA d, p, q; the EC private scalar) in hex, base64 and
    base64url (how a JWK would carry them).
    """
    lines = pem.strip().splitlines()[1:-1]
    public_base64 = public_line.split()[1]
    traces = ["".join(lines)] + [line for line in lines if line not in public_base64]
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        secrets = [numbers.d, numbers.p, numbers.q]
    else:
        secrets = [key.private_numbers().private_value]
    for secret in secrets:
        raw = secret.to_bytes((secret.bit_length() + 7) // 8, "big")
        traces += [raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    return traces


def assert_nowhere(traces: list[str], text: str) -> None:
    lowered = text.lower()
    for trace in traces:
        # Hex may be written in either case. The message shows only the trace's start: a
        # failing test should not print a private key either.
        found = trace in text or (re.fullmatch("[0-9a-f]+", trace) is not None and trace in lowered)
        assert not found, f"private key material found ({trace[:8]}...)"


def ssh_keygen(*args: str) -> str:
    return subprocess.run([SSH_KEYGEN, *args], capture_output=True, text=True, check=True).stdout


def key_type_and_base64(line: str) -> tuple[str, str]:
    key_type, key_base64, *_ = line.split()
    return key_type, key_base64


def fingerprint_and_bits(fingerprint_line: str) -> tuple[str, str]:
    # "3072 SHA256:... comment (RSA)": the size and the fingerprint, not the comment.
    bits, fingerprint, *_ = fingerprint_line.split()
    return bits, fingerprint


def generate(page, *, name: str, algorithm: str):
    """Fill the name, choose the algorithm and press the button; returns the saved download."""
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_role("combobox", name="Key type").select_option(algorithm)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Generate, save the private key and import").click()
    return download_info.value


@pytest.mark.parametrize(
    ("algorithm", "key_type", "bits"),
    [("rsa-3072", "ssh-rsa", "3072"), ("ecdsa-p256", "ecdsa-sha2-nistp256", "256")],
)
def test_the_saved_private_key_is_the_one_openssh_derives_the_submitted_public_key_from(
    watched, import_page_url, browser_log, tmp_path, algorithm, key_type, bits
):
    page, events = watched
    page.goto(import_page_url)

    download = generate(page, name="laptop/work-01", algorithm=algorithm)
    expect(page.get_by_role("heading", name=RECEIVED_HEADING)).to_be_visible()

    # The file: named after the key pair ('/' cannot be in a file name), PKCS#8 PEM, 64-char lines.
    assert download.suggested_filename == "laptop_work-01.pem"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    saved.chmod(0o600)  # ssh-keygen refuses a private key others may read
    pem = saved.read_text()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert pem.endswith("\n-----END PRIVATE KEY-----\n")
    body_lines = pem.strip().splitlines()[1:-1]
    assert all(len(line) == 64 for line in body_lines[:-1])
    assert 0 < len(body_lines[-1]) <= 64

    # The form sent one POST, carrying the public key line. (That the save came first is
    # checked in the page itself, below: the browser reports downloads and requests from
    # different processes, so their order here proves nothing.)
    assert len(posts(events)) == 1
    post = posts(events)[0]
    submitted_line = parse_qs(post.post_data)["public_key"][0]
    assert submitted_line.split()[2:] == ["laptop/work-01"]  # the name is the comment
    assert page.locator("#received-public-key").inner_text() == submitted_line

    # OpenSSH reads the saved file and derives the very public key the form sent.
    derived_line = ssh_keygen("-y", "-f", str(saved)).strip()
    assert key_type_and_base64(derived_line) == key_type_and_base64(submitted_line)
    assert key_type_and_base64(submitted_line)[0] == key_type
    submitted_file = tmp_path / "submitted.pub"
    submitted_file.write_text(submitted_line + "\n")
    derived_fingerprint = fingerprint_and_bits(ssh_keygen("-l", "-f", str(saved)))
    assert derived_fingerprint == fingerprint_and_bits(ssh_keygen("-l", "-f", str(submitted_file)))
    assert derived_fingerprint[0] == bits

    # The private key is in no request the page sent (URLs and bodies, as sent and decoded),
    # and in no cookie or storage.
    traces = private_key_traces(pem, submitted_line)
    assert len(traces) >= 6
    requests = [event for kind, event in events if kind == "request"]
    assert len(requests) >= 3, "the page, its script and the form's POST"
    for request in requests:
        sent = f"{request.url}\n{request.post_data or ''}"
        assert_nowhere(traces, sent + "\n" + unquote_plus(sent))
    assert_nowhere(traces, " ".join(cookie["value"] for cookie in page.context.cookies()))
    assert page.evaluate("() => JSON.stringify([localStorage, sessionStorage])") == "[{},{}]"

    # The script ran under the portal's CSP, and nothing broke.
    assert [document.content_security_policy for document in browser_log.documents] == [CONTENT_SECURITY_POLICY] * 2
    assert browser_log.csp_violations == []
    assert browser_log.console_errors == []
    assert browser_log.page_errors == []


# Notes, in order, each download link clicked and each submit, and cancels the submit before the
# page sees it, so that the page can be inspected as it is the moment the script hands over.
# An init script: the page's CSP allows no inline one.
HOLD_THE_SUBMIT = """window.pageSteps = [];
const click = HTMLAnchorElement.prototype.click;
HTMLAnchorElement.prototype.click = function () {
    if (this.download) window.pageSteps.push("save " + this.download);
    return click.call(this);
};
window.addEventListener("submit", (event) => {
    event.preventDefault();
    window.pageSteps.push("submit");
}, true);"""

PAGE_STATE = """() => JSON.stringify({
    html: document.documentElement.outerHTML,
    values: Array.from(document.querySelectorAll("input, textarea, select")).map((element) => element.value),
    links: Array.from(document.querySelectorAll("a")).map((link) => link.href),
    storage: [Object.assign({}, localStorage), Object.assign({}, sessionStorage)],
    cookie: document.cookie,
})"""


def test_the_private_key_is_saved_before_the_submit_and_is_then_nowhere_in_the_page(watched, import_page_url, tmp_path):
    page, events = watched
    page.add_init_script(HOLD_THE_SUBMIT)
    page.goto(import_page_url)
    saved = tmp_path / "key.pem"
    generate(page, name="held", algorithm="ecdsa-p256").save_as(saved)
    expect(page.locator("#generate-status")).to_contain_text("The private key was saved as held.pem")

    expect(page.locator("#id_public_key")).not_to_have_value("")
    assert page.evaluate("window.pageSteps") == ["save held.pem", "submit"]
    public_line = page.locator("#id_public_key").input_value()
    assert public_line.startswith("ecdsa-sha2-nistp256 AAAA")
    assert_nowhere(private_key_traces(saved.read_text(), public_line), page.evaluate(PAGE_STATE))
    # No download link is left behind.
    assert page.locator("a[download]").count() == 0
    assert posts(events) == []


def test_an_empty_name_generates_nothing_and_says_why(watched, import_page_url):
    page, events = watched
    page.goto(import_page_url)

    page.get_by_role("button", name="Generate, save the private key and import").click()

    expect(page.locator("#generate-status")).to_contain_text("Fill in the form first")
    assert page.locator("#id_public_key").input_value() == ""
    assert downloads(events) == []
    assert posts(events) == []


def test_when_webcrypto_fails_nothing_is_saved_or_sent(watched, import_page_url):
    page, events = watched
    page.add_init_script("crypto.subtle.generateKey = () => Promise.reject(new Error('no entropy'));")
    page.goto(import_page_url)
    page.get_by_role("textbox", name="Name", exact=True).fill("failing")

    page.get_by_role("button", name="Generate, save the private key and import").click()

    expect(page.locator("#generate-status")).to_contain_text("Your browser could not make the key pair")
    expect(page.get_by_role("button", name="Generate, save the private key and import")).to_be_enabled()
    assert downloads(events) == []
    assert posts(events) == []


def test_without_webcrypto_the_option_says_why_and_offers_create_and_import(page, import_page_url, browser_log):
    # What a page served over plain HTTP gets: no crypto.subtle at all.
    page.add_init_script("delete Crypto.prototype.subtle;")
    page.goto(import_page_url)

    unavailable = page.locator("#generate-unavailable")
    expect(unavailable).to_be_visible()
    expect(unavailable).to_contain_text("Your browser cannot make a key pair on this page")
    expect(unavailable.get_by_role("link", name="create a key pair")).to_have_attribute("href", CREATE_URL)
    expect(unavailable).to_contain_text("import its public key above")
    expect(page.get_by_role("button", name="Generate, save the private key and import")).to_be_hidden()
    expect(page.get_by_role("combobox", name="Key type")).to_be_hidden()
    assert browser_log.page_errors == []


def test_without_javascript_the_option_says_why_and_offers_create_and_import(
    browser_context, live_server, import_page_url
):
    no_script = browser_context.browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = no_script.new_page()
        page.goto(import_page_url)
        # Playwright's text and role locators skip <noscript>; its content is found by id.
        message = page.locator("#generate-no-javascript")
        expect(message).to_be_visible()
        expect(message).to_contain_text("Generating a key pair in your browser needs JavaScript, which is off.")
        expect(message.locator("a")).to_have_text("create a key pair")
        expect(message.locator("a")).to_have_attribute("href", CREATE_URL)
        expect(page.get_by_role("button", name="Generate, save the private key and import")).to_be_hidden()
        expect(page.locator("#generate-unavailable")).to_be_hidden()
    finally:
        no_script.close()
