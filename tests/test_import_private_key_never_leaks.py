"""A private key pasted (or chosen as a file) on the import form by mistake leaks nowhere.

Searched the way tests/test_secrets_never_leak.py searches for the portal's own secrets: every
log record of every logger at DEBUG (SQL with its parameters included), every row of every
table, every audit row, and every response (headers and body), through the real views. The
last test breaks the page after the refusal, with DEBUG on, so that Django's error page (which
lists POST data) is searched too.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from keypairs import public_keys, views_import
from keypairs.models import AuditEvent, KeyPairRequest
from tests.import_flow import PREVIEW_URL, ec_key, import_key, private_pem, rsa_key
from tests.test_secrets_never_leak import Secrets, assert_nothing_leaked, every_log_record, visit  # noqa: F401


@pytest.fixture
def pasted(portal_on_sandbox) -> tuple[Secrets, str]:
    found = Secrets()
    pem = private_pem(ec_key())
    found.add_private_key(pem)
    return found, pem


def test_a_pasted_private_key_is_refused_and_leaks_nowhere(alice_client, pasted, every_log_record, portal_on_sandbox):  # noqa: F811
    secrets, pem = pasted

    refused = visit(secrets, import_key(alice_client, public_key=pem))
    visit(secrets, alice_client.get("/keypairs/"))

    assert refused.status_code == 400
    assert str(public_keys.PRIVATE_KEY) in refused.content.decode()
    assert not KeyPairRequest.objects.exists()
    assert not AuditEvent.objects.exists()
    assert [record.operation for record in portal_on_sandbox.request_log if record.operation != "list"] == []
    assert_nothing_leaked(secrets, every_log_record)


def test_a_private_key_chosen_as_a_file_or_sent_to_the_preview_leaks_nowhere(alice_client, every_log_record):  # noqa: F811
    secrets = Secrets()
    pem = private_pem(rsa_key(2048))
    secrets.add_private_key(pem)

    chosen = SimpleUploadedFile("id_rsa.pub", pem.encode(), content_type="application/octet-stream")
    from_file = visit(secrets, import_key(alice_client, public_key_file=chosen))
    preview = visit(secrets, alice_client.post(PREVIEW_URL, {"public_key": pem}))
    preview_file = visit(
        secrets, alice_client.post(PREVIEW_URL, {"public_key_file": SimpleUploadedFile("k", pem.encode())})
    )

    assert (from_file.status_code, preview.status_code, preview_file.status_code) == (400, 400, 400)
    assert preview.json()["code"] == preview_file.json()["code"] == "private_key"
    assert_nothing_leaked(secrets, every_log_record)


def test_an_error_page_after_the_refusal_shows_no_private_key(
    alice,
    pasted,
    every_log_record,  # noqa: F811
    monkeypatch,
    settings,
    portal_on_sandbox,
):
    secrets, pem = pasted
    settings.DEBUG = True  # Django's technical error page lists the POST parameters
    client = Client(raise_request_exception=False)
    client.force_login(alice)

    def broken(regions):
        raise RuntimeError("the quota count broke")

    form = visit(secrets, client.get("/keypairs/import"))
    monkeypatch.setattr(views_import.limits, "region_quotas", broken)
    token = form.content.decode().split('name="form_token" value="')[1].split('"')[0]
    error_page = visit(secrets, import_key(client, public_key=pem, form_token=token))

    assert error_page.status_code == 500
    assert "the quota count broke" in error_page.content.decode()
    assert_nothing_leaked(secrets, every_log_record)
