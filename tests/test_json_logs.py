"""Structured logs, as an operator reads them: one JSON object per line, and one create followed
from the browser's X-Request-ID to BCC's request id, with no secret on any line.

- The formatter (portal/logging.py), on records logged through the logging module.
- A create through the portal, logged by the formatter and filter settings.py configures.
- The settings: JSON by default without DEBUG, plain text with it, LOG_FORMAT to choose.
- gunicorn's own lines, from a real gunicorn with portal/gunicorn.conf.py.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings

from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.views import DOWNLOAD_COOKIE
from portal.logging import (
    PRIVATE_KEY_REMOVED,
    SECRET_REMOVED,
    JsonFormatter,
    PlainFormatter,
    RequestIdFilter,
    bind_request_id,
    unbind_request_id,
)
from tests.gunicorn_portal import ROOT, GunicornPortal, PortalBrowser, migrate, production_environment

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----"
)
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


class Captured:
    """The lines a handler configured like settings.py's console handler wrote."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter)
        self.handler.addFilter(RequestIdFilter())

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def objects(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def json_lines():
    """Every record of every logger, at DEBUG, as the JSON formatter writes it."""
    captured = Captured(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(captured.handler)
    root.setLevel(logging.DEBUG)
    yield captured
    root.removeHandler(captured.handler)
    root.setLevel(level)


@pytest.fixture
def logger():
    return logging.getLogger("tests.json_logs")


# --- The formatter ---------------------------------------------------------------------------


def test_each_record_is_one_json_object_on_one_line_whatever_its_message_holds(json_lines, logger):
    # A name typed by a user: line breaks of every kind, and a bidi override that would make a
    # raw line read backwards.
    name = "web\nfake line\r\u2028\u2029\x85\u202edrow-ssap"

    logger.warning("Creating key pair %s", name)

    (line,) = json_lines.lines
    assert line.isascii()
    entry = json.loads(line)
    assert entry["message"] == f"Creating key pair {name}"
    assert (entry["level"], entry["logger"]) == ("WARNING", "tests.json_logs")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert "request_id" not in entry  # logged outside any request


def test_a_traceback_stays_on_its_line(json_lines, logger):
    try:
        raise ValueError("the database said no")
    except ValueError:
        logger.exception("Could not store the delivery")

    (line,) = json_lines.lines
    entry = json.loads(line)
    assert entry["message"] == "Could not store the delivery"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: the database said no")


def test_bcc_fields_and_the_status_code_are_kept_and_nothing_else_a_record_carries(json_lines, logger):
    class Request:
        def __init__(self) -> None:
            self.COOKIES = {"sessionid": "abcdef", DOWNLOAD_COOKIE: "token"}

    logger.info(
        "BCC create_keypair",
        extra={"bcc_operation": "create_keypair", "bcc_request_id": "b-1", "bcc_status": 200, "status_code": 201},
    )
    logger.warning("Not Found: /x", extra={"request": Request(), "status_code": 404, "user_agent": "curl"})

    bcc, django_like = json_lines.objects()
    assert bcc == {
        "time": bcc["time"],
        "level": "INFO",
        "logger": "tests.json_logs",
        "message": "BCC create_keypair",
        "bcc_operation": "create_keypair",
        "bcc_request_id": "b-1",
        "bcc_status": 200,
        "status_code": 201,
    }
    assert set(django_like) == {"time", "level", "logger", "message", "status_code"}


def test_a_line_logged_while_a_request_is_served_carries_its_id(json_lines, logger):
    bound = bind_request_id("5f0c1d2e3a4b")
    try:
        logger.info("inside")
    finally:
        unbind_request_id(bound)
    logger.info("outside")

    inside, outside = json_lines.objects()
    assert inside["request_id"] == "5f0c1d2e3a4b"
    assert "request_id" not in outside


def test_a_private_key_and_the_configured_secrets_never_reach_a_line(json_lines, logger, settings):
    settings.BCC_SECRET_ACCESS_KEY = "bcc-secret-0123456789abcdef"
    try:
        raise RuntimeError(f"signing with {settings.BCC_SECRET_ACCESS_KEY} failed")
    except RuntimeError:
        logger.exception("BCC answered %s; key %s; django %s", PEM, settings.BCC_SECRET_ACCESS_KEY, settings.SECRET_KEY)

    (line,) = json_lines.lines
    entry = json.loads(line)
    assert "PRIVATE KEY" not in line
    assert "MIIEowIBAAKCAQEA" not in line
    assert settings.BCC_SECRET_ACCESS_KEY not in line
    assert settings.SECRET_KEY not in line
    assert entry["message"] == f"BCC answered {PRIVATE_KEY_REMOVED}; key {SECRET_REMOVED}; django {SECRET_REMOVED}"
    assert f"signing with {SECRET_REMOVED} failed" in entry["exception"]


def test_the_plain_format_shows_the_request_id_too():
    captured = Captured(PlainFormatter())
    plain = logging.getLogger("tests.json_logs.plain")
    plain.addHandler(captured.handler)
    plain.setLevel(logging.INFO)
    plain.propagate = False
    try:
        bound = bind_request_id("77aa")
        try:
            plain.info("inside %s", PEM)
        finally:
            unbind_request_id(bound)
        plain.info("outside")
    finally:
        plain.removeHandler(captured.handler)
        plain.propagate = True

    inside, outside = captured.lines
    assert inside.endswith(f" INFO tests.json_logs.plain [77aa] inside {PRIVATE_KEY_REMOVED}")
    assert outside.endswith(" INFO tests.json_logs.plain [-] outside")


# --- One create, followed from the browser to BCC ----------------------------------------------


def test_one_create_can_be_followed_from_the_browser_to_bcc_and_no_line_holds_a_secret(
    json_lines, alice_client, portal_on_sandbox
):
    form = alice_client.get("/keypairs/new")
    created = alice_client.post(
        "/keypairs/new",
        {"name": "traced-key", "description": "", "region": "gz", "form_token": FORM_TOKEN.search(form.text).group(1)},
    )
    token = created.cookies[DOWNLOAD_COOKIE].value
    downloaded = alice_client.post(created["Location"] + "download")
    assert (created.status_code, downloaded.status_code) == (302, 200)

    browser_request_id = created["X-Request-ID"]
    entries = json_lines.objects()  # every line is JSON, or this fails
    bcc_lines = [entry for entry in entries if entry["logger"] == "keypairs.bcc"]
    (create_line,) = [entry for entry in bcc_lines if entry.get("bcc_operation") == "create_keypair"]
    keypair_request = KeyPairRequest.objects.get(name="traced-key")
    created_row = AuditEvent.objects.get(action="created")
    assert create_line["request_id"] == browser_request_id
    assert create_line["bcc_request_id"] == keypair_request.bcc_request_id != ""
    assert create_line["bcc_region"] == "gz"
    assert create_line["bcc_status"] == 200
    assert (created_row.portal_request_id, created_row.bcc_request_id) == (
        browser_request_id,
        keypair_request.bcc_request_id,
    )
    # The create's request made one BCC call; the download's request makes none.
    assert [entry for entry in bcc_lines if entry.get("request_id") == browser_request_id] == [create_line]
    assert not [entry for entry in bcc_lines if entry.get("request_id") == downloaded["X-Request-ID"]]

    everything = "\n".join(json_lines.lines)
    private_key_body = "".join(downloaded.content.decode().splitlines()[1:-1])
    for secret in (token, settings.BCC_SECRET_ACCESS_KEY, settings.SECRET_KEY, settings.AUDIT_HMAC_KEY):
        assert secret not in everything
    assert "PRIVATE KEY" not in everything
    for piece in downloaded.content.decode().splitlines()[1:-1]:
        assert piece not in everything
    assert private_key_body not in everything.replace("\\n", "")


def test_the_quota_lookups_of_the_form_page_carry_the_pages_request_id(json_lines, alice_client, portal_on_sandbox):
    form = alice_client.get("/keypairs/new")

    assert form.status_code == 200
    listings = [
        entry
        for entry in json_lines.objects()
        if entry["logger"] == "keypairs.bcc" and entry.get("bcc_operation") == "list_keypairs"
    ]
    # One lookup per offered region, each made in a worker thread of the page's request.
    assert len(listings) == len(settings.BCC_REGIONS)
    assert {entry.get("request_id") for entry in listings} == {form["X-Request-ID"]}


# --- The settings --------------------------------------------------------------------------------

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
LOG_ONE_LINE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('keypairs.services').warning('Could not store the delivery of %s', 'k-1')"
)


def log_one_line(**environment: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in PRODUCTION and not key.startswith("LOG_")}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", LOG_ONE_LINE],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_logs_json_lines_by_default():
    result = log_one_line(**PRODUCTION)

    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "WARNING",
        "keypairs.services",
        "Could not store the delivery of k-1",
    )


def test_development_logs_plain_text_and_log_format_overrides_either_default():
    development = log_one_line(DEBUG="true")
    plain_production = log_one_line(**PRODUCTION, LOG_FORMAT="plain")
    json_development = log_one_line(DEBUG="true", LOG_FORMAT="json")

    assert development.stderr.rstrip().endswith("WARNING keypairs.services [-] Could not store the delivery of k-1")
    assert plain_production.stderr.rstrip().endswith("[-] Could not store the delivery of k-1")
    assert json.loads(json_development.stderr)["message"] == "Could not store the delivery of k-1"


def test_an_unknown_log_format_stops_the_start_and_says_which_are_known():
    result = log_one_line(DEBUG="true", LOG_FORMAT="xml")

    assert result.returncode != 0
    assert "LOG_FORMAT must be one of json or plain, not 'xml'." in result.stderr


# --- gunicorn's own lines -------------------------------------------------------------------------


def test_gunicorns_lines_are_json_and_its_access_lines_carry_the_request_id_but_never_a_query(tmp_path, sandbox):
    environment = production_environment(
        database_url=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        sandbox=sandbox,
        secret_key=settings.SECRET_KEY,
        audit_hmac_key=settings.AUDIT_HMAC_KEY,
    )
    migrate(environment)
    portal = GunicornPortal.start(environment, workers=1, threads=1)
    try:
        visitor = PortalBrowser(session_key="none")
        health = visitor.get(portal.url + "healthz?token=query-secret-1")
        private = visitor.get(portal.url + "keypairs/?download=query-secret-2")
    finally:
        portal.stop()

    assert (health.status_code, private.status_code) == (200, 302)
    entries = [json.loads(line) for line in portal.lines]  # every line is JSON, or this fails
    access = [entry for entry in entries if entry["logger"] == "gunicorn.access"]
    by_path = {entry["http_path"]: entry for entry in access}
    assert by_path["/healthz"]["request_id"] == health.headers["X-Request-ID"]
    assert by_path["/keypairs/"]["request_id"] == private.headers["X-Request-ID"]
    assert (by_path["/keypairs/"]["http_method"], by_path["/keypairs/"]["http_status"]) == ("GET", 302)
    assert "query-secret" not in portal.output()
    assert any(entry["message"].startswith("Booting worker") for entry in entries)
