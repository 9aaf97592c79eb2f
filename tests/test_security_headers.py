"""Security headers on every kind of response the portal gives, with the production settings.

Every response, whatever produced it (a page, a redirect, an error page, a refusal, the
private key download, the health check, the admin, a static file, the redirect to HTTPS),
must carry:

- a Content-Security-Policy whose scripts come only from the portal's own files: no
  ``'unsafe-inline'``, no ``'unsafe-eval'``, no other origin, nothing framing the portal;
- ``Strict-Transport-Security`` on HTTPS, with the lifetime production uses;
- ``X-Frame-Options: DENY`` and ``X-Content-Type-Options: nosniff``;
- a strict ``Referrer-Policy`` (the portal's URLs never leave it);
- an ``X-Request-ID``.

The production settings' values are read from a fresh interpreter started with DEBUG off,
and applied to the test settings; the client says ``secure=True``, as the load balancer's
``X-Forwarded-Proto: https`` would make every production request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
SECURITY_SETTINGS = [
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "X_FRAME_OPTIONS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "s" * 50,
    "ALLOWED_HOSTS": "portal.example.com",
    "AUDIT_HMAC_KEY": "y" * 40,
    "DOWNLOAD_TOKEN_KEY": "z" * 40,
    "BCC_ACCESS_KEY_ID": "a" * 32,
    "BCC_SECRET_ACCESS_KEY": "b" * 32,
    "ALLOW_LOCAL_AUTH_IN_PRODUCTION": "true",
}
READ_SETTINGS = (
    "import json, django; from django.conf import settings; django.setup(); "
    f"print(json.dumps({{name: getattr(settings, name) for name in {SECURITY_SETTINGS!r}}}))"
)
STRICT_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin"}


@pytest.fixture(scope="module")
def production_values() -> dict:
    clean = {key: value for key, value in os.environ.items() if key not in PRODUCTION and key != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        cwd=ROOT,
        env={**clean, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def production_security(settings, production_values):
    for name, value in production_values.items():
        setattr(settings, name, value)
    return production_values


def assert_security_headers(response, *, production_values: dict, https: bool = True) -> None:
    headers = response.headers
    policy = _directives(headers["Content-Security-Policy"])
    script_sources = policy.get("script-src", policy.get("default-src"))
    assert script_sources == ["'self'"], headers["Content-Security-Policy"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in source for sources in policy.values() for source in sources)
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in STRICT_REFERRER_POLICIES
    assert headers["X-Request-ID"]
    if https:
        assert headers["Strict-Transport-Security"] == (
            f"max-age={production_values['SECURE_HSTS_SECONDS']}; includeSubDomains; preload"
        )
    else:
        assert "Strict-Transport-Security" not in headers  # browsers ignore it over HTTP


def _directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for directive in filter(None, (part.strip() for part in header.split(";"))):
        name, *sources = directive.split()
        directives[name] = sources
    return directives


def test_production_turns_on_a_year_of_hsts_with_subdomains_and_preload(production_values):
    assert production_values["SECURE_HSTS_SECONDS"] >= 31536000
    assert production_values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert production_values["SECURE_HSTS_PRELOAD"] is True
    assert production_values["SECURE_SSL_REDIRECT"] is True
    assert production_values["SESSION_COOKIE_SECURE"] is True
    assert production_values["CSRF_COOKIE_SECURE"] is True


def test_a_page(alice_client, production_security):
    response = alice_client.get("/keypairs/", secure=True)

    assert response.status_code == 200
    assert_security_headers(response, production_values=production_security)
    assert "no-store" in response["Cache-Control"]


def test_the_redirect_to_sign_in(db, production_security):
    response = Client().get("/keypairs/", secure=True)

    assert response.status_code == 302
    assert_security_headers(response, production_values=production_security)


def test_the_sign_in_page(db, production_security):
    response = Client().get("/accounts/login/", secure=True)

    assert response.status_code == 200
    assert_security_headers(response, production_values=production_security)


def test_the_admin_sign_in(db, production_security):
    response = Client().get("/admin/login/", secure=True)

    assert response.status_code in (200, 302)
    assert_security_headers(response, production_values=production_security)


def test_a_not_found_page(alice_client, production_security):
    response = alice_client.get(f"/keypairs/{uuid.uuid4()}/", secure=True)

    assert response.status_code == 404
    assert_security_headers(response, production_values=production_security)


def test_a_method_not_allowed(alice_client, production_security):
    response = alice_client.get(f"/keypairs/{uuid.uuid4()}/download", secure=True)

    assert response.status_code == 405
    assert_security_headers(response, production_values=production_security)


def test_a_refusal_to_someone_without_the_developer_role(db, production_security):
    charlie = get_user_model().objects.create_user(username="charlie")
    client = Client()
    client.force_login(charlie)

    response = client.get("/keypairs/new", secure=True)

    assert response.status_code == 403
    assert_security_headers(response, production_values=production_security)


def test_a_csrf_failure(alice, production_security):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post("/keypairs/new", {"name": "x"}, secure=True)

    assert response.status_code == 403
    assert_security_headers(response, production_values=production_security)


def test_a_server_error(alice, production_security, monkeypatch):
    from keypairs import views

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.selectors, "keypair_requests_of", broken)
    client = Client(raise_request_exception=False)
    client.force_login(alice)

    response = client.get("/keypairs/", secure=True)

    assert response.status_code == 500
    assert_security_headers(response, production_values=production_security)
    assert "a bug" not in response.content.decode()


def test_the_private_key_download_and_the_refused_second_download(alice_client, portal_on_sandbox, production_security):
    form = alice_client.get("/keypairs/new", secure=True)
    form_token = form.content.decode().split('name="form_token" value="', 1)[1].split('"', 1)[0]
    created = alice_client.post(
        "/keypairs/new",
        {"name": "headers-key", "description": "", "region": "bj", "form_token": form_token},
        secure=True,
    )
    assert created.status_code == 302
    assert_security_headers(created, production_values=production_security)

    download = alice_client.post(created["Location"] + "download", secure=True)
    second = alice_client.post(created["Location"] + "download", secure=True)

    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="headers-key.pem"'
    assert download["Cache-Control"] == "no-store"
    assert_security_headers(download, production_values=production_security)
    assert second.status_code == 410
    assert_security_headers(second, production_values=production_security)


def test_the_health_check(db, production_security):
    response = Client().get("/healthz", secure=True)

    assert response.status_code == 200
    assert_security_headers(response, production_values=production_security)


def test_the_health_check_over_plain_http_is_answered_not_redirected(db, production_security):
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert_security_headers(response, production_values=production_security, https=False)


def test_the_redirect_from_http_to_https(db, production_security):
    response = Client().get("/keypairs/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/keypairs/"
    assert_security_headers(response, production_values=production_security, https=False)


def test_a_static_file(db, production_security):
    response = Client().get("/static/css/portal.css", secure=True)

    assert response.status_code == 200
    assert_security_headers(response, production_values=production_security)
