"""With DEBUG off the portal has no development defaults: a missing secret stops the start.

Settings are read once per process, so each case starts a fresh interpreter with a chosen
environment and asks Django to check itself.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "portal.example.com",
    "AUDIT_HMAC_KEY": "y" * 40,
    "DOWNLOAD_TOKEN_KEY": "z" * 40,
    "BCC_ACCESS_KEY_ID": "a" * 32,
    "BCC_SECRET_ACCESS_KEY": "b" * 32,
    # Production signs in through SSO: local accounts are refused with DEBUG off.
    "AUTH_MODE": "oidc",
    "OIDC_ISSUER": "https://login.example.com",
    "OIDC_RP_CLIENT_ID": "bcc-keypair-portal",
    "OIDC_RP_CLIENT_SECRET": "c" * 32,
}


def run_check(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in PRODUCTION and key != "DATABASE_URL"}
    clean["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_starts_when_every_production_setting_is_given():
    result = run_check(PRODUCTION)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "missing",
    [
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "AUDIT_HMAC_KEY",
        "DOWNLOAD_TOKEN_KEY",
        "BCC_ACCESS_KEY_ID",
        "BCC_SECRET_ACCESS_KEY",
    ],
)
def test_it_refuses_to_start_without_a_production_secret_and_names_it(missing):
    result = run_check({key: value for key, value in PRODUCTION.items() if key != missing})
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr


def test_debug_is_off_unless_asked_for():
    environment = {key: value for key, value in PRODUCTION.items() if key != "DEBUG"}
    result = run_check({key: value for key, value in environment.items() if key != "SECRET_KEY"})
    assert "SECRET_KEY is not set" in result.stderr


def test_the_secret_values_are_not_echoed_in_the_error():
    result = run_check({key: value for key, value in PRODUCTION.items() if key != "BCC_SECRET_ACCESS_KEY"})
    assert "a" * 32 not in result.stderr
    assert PRODUCTION["SECRET_KEY"] not in result.stderr


def test_check_deploy_passes_with_production_settings():
    result = run_check({**PRODUCTION, "SECURE_PROXY_SSL_HEADER": "true"}, "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("value", "starts"), [("1000", True), ("1001", False), ("-1", False)], ids=["at-most", "too-many", "negative"]
)
def test_the_rate_limit_is_bounded(value, starts):
    # Each create the limit allows is a cache key every create looks at: a huge limit would
    # make each create read that many keys, so the settings refuse it by name.
    result = run_check({**PRODUCTION, "KEYPAIR_CREATE_RATE_LIMIT": value})
    assert (result.returncode == 0) is starts, result.stderr
    if not starts:
        assert "KEYPAIR_CREATE_RATE_LIMIT" in result.stderr


@pytest.mark.parametrize(
    ("value", "starts"), [("30", True), ("31", False), ("0", False)], ids=["at-most", "too-long", "zero"]
)
def test_the_bcc_state_cache_is_at_most_thirty_seconds(value, starts):
    # "My key pairs" shows BCC's state as current: the issue bounds how old it may be.
    result = run_check({**PRODUCTION, "KEYPAIR_BCC_STATE_CACHE_SECONDS": value})
    assert (result.returncode == 0) is starts, result.stderr
    if not starts:
        assert f"KEYPAIR_BCC_STATE_CACHE_SECONDS must be between 1 and 30 seconds, not {value}." in result.stderr


PROXY_PRODUCTION = {
    **PRODUCTION,
    "AUTH_MODE": "proxy",
    "PROXY_JWT_ISSUER": "https://proxy.example.com",
    "PROXY_JWT_AUDIENCE": "bcc-keypair-portal",
    "PROXY_JWKS_URL": "https://proxy.example.com/.well-known/jwks.json",
}


@pytest.mark.parametrize(
    ("environment", "name"),
    [
        ({**PRODUCTION, "OIDC_ISSUER": "http://login.example.com"}, "OIDC_ISSUER"),
        (
            {**PRODUCTION, "OIDC_OP_AUTHORIZATION_ENDPOINT": "http://login.example.com/a"},
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
        ),
        ({**PRODUCTION, "OIDC_OP_TOKEN_ENDPOINT": "http://login.example.com/t"}, "OIDC_OP_TOKEN_ENDPOINT"),
        ({**PRODUCTION, "OIDC_OP_USER_ENDPOINT": "http://login.example.com/u"}, "OIDC_OP_USER_ENDPOINT"),
        ({**PRODUCTION, "OIDC_OP_JWKS_ENDPOINT": "http://login.example.com/k"}, "OIDC_OP_JWKS_ENDPOINT"),
        ({**PROXY_PRODUCTION, "PROXY_JWKS_URL": "http://proxy.example.com/jwks"}, "PROXY_JWKS_URL"),
    ],
    ids=["issuer", "authorization", "token", "userinfo", "oidc-jwks", "proxy-jwks"],
)
def test_an_identity_endpoint_over_plain_http_stops_the_start_and_is_named(environment, name):
    result = run_check(environment)

    assert result.returncode != 0
    assert f"{name} must be an https:// URL when DEBUG is off" in result.stderr


def test_https_identity_endpoints_start_in_proxy_mode():
    result = run_check(PROXY_PRODUCTION)

    assert result.returncode == 0, result.stderr


def test_plain_http_identity_endpoints_are_allowed_with_debug_on():
    result = run_check(
        {
            "DEBUG": "true",
            "AUTH_MODE": "proxy",
            **{k: v for k, v in PROXY_PRODUCTION.items() if k.startswith("PROXY_")},
            "PROXY_JWKS_URL": "http://127.0.0.1:9/jwks",
        }
    )

    assert result.returncode == 0, result.stderr


def test_a_short_download_token_key_is_refused_and_named_without_echoing_it():
    result = run_check({**PRODUCTION, "DOWNLOAD_TOKEN_KEY": "short-key-1234"})
    assert result.returncode != 0
    assert "DOWNLOAD_TOKEN_KEY must be at least 32 characters" in result.stderr
    assert "short-key-1234" not in result.stderr
