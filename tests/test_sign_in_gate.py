"""Nobody uses the portal without signing in, and every answer carries the security headers.

Anonymous visitors are sent to the sign-in page from every URL but the health check and
static files; the list of URLs below is checked against the URL configuration, so that a new
view cannot go untested. Every page also carries a Content-Security-Policy that forbids
inline script, and no page depends on inline script or style that the policy would block.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from keypairs.audit import Origin
from keypairs.delivery import ClaimOutcome, delivery_claim, delivery_create
from keypairs.models import Delivery, KeyPairRequest
from keypairs.views import DOWNLOAD_COOKIE

User = get_user_model()

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0t\n-----END RSA PRIVATE KEY-----\n"
)
SIGN_IN = reverse("login")
KEYPAIR_ID = uuid.UUID("6b0f1f36-54a3-4d43-9a57-3c6a3f0c8f11")

# Every named route, how to call it, and the URL to call it at.
GATED = [
    ("home", "get", "/"),
    ("keypair_list", "get", "/keypairs/"),
    ("keypair_create", "get", "/keypairs/new"),
    ("keypair_create", "post", "/keypairs/new"),
    ("keypair_detail", "get", f"/keypairs/{KEYPAIR_ID}/"),
    ("keypair_download", "post", f"/keypairs/{KEYPAIR_ID}/download"),
    ("keypair_report", "post", f"/keypairs/{KEYPAIR_ID}/report"),
    ("keypair_delete", "get", f"/keypairs/{KEYPAIR_ID}/delete"),
    ("keypair_delete", "post", f"/keypairs/{KEYPAIR_ID}/delete"),
    ("keypair_change", "get", f"/keypairs/{KEYPAIR_ID}/edit"),
    ("keypair_change", "post", f"/keypairs/{KEYPAIR_ID}/edit"),
    ("keypair_rotate", "get", f"/keypairs/{KEYPAIR_ID}/rotate"),
    ("keypair_rotate", "post", f"/keypairs/{KEYPAIR_ID}/rotate"),
    ("keypair_bind", "get", f"/keypairs/{KEYPAIR_ID}/bind/"),
    ("keypair_bind", "post", f"/keypairs/{KEYPAIR_ID}/bind/"),
    ("keypair_unbind_instance", "post", f"/keypairs/{KEYPAIR_ID}/unbind/"),
    ("keypair_import", "get", "/keypairs/import"),
    ("keypair_import", "post", "/keypairs/import"),
    ("keypair_import_preview", "post", "/keypairs/import/preview"),
    ("access_request_queue", "get", "/access/requests/"),
    ("access_request_detail", "get", f"/access/requests/{KEYPAIR_ID}/"),
    ("access_request_approve", "post", f"/access/requests/{KEYPAIR_ID}/approve"),
    ("access_request_deny", "post", f"/access/requests/{KEYPAIR_ID}/deny"),
    ("access_request_retry_bind", "post", f"/access/requests/{KEYPAIR_ID}/retry-bind"),
    ("my_access_requests", "get", "/access/my-requests/"),
    ("logout", "post", "/accounts/logout/"),
]
# The sign-in pages (portal/auth/): the OIDC ones answer 404 outside AUTH_MODE=oidc, the admin's
# sends visitors to "login", "no_access" is the refusal page (tests/test_permission_matrix.py).
# The language switch and the scripts' sentences serve the sign-in page too (portal/languages.py).
OPEN = {
    "health",
    "login",
    "no_access",
    "admin_sign_in",
    "oidc_authentication_init",
    "oidc_authentication_callback",
    "switch_language",
    "javascript-catalog",
}


def created_with_waiting_key(owner, *, public_id: uuid.UUID | None = None) -> tuple[KeyPairRequest, str]:
    """A created key pair whose private key waits for download, and its download token."""
    keypair_request = KeyPairRequest.objects.create(
        owner=owner,
        public_id=public_id or uuid.uuid4(),
        form_token_hash=uuid.uuid4().hex,
        client_token=uuid.uuid4().hex,
        region="bj",
        name="build-server",
        status=KeyPairRequest.Status.CREATED,
        keypair_id="k-y7VWq123",
    )
    _, token = delivery_create(keypair_request=keypair_request, private_key_pem=PEM)
    return keypair_request, token


@pytest.fixture
def alices(alice) -> KeyPairRequest:
    """Alice's key pair at KEYPAIR_ID, its private key waiting: the gated URLs name a real one."""
    keypair_request, _ = created_with_waiting_key(alice, public_id=KEYPAIR_ID)
    return keypair_request


def route_names(patterns=None, namespace: str = "") -> set[str]:
    """Every route name the portal serves, outside the admin."""
    names = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":
                names |= route_names(pattern.url_patterns, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)
    return names


# --- The gate ---------------------------------------------------------------------------------


def test_every_portal_url_is_in_this_file():
    assert route_names() == {name for name, _, _ in GATED} | OPEN
    for name, _, url in GATED:
        assert resolve(url).url_name == name


@pytest.mark.parametrize(("name", "method", "url"), GATED, ids=[f"{m} {u}" for _, m, u in GATED])
def test_an_anonymous_visitor_is_sent_to_sign_in(alices, name, method, url):
    response = getattr(Client(), method)(url)

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={quote(url)}"


def test_an_anonymous_download_gets_no_key_and_changes_nothing(alices):
    response = Client().post(f"/keypairs/{KEYPAIR_ID}/download")

    assert response.status_code == 302
    assert b"PRIVATE KEY" not in response.content
    assert Delivery.objects.get(request=alices).ciphertext is not None


def test_an_anonymous_create_reaches_no_bcc(db, portal_on_sandbox):
    response = Client().post(
        "/keypairs/new", {"name": "web", "description": "", "region": "bj", "form_token": "anonymous"}
    )

    assert response.status_code == 302
    assert portal_on_sandbox.request_log == []
    assert KeyPairRequest.objects.count() == 0


def test_a_missing_key_pair_and_an_existing_one_look_the_same_to_an_anonymous_visitor(alices):
    existing = Client().get(f"/keypairs/{KEYPAIR_ID}/")
    missing = Client().get(f"/keypairs/{uuid.uuid4()}/")

    assert (existing.status_code, missing.status_code) == (302, 302)
    assert existing.content == missing.content == b""


def test_the_health_check_is_open(db):
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_static_files_are_open(db):
    response = Client().get("/static/css/portal.css")

    assert response.status_code == 200


def test_the_sign_in_page_is_open(db):
    response = Client().get(SIGN_IN)

    assert response.status_code == 200


def test_the_admin_sends_anonymous_visitors_to_its_sign_in(db):
    response = Client().get("/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"


# --- Security headers ---------------------------------------------------------------------------


def csp_directives(response) -> dict[str, list[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_security_headers(response) -> None:
    csp = csp_directives(response)
    script_sources = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in script_sources
    assert "'unsafe-eval'" not in script_sources
    assert "'none'" in csp["object-src"]
    assert "'none'" in csp["frame-ancestors"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in [value.strip() for value in response["Cache-Control"].split(",")]
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


@pytest.fixture
def pages(alice_client, alices):
    """One response of each kind Alice meets: pages, redirects, refusals, errors and the download."""
    detail = f"/keypairs/{KEYPAIR_ID}/"
    return {
        "home": alice_client.get("/"),
        "list": alice_client.get("/keypairs/"),
        "create form": alice_client.get("/keypairs/new"),
        "refused create form": alice_client.post("/keypairs/new", {"name": " web", "region": "bj"}),
        "detail, no cookie": alice_client.get(detail),
        "download refused": alice_client.post(f"{detail}download"),
        "not found": alice_client.get(f"/keypairs/{uuid.uuid4()}/"),
        "method not allowed": alice_client.get(f"{detail}download"),
        "anonymous sign-in page": Client().get(SIGN_IN),
        "anonymous redirect": Client().get("/keypairs/"),
    }


def test_every_answer_carries_the_security_headers(pages):
    for name, response in pages.items():
        try:
            assert_security_headers(response)
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from failure


def test_the_download_carries_the_security_headers_too(alice, alice_client):
    keypair_request, token = created_with_waiting_key(alice)
    alice_client.cookies[DOWNLOAD_COOKIE] = token

    response = alice_client.post(f"/keypairs/{keypair_request.public_id}/download")

    assert response.status_code == 200
    assert_security_headers(response)


def test_each_request_gets_its_own_id_and_a_client_cannot_choose_it(alice_client):
    first = alice_client.get("/", HTTP_X_REQUEST_ID="chosen-by-the-client")
    second = alice_client.get("/")

    assert first["X-Request-ID"] != "chosen-by-the-client"
    assert first["X-Request-ID"] != second["X-Request-ID"]


_INLINE = [
    (r"<script(?![^>]*\bsrc=)[^>]*>", "an inline <script>"),
    (r"<[a-z][^>]*\son[a-z]+\s*=", "an inline event handler"),
    (r"<[a-z][^>]*\sstyle\s*=", "a style attribute"),
    (r"<style[\s>]", "a <style> element"),
    (r"javascript:", "a javascript: URL"),
]


def test_no_page_needs_what_the_policy_forbids(pages, alice, alice_client):
    downloaded, token = created_with_waiting_key(alice)
    outcome = delivery_claim(
        delivery_public_id=downloaded.public_id, user=alice, token=token, origin=Origin(source_ip="127.0.0.1")
    ).outcome
    assert outcome is ClaimOutcome.DOWNLOADED
    alice_client.cookies[DOWNLOAD_COOKIE] = "any value: the page then renders the download form"
    pages = {
        **pages,
        "detail with the download form": alice_client.get(f"/keypairs/{KEYPAIR_ID}/"),
        "detail with the report button": alice_client.get(f"/keypairs/{downloaded.public_id}/"),
    }
    assert b'id="download-button"' in pages["detail with the download form"].content
    assert b'id="report-button"' in pages["detail with the report button"].content

    for name, response in pages.items():
        page = response.content.decode()
        for pattern, what in _INLINE:
            assert not re.search(pattern, page, re.IGNORECASE), f"{name} has {what}"
