"""Creating a key pair through the form: the create view and ``keypairs.services.keypair_create``,
driven with Django's test client against the real BCC sandbox.

Alice creates key pairs; Bob is another developer, who must learn nothing about them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import uuid

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.template.defaultfilters import date as format_date
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from keypairs import validation
from keypairs.bcc.fingerprints import sha256_fingerprint
from keypairs.forms import FORM_TOKEN_MISSING, REGION_INVALID
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.services import FORM_ALREADY_USED
from keypairs.views import DOWNLOAD_COOKIE
from tests.people import signed_in

User = get_user_model()

CREATE_URL = reverse("keypair_create")
ONLY_CHANCE = "This is your only chance to save the private key."


def form_token_in(response) -> str:
    match = re.search(r'<input type="hidden" name="form_token" value="([^"]*)"', response.content.decode())
    assert match, "the create form has no form_token"
    return match.group(1)


def new_form_token(client: Client) -> str:
    response = client.get(CREATE_URL)
    assert response.status_code == 200
    return form_token_in(response)


def submit(client: Client, form_token: str, **fields):
    data = {"name": "build-server", "description": "", "region": "bj", "form_token": form_token}
    data.update(fields)
    return client.post(CREATE_URL, {key: value for key, value in data.items() if value is not None})


def create(client: Client, **fields):
    """Open the form and submit it; ``form_token=None`` leaves the token out."""
    form_token = fields.pop("form_token", new_form_token(client))
    return submit(client, form_token, **fields)


def same_browser(client: Client) -> Client:
    """Another connection of the same browser: a client holding the same session cookie."""
    twin = Client()
    twin.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return twin


def only_request() -> KeyPairRequest:
    (keypair_request,) = KeyPairRequest.objects.all()
    return keypair_request


def page_says(response, sentence: str) -> bool:
    return escape(sentence) in response.content.decode()


def sent_to_bcc(sandbox) -> list[str]:
    """The operations the portal sent BCC, leaving out the lists that count the shared quota for the form."""
    return [record.operation for record in sandbox.request_log if record.operation != "list"]


# --- The form ---------------------------------------------------------------------------


def test_the_form_carries_a_fresh_one_time_token_each_time(alice_client):
    first = alice_client.get(CREATE_URL)
    second = alice_client.get(CREATE_URL)

    assert first.status_code == 200
    assert form_token_in(first)
    assert form_token_in(first) != form_token_in(second)
    assert KeyPairRequest.objects.count() == 0


def test_it_only_allows_get_and_post(alice_client, portal_on_sandbox):
    response = alice_client.put(CREATE_URL)

    assert response.status_code == 405
    assert portal_on_sandbox.request_log == []


# --- Creating -----------------------------------------------------------------------------


def test_it_creates_the_key_pair_in_bcc_and_redirects_to_its_page(alice, alice_client, portal_on_sandbox):
    response = create(alice_client, name="build-server", description="CI runners, 2026", region="gz")

    keypair_request = only_request()
    assert response.status_code == 302
    assert response["Location"] == reverse("keypair_detail", kwargs={"public_id": keypair_request.public_id})
    (in_bcc,) = portal_on_sandbox.keypairs(region="gz")
    assert (in_bcc["name"], in_bcc["description"], in_bcc["regionId"]) == ("build-server", "CI runners, 2026", "gz")
    assert portal_on_sandbox.keypairs(region="bj") == []
    assert keypair_request.owner == alice
    assert keypair_request.status == KeyPairRequest.Status.CREATED
    assert (keypair_request.name, keypair_request.description, keypair_request.region) == (
        "build-server",
        "CI runners, 2026",
        "gz",
    )
    assert keypair_request.keypair_id == in_bcc["keypairId"]
    assert keypair_request.public_key == in_bcc["publicKey"]
    assert keypair_request.completed_at is not None
    assert keypair_request.delivery.ciphertext is not None


def test_the_page_it_lands_on_says_the_key_pair_was_created_once(alice_client, portal_on_sandbox):
    response = create(alice_client, name="build-server", region="gz")

    landed = alice_client.get(response["Location"])
    assert "Key pair build-server was created in Guangzhou (gz)." in landed.content.decode()
    assert "was created in" not in alice_client.get(response["Location"]).content.decode()


def test_a_create_bcc_refused_is_not_announced_as_created(alice_client, portal_on_sandbox):
    portal_on_sandbox.inject("status", status=500, operation="create")

    response = create(alice_client, name="build-server", region="gz")

    assert response.status_code != 302
    assert "was created in" not in response.content.decode()
    assert "was created in" not in alice_client.get(reverse("keypair_list")).content.decode()


def test_it_hands_the_download_token_to_the_browser_in_a_strict_cookie(alice_client, portal_on_sandbox):
    response = create(alice_client)

    keypair_request = only_request()
    assert response.status_code == 302
    cookie = response.cookies[DOWNLOAD_COOKIE]
    assert cookie.value
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == f"/keypairs/{keypair_request.public_id}/"
    assert cookie["max-age"] == settings.KEYPAIR_DOWNLOAD_TTL_SECONDS
    # The token is in the cookie only: not in the URL the browser is sent to.
    assert cookie.value not in response["Location"]


def test_the_download_cookie_is_secure_where_the_session_cookie_is(alice_client, portal_on_sandbox, settings):
    settings.SESSION_COOKIE_SECURE = True

    response = create(alice_client)

    assert response.status_code == 302
    assert response.cookies[DOWNLOAD_COOKIE]["secure"] is True


def test_it_records_both_fingerprints(alice_client, portal_on_sandbox):
    response = create(alice_client)

    keypair_request = only_request()
    (in_bcc,) = portal_on_sandbox.keypairs()
    assert response.status_code == 302
    assert keypair_request.fingerprint_sha256 == sha256_fingerprint(in_bcc["publicKey"])
    # As `ssh-keygen -lf` prints it: SHA-256 of the key blob, unpadded base64.
    blob = base64.b64decode(in_bcc["publicKey"].split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert keypair_request.fingerprint_sha256 == f"SHA256:{digest}"
    assert keypair_request.fingerprint_bcc == in_bcc["fingerPrint"]


def test_it_audits_the_request_then_the_creation(alice_client, portal_on_sandbox, caplog):
    caplog.set_level(logging.INFO, logger="keypairs.sandbox")

    response = create(alice_client, name="build-server", region="gz")

    keypair_request = only_request()
    requested, created = AuditEvent.objects.order_by("id")
    assert response.status_code == 302
    assert (requested.action, requested.outcome) == ("requested", "success")
    assert (created.action, created.outcome) == ("created", "success")
    for event in (requested, created):
        assert event.actor_username == "alice"
        assert (event.region, event.keypair_name) == ("gz", "build-server")
        assert event.source_ip == "127.0.0.1"
        assert event.portal_request_id == response["X-Request-ID"]
    assert requested.keypair_id == ""
    assert created.keypair_id == keypair_request.keypair_id
    assert created.latency_ms is not None
    # BCC's request id, as the sandbox logged it when it answered the create.
    sandbox_request_ids = [
        re.search(r"rid=(\S+)", record.getMessage()).group(1)
        for record in caplog.records
        if record.name == "keypairs.sandbox" and " create 200 " in record.getMessage()
    ]
    assert sandbox_request_ids == [created.bcc_request_id]
    assert keypair_request.bcc_request_id == created.bcc_request_id


# --- The key pair's page ----------------------------------------------------------------


def test_its_page_shows_the_key_pair_and_how_to_use_it(alice_client, portal_on_sandbox):
    created = create(alice_client, name="build-server", description="CI runners", region="gz")
    response = alice_client.get(created["Location"])

    keypair_request = only_request()
    page = response.content.decode()
    assert response.status_code == 200
    assert keypair_request.keypair_id in page
    assert "build-server" in page
    assert "CI runners" in page
    assert "gz" in page
    assert format_date(keypair_request.bcc_created_at, "DATETIME_FORMAT") in page
    assert keypair_request.fingerprint_sha256 in page
    assert keypair_request.fingerprint_bcc in page
    # Both fingerprints say which hash they are, so that either can be matched with ssh-keygen -E.
    assert "<dt>Fingerprint (SHA256)</dt>" in page
    assert f'<dt>BCC fingerprint (MD5)</dt><dd><code id="fingerprint-bcc">{keypair_request.fingerprint_bcc}<' in page
    assert keypair_request.public_key in page
    assert format_date(keypair_request.delivery.expires_at, "DATETIME_FORMAT") in page
    assert ONLY_CHANCE in page
    assert "chmod 400 build-server.pem" in page
    assert "ssh -i build-server.pem" in page
    assert 'id="download-button"' in page


def test_a_slash_in_the_name_becomes_an_underscore_in_the_file_name(alice_client, portal_on_sandbox):
    created = create(alice_client, name="team/web.server")
    response = alice_client.get(created["Location"])

    page = response.content.decode()
    assert response.status_code == 200
    assert "chmod 400 team_web.server.pem" in page
    assert "ssh -i team_web.server.pem" in page
    assert "team/web.server.pem" not in page


def test_its_page_offers_no_download_to_a_browser_without_the_cookie(alice, alice_client, portal_on_sandbox):
    created = create(alice_client)
    response = signed_in(alice).get(created["Location"])

    assert response.status_code == 200
    assert page_says(
        response,
        "This private key can be downloaded only in the browser that created the key pair, "
        "and this is another browser.",
    )
    assert 'id="download-button"' not in response.content.decode()


def test_bob_cannot_see_alices_key_pair(alice_client, bob_client, portal_on_sandbox):
    created = create(alice_client)

    response = bob_client.get(created["Location"])

    keypair_request = only_request()
    assert response.status_code == 404
    assert keypair_request.keypair_id not in response.content.decode()


# --- Submitting twice ------------------------------------------------------------------------


def test_a_form_submitted_twice_creates_one_key_pair(alice_client, portal_on_sandbox):
    form_token = new_form_token(alice_client)

    first = submit(alice_client, form_token)
    second = submit(alice_client, form_token)

    keypair_request = only_request()
    assert (first.status_code, second.status_code) == (302, 302)
    assert first["Location"] == second["Location"] == f"/keypairs/{keypair_request.public_id}/"
    assert len(portal_on_sandbox.keypairs()) == 1
    # The browser may have kept only the second response: it carries the same download cookie.
    assert second.cookies[DOWNLOAD_COOKIE].value == first.cookies[DOWNLOAD_COOKIE].value
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == ["requested", "created"]


@pytest.mark.django_db(transaction=True)
def test_a_double_click_creates_one_key_pair(alice, portal_on_sandbox):
    browser = signed_in(alice)
    form_token = new_form_token(browser)
    # One browser, two connections: both carry its session cookie (the download token is
    # bound to the session; another session's resubmission is tested in test_delivery_token_binding.py).
    clients = [browser, same_browser(browser)]
    start = threading.Barrier(len(clients))
    responses = [None] * len(clients)

    def click(index: int) -> None:
        try:
            start.wait()
            responses[index] = submit(clients[index], form_token)
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    keypair_request = only_request()
    assert [response.status_code for response in responses] == [302, 302]
    assert {response["Location"] for response in responses} == {f"/keypairs/{keypair_request.public_id}/"}
    assert len(portal_on_sandbox.keypairs()) == 1
    # Whichever response the browser keeps, it can download the key.
    assert len({response.cookies[DOWNLOAD_COOKIE].value for response in responses}) == 1
    assert keypair_request.status == KeyPairRequest.Status.CREATED


def test_the_key_can_be_downloaded_with_the_cookie_of_the_second_submission_alone(alice_client, portal_on_sandbox):
    form_token = new_form_token(alice_client)
    submit(alice_client, form_token)
    # The browser dropped the first response: only the replay's cookie reaches it.
    alice_client.cookies.pop(DOWNLOAD_COOKIE, None)
    second = submit(alice_client, form_token)

    download = alice_client.post(second["Location"] + "download")

    assert download.status_code == 200
    assert download.content.startswith(b"-----BEGIN")


def test_a_failed_create_resubmitted_sets_no_download_cookie(alice_client, portal_on_sandbox):
    portal_on_sandbox.quota = 0
    form_token = new_form_token(alice_client)
    submit(alice_client, form_token)

    second = submit(alice_client, form_token)

    assert second.status_code == 302
    assert DOWNLOAD_COOKIE not in second.cookies


def test_reloading_the_key_pairs_page_creates_nothing(alice_client, portal_on_sandbox):
    created = create(alice_client)

    for _ in range(3):
        assert alice_client.get(created["Location"]).status_code == 200

    assert len(portal_on_sandbox.keypairs()) == 1
    assert KeyPairRequest.objects.count() == 1
    # Each view reads BCC's state of the key pair (one detail call); none writes.
    assert sent_to_bcc(portal_on_sandbox) == ["create", "get", "get", "get"]


def test_bob_cannot_use_a_form_alice_already_used(alice_client, bob_client, portal_on_sandbox):
    form_token = new_form_token(alice_client)
    submit(alice_client, form_token, name="alices-server")
    alices = only_request()

    response = submit(bob_client, form_token, name="bobs-server")

    page = response.content.decode()
    assert response.status_code == 409
    assert page_says(response, FORM_ALREADY_USED)
    for trace in (alices.keypair_id, str(alices.public_id), "alices-server", alices.fingerprint_sha256):
        assert trace not in page
    assert form_token_in(response) != form_token
    assert KeyPairRequest.objects.get() == alices
    assert len(portal_on_sandbox.keypairs()) == 1


# --- Input the form refuses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "messages"),
    [
        pytest.param(
            {"name": " web"},
            [
                validation.NAME_MUST_START_WITH_LETTER,
                validation.NAME_FORBIDDEN_CHARACTERS.format(characters="' ' (space)"),
            ],
            id="leading-space",
        ),
        pytest.param({"name": ""}, [validation.NAME_REQUIRED], id="no-name"),
        pytest.param({"name": "a" * 66}, [validation.NAME_TOO_LONG.format(limit=65, length=66)], id="name-too-long"),
        pytest.param(
            {"description": "<script>"},
            [validation.DESCRIPTION_FORBIDDEN_CHARACTERS.format(characters="'<' or '>'")],
            id="description-markup",
        ),
        pytest.param({"region": "mars"}, [REGION_INVALID], id="unknown-region"),
        pytest.param({"form_token": None}, [FORM_TOKEN_MISSING], id="no-form-token"),
    ],
)
def test_it_refuses_invalid_input_before_calling_bcc(alice_client, portal_on_sandbox, fields, messages):
    response = create(alice_client, **fields)

    assert response.status_code == 400
    for message in messages:
        assert page_says(response, message)
    assert sent_to_bcc(portal_on_sandbox) == []
    assert KeyPairRequest.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_it_keeps_what_the_user_typed_verbatim(alice_client, portal_on_sandbox):
    form_token = new_form_token(alice_client)

    response = submit(alice_client, form_token, name=" web", description="  two  spaces ")

    page = response.content.decode()
    assert response.status_code == 400
    assert 'name="name" value=" web"' in page
    assert 'name="description" value="  two  spaces "' in page
    # A fresh token for the next attempt: this one was never used.
    assert form_token_in(response) != form_token
    assert sent_to_bcc(portal_on_sandbox) == []


def test_a_corrected_form_creates_the_key_pair(alice_client, portal_on_sandbox):
    refused = create(alice_client, name=" web")

    response = submit(alice_client, form_token_in(refused), name="web")

    assert refused.status_code == 400
    assert response.status_code == 302
    assert [keypair["name"] for keypair in portal_on_sandbox.keypairs()] == ["web"]


def test_an_unknown_request_page_is_not_found(alice_client):
    response = alice_client.get(reverse("keypair_detail", kwargs={"public_id": uuid.uuid4()}))

    assert response.status_code == 404
