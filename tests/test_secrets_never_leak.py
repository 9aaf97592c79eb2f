"""No secret outlives its purpose: not in a log, not in the database, not in a URL, not in a page.

The secrets: each private key the portal receives from BCC, each download token it hands to
a browser, and the BCC secret access key. After each flow a user can go through (a create
and its download, failures, expiry, reconciliation of a create with no answer, and an answer
that comes after reconciliation took the create over) this file searches:

- every log record of every logger at DEBUG, including Django's own and every SQL statement
  with its parameters;
- every row of every table in the database (sessions decoded), and the audit rows' text;
- every response: its headers (the one Set-Cookie that delivers a token excepted), its
  Location, and its body (the one download excepted, which must hold the private key).

The private keys are read where the portal receives them, by spies that call the real
functions: BCC's answer to a create (``BccClient.create_keypair``), and what the service passes
to ``delivery_create``. An expired key is never downloaded, and a key that came too late is never
stored, so this is the only way to know what to look for.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from keypairs import messages, ppk
from keypairs.bcc.client import BccClient
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.reconcile import reconcile_open
from keypairs.services import create as create_service
from keypairs.views import DOWNLOAD_COOKIE

User = get_user_model()

CREATE_URL = reverse("keypair_create")
AUDIT_TEXT_FIELDS = [
    f.name for f in AuditEvent._meta.get_fields() if f.get_internal_type() in {"CharField", "TextField"}
]
# Lines of a PEM body shorter than this (its last one can be a few characters) could match by chance.
SHORTEST_DISTINCTIVE_LINE = 16


@dataclass
class Secrets:
    """What must never leak, as text and as bytes, and every response the flow produced.

    Kept out of ``repr()``, so that a failing assertion does not print the secrets it found.
    """

    texts: dict[str, str] = field(default_factory=dict, repr=False)
    binaries: dict[str, bytes] = field(default_factory=dict, repr=False)
    responses: list = field(default_factory=list, repr=False)
    download_response: object = field(default=None, repr=False)

    def add_private_key(self, pem: str) -> None:
        if pem in self.texts.values():
            return  # seen by both spies
        number = len([name for name in self.texts if name.startswith("private key")]) + 1
        self.texts[f"private key {number}"] = pem
        body = [line for line in pem.strip().splitlines() if not line.startswith("-----")]
        for index, line in enumerate(body):
            if len(line) >= SHORTEST_DISTINCTIVE_LINE:
                self.texts[f"private key {number}, line {index + 1}"] = line
        self.texts[f"private key {number}, body"] = "".join(body)
        der = base64.b64decode("".join(body))
        self.binaries[f"private key {number}, DER"] = der
        self.binaries[f"private key {number}, DER middle"] = der[len(der) // 2 : len(der) // 2 + 32]

    def add_download_token(self, token: str) -> None:
        number = len([name for name in self.texts if name.startswith("download token")]) + 1
        self.texts[f"download token {number}"] = token
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        self.binaries[f"download token {number}, bytes"] = raw
        self.texts[f"download token {number}, hex"] = raw.hex()

    def tokens(self) -> list[str]:
        return [value for name, value in self.texts.items() if re.fullmatch(r"download token \d+", name)]


@pytest.fixture
def every_log_record(caplog):
    """Every record of every logger at DEBUG, SQL statements and their parameters included."""
    django_logger = logging.getLogger("django")  # it does not propagate to the root logger
    saved_level = django_logger.level
    django_logger.addHandler(caplog.handler)
    django_logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = False
    django_logger.setLevel(saved_level)
    django_logger.removeHandler(caplog.handler)


@pytest.fixture
def secrets(portal_on_sandbox, monkeypatch, every_log_record) -> Secrets:
    found = Secrets()
    found.texts["BCC secret access key"] = portal_on_sandbox.secret_access_key
    real_delivery_create = create_service.delivery_create

    def delivery_create_spy(*, keypair_request, private_key_pem, **kwargs):
        found.add_private_key(private_key_pem)
        return real_delivery_create(keypair_request=keypair_request, private_key_pem=private_key_pem, **kwargs)

    monkeypatch.setattr(create_service, "delivery_create", delivery_create_spy)
    real_create_keypair = BccClient.create_keypair

    def create_keypair_spy(self, **kwargs):
        keypair = real_create_keypair(self, **kwargs)
        if keypair.private_key:
            found.add_private_key(keypair.private_key)
        return keypair

    monkeypatch.setattr(BccClient, "create_keypair", create_keypair_spy)
    return found


def visit(secrets: Secrets, response):
    secrets.responses.append(response)
    if DOWNLOAD_COOKIE in response.cookies and response.cookies[DOWNLOAD_COOKIE].value:
        secrets.add_download_token(response.cookies[DOWNLOAD_COOKIE].value)
    return response


def create(client: Client, secrets: Secrets, name: str = "build-server"):
    form = visit(secrets, client.get(CREATE_URL))
    form_token = re.search(r'name="form_token" value="([^"]*)"', form.content.decode()).group(1)
    data = {"name": name, "description": "", "region": "bj", "form_token": form_token}
    return visit(secrets, client.post(CREATE_URL, data))


# --- Where secrets must not be --------------------------------------------------------------


def assert_nothing_leaked(secrets: Secrets, caplog) -> None:
    assert secrets.texts, "the flow handled no secret: the search below would prove nothing"
    _assert_not_in_logs(secrets, caplog)
    _assert_not_in_database(secrets)
    _assert_not_in_responses(secrets)


def _assert_not_in_logs(secrets: Secrets, caplog) -> None:
    assert caplog.records, "no log record was captured"
    logged = [caplog.text] + [repr(vars(record)) for record in caplog.records]
    for name, value in secrets.texts.items():
        assert not any(value in text for text in logged), f"the {name} is in the logs"


def _assert_not_in_database(secrets: Secrets) -> None:
    texts, binaries = _every_value_in_the_database()
    texts += [str(session.get_decoded()) for session in Session.objects.all()]
    for name, value in secrets.texts.items():
        assert not any(value in text for text in texts), f"the {name} is in the database"
    for name, value in secrets.binaries.items():
        assert not any(value in binary for binary in binaries), f"the {name} is in the database"
    for event in AuditEvent.objects.all():
        for field_name in AUDIT_TEXT_FIELDS:
            text = getattr(event, field_name)
            assert not any(value in text for value in secrets.texts.values()), f"a secret is in audit {field_name}"


def _every_value_in_the_database() -> tuple[list[str], list[bytes]]:
    texts, binaries = [], []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - table names from the schema
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview | bytearray):
                        binaries.append(bytes(value))
                    elif value is not None:
                        texts.append(str(value))
    assert texts, "the database dump is empty"
    return texts, binaries


def _assert_not_in_responses(secrets: Secrets) -> None:
    for response in secrets.responses:
        headers = [f"{name}: {value}" for name, value in response.headers.items()]
        for name, value in secrets.texts.items():
            assert not any(value in header for header in headers), f"the {name} is in a response header"
            if response is not secrets.download_response:
                assert value not in response.content.decode(errors="replace"), f"the {name} is in a page"
        cookies = [morsel for key, morsel in response.cookies.items() if key != DOWNLOAD_COOKIE]
        for morsel in cookies:
            assert not any(value in morsel.OutputString() for value in secrets.texts.values())
    for token in secrets.tokens():
        for response in secrets.responses:
            assert token not in response.get("Location", ""), "a download token is in a URL"


# --- Flows ------------------------------------------------------------------------------------


def test_a_create_and_its_download_leak_nothing(alice_client, secrets, every_log_record):
    created = create(alice_client, secrets)
    detail = created["Location"]
    visit(secrets, alice_client.get(detail))
    secrets.download_response = visit(secrets, alice_client.post(f"{detail}download"))
    visit(secrets, alice_client.post(f"{detail}download"))
    visit(secrets, alice_client.post(f"{detail}report"))
    visit(secrets, alice_client.get(detail))
    visit(secrets, alice_client.get(reverse("keypair_list")))

    assert secrets.download_response.status_code == 200
    assert secrets.download_response.content.decode() == secrets.texts["private key 1"]
    assert len(secrets.tokens()) == 1
    assert_nothing_leaked(secrets, every_log_record)


def test_a_double_submit_leaks_nothing(alice_client, secrets, every_log_record):
    form = visit(secrets, alice_client.get(CREATE_URL))
    form_token = re.search(r'name="form_token" value="([^"]*)"', form.content.decode()).group(1)
    data = {"name": "web", "description": "", "region": "bj", "form_token": form_token}
    first = visit(secrets, alice_client.post(CREATE_URL, data))
    second = visit(secrets, alice_client.post(CREATE_URL, data))
    visit(secrets, alice_client.get(second["Location"]))

    assert first["Location"] == second["Location"]
    assert_nothing_leaked(secrets, every_log_record)


def test_a_key_that_expires_unread_leaks_nothing(alice_client, secrets, every_log_record):
    tried = create(alice_client, secrets, name="tried-late")
    create(alice_client, secrets, name="forgotten")
    Delivery.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    refused = visit(secrets, alice_client.post(f"{tried['Location']}download"))
    call_command("purge_deliveries", stdout=io.StringIO())
    visit(secrets, alice_client.get(reverse("keypair_list")))

    assert refused.status_code == 410
    assert not Delivery.objects.filter(ciphertext__isnull=False).exists()
    assert len(secrets.tokens()) == 2
    assert_nothing_leaked(secrets, every_log_record)


def test_a_private_key_the_database_cannot_store_leaks_nothing(
    alice_client, secrets, every_log_record, monkeypatch, portal_on_sandbox
):
    spy = create_service.delivery_create

    def store_fails(**kwargs):
        spy(**kwargs)  # records the private key the service was given
        raise DatabaseError("could not write the delivery")

    monkeypatch.setattr(create_service, "delivery_create", store_fails)

    response = create(alice_client, secrets)

    assert response.status_code == 500
    assert portal_on_sandbox.keypairs() == []
    assert_nothing_leaked(secrets, every_log_record)


@pytest.mark.parametrize("setting", ["BCC_ACCESS_KEY_ID", "BCC_SECRET_ACCESS_KEY"])
def test_wrong_credentials_leak_no_secret_key(alice_client, secrets, every_log_record, settings, setting):
    wrong = "wrong-1f0c9e7d4b2a6c8e"
    setattr(settings, setting, wrong)
    if setting == "BCC_SECRET_ACCESS_KEY":
        secrets.texts["configured secret access key"] = wrong

    response = create(alice_client, secrets)

    assert response.status_code == 502
    assert KeyPairRequest.objects.get().status == KeyPairRequest.Status.FAILED
    assert_nothing_leaked(secrets, every_log_record)


def test_reconciled_creates_leak_nothing(alice_client, secrets, every_log_record, portal_on_sandbox, settings):
    settings.BCC_READ_TIMEOUT = 1.0
    # One create BCC made and never answered (deleted at once), one it made late (deleted by cron).
    portal_on_sandbox.inject("commit_then_drop", operation="create")
    at_once = create(alice_client, secrets, name="dropped")
    portal_on_sandbox.inject("latency", operation="create", seconds=1.5)
    late = create(alice_client, secrets, name="slow")
    deadline = time.monotonic() + 10
    while not portal_on_sandbox.keypairs() and time.monotonic() < deadline:
        time.sleep(0.05)
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = 0
    call_command("reconcile", stdout=io.StringIO())
    visit(secrets, alice_client.get(reverse("keypair_list")))
    for keypair_request in KeyPairRequest.objects.all():
        visit(secrets, alice_client.get(f"/keypairs/{keypair_request.public_id}/"))

    assert (at_once.status_code, late.status_code) == (504, 504)
    assert set(KeyPairRequest.objects.values_list("status", flat=True)) == {KeyPairRequest.Status.RECONCILED}
    assert portal_on_sandbox.keypairs() == []
    assert secrets.tokens() == []
    assert_nothing_leaked(secrets, every_log_record)


def test_a_private_key_that_came_after_reconciliation_leaks_nothing(
    alice_client, secrets, every_log_record, portal_on_sandbox, settings, monkeypatch
):
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = 0
    spy = BccClient.create_keypair

    def answered_after_cron_ran(self, **kwargs):
        keypair = spy(self, **kwargs)  # the private key reaches the portal...
        reconcile_open()  # ...after cron gave the create up
        return keypair

    monkeypatch.setattr(BccClient, "create_keypair", answered_after_cron_ran)

    response = create(alice_client, secrets)
    visit(secrets, alice_client.get(reverse("keypair_list")))

    assert response.status_code == 504
    assert escape(str(messages.ANSWER_TOO_LATE)) in response.content.decode()
    assert "private key 1" in secrets.texts, "the spy saw no private key: this test would prove nothing"
    assert not Delivery.objects.exists()
    assert portal_on_sandbox.keypairs() == []
    assert_nothing_leaked(secrets, every_log_record)


# --- The .ppk download ------------------------------------------------------------------------


def add_ppk_private_lines(found: Secrets, body: bytes) -> None:
    """The private half of a PPK file: its ``Private-Lines`` block, line by line and whole."""
    after_header = body.decode("ascii").split("Private-Lines: ", 1)[1].splitlines()
    lines = after_header[1 : 1 + int(after_header[0])]
    for index, line in enumerate(lines):
        if len(line) >= SHORTEST_DISTINCTIVE_LINE:
            found.texts[f"ppk private line {index + 1}"] = line
    found.texts["ppk private blob"] = "".join(lines)
    found.binaries["ppk private blob, bytes"] = base64.b64decode("".join(lines))


def test_a_ppk_download_leaks_nothing(alice_client, secrets, every_log_record):
    detail = create(alice_client, secrets)["Location"]
    visit(secrets, alice_client.get(detail))
    secrets.download_response = visit(secrets, alice_client.post(f"{detail}download", {"format": "ppk"}))
    add_ppk_private_lines(secrets, secrets.download_response.content)
    visit(secrets, alice_client.post(f"{detail}download", {"format": "ppk"}))
    visit(secrets, alice_client.post(f"{detail}download", {"format": "pem"}))
    visit(secrets, alice_client.get(detail))

    assert secrets.download_response.status_code == 200
    assert "private key 1" in secrets.texts, "the spy saw no private key: this test would prove nothing"
    assert "ppk private line 1" in secrets.texts
    assert_nothing_leaked(secrets, every_log_record)


def test_a_failed_ppk_conversion_and_an_unknown_format_leak_nothing(
    alice_client, secrets, every_log_record, monkeypatch
):
    def conversion_fails(pem, *, comment):
        raise ppk.PpkConversionFailed("not_a_private_key", ppk.NOT_A_PRIVATE_KEY)

    monkeypatch.setattr(ppk, "ppk_from_pem", conversion_fails)
    detail = create(alice_client, secrets)["Location"]

    failed = visit(secrets, alice_client.post(f"{detail}download", {"format": "ppk"}))
    unknown = visit(secrets, alice_client.post(f"{detail}download", {"format": "exe"}))
    visit(secrets, alice_client.get(detail))

    assert (failed.status_code, unknown.status_code) == (500, 400)
    assert "private key 1" in secrets.texts, "the spy saw no private key: this test would prove nothing"
    assert_nothing_leaked(secrets, every_log_record)
