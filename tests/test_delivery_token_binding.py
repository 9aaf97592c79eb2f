"""The download cookie cannot be had from the create form's token: only the browser that
submitted the form holds a working one.

The form token is in the create page's HTML, so anyone who sees that page has it (another tab
or device of the same person, a screen share, a saved page). Alice's first browser creates a
key pair; her second session, signed in as Alice too, knows the form token but never got the
cookie. It must not download the key, neither by computing the cookie nor by resubmitting the
form, while the first browser still can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from django.urls import reverse

from keypairs.delivery_crypto import DOWNLOAD_TOKEN_CONTEXT, download_token_for
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.views import DOWNLOAD_COOKIE
from tests.people import signed_in

CREATE_URL = reverse("keypair_create")


def open_form(client) -> str:
    page = client.get(CREATE_URL).content.decode()
    return re.search(r'name="form_token" value="([^"]*)"', page).group(1)


def submit(client, form_token: str):
    return client.post(
        CREATE_URL, {"name": "build-server", "description": "", "region": "bj", "form_token": form_token}
    )


def download_url(keypair_request: KeyPairRequest) -> str:
    return reverse("keypair_download", kwargs={"public_id": keypair_request.public_id})


def b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def cookies_computable_from(form_token: str) -> list[str]:
    """What someone holding only the form token can compute: the derivation the portal used
    before DOWNLOAD_TOKEN_KEY (HMAC keyed by the form token), today's without the server key,
    and the form token itself."""
    return [
        b64(hmac.new(form_token.encode(), b"bcc-portal/download-token/v1", hashlib.sha256).digest()),
        b64(hmac.new(form_token.encode(), DOWNLOAD_TOKEN_CONTEXT, hashlib.sha256).digest()),
        b64(hmac.new(b"", DOWNLOAD_TOKEN_CONTEXT + b"\x00" + form_token.encode() + b"\x00", hashlib.sha256).digest()),
        form_token,
    ]


@pytest.fixture
def created(alice, alice_client, portal_on_sandbox):
    """Alice's first browser opened the form and created a key pair; returns the form token."""
    form_token = open_form(alice_client)
    assert submit(alice_client, form_token).status_code == 302
    return form_token


def test_a_second_session_cannot_compute_the_download_cookie_from_the_form_token(alice, alice_client, created):
    second_session = signed_in(alice)
    keypair_request = KeyPairRequest.objects.get()

    answers = []
    for computed in cookies_computable_from(created):
        second_session.cookies[DOWNLOAD_COOKIE] = computed
        answers.append(second_session.post(download_url(keypair_request)).status_code)

    assert answers == [403, 403, 403, 403]
    assert Delivery.objects.get().ciphertext is not None  # still waiting for the first browser
    download = alice_client.post(download_url(keypair_request))
    assert download.status_code == 200
    assert b"PRIVATE KEY" in download.content


def test_a_second_session_resubmitting_the_form_gets_no_working_cookie(alice, alice_client, created):
    second_session = signed_in(alice)

    replay = submit(second_session, created)
    download = second_session.post(replay["Location"] + "download")

    assert replay.status_code == 302
    assert download.status_code == 403
    assert b"PRIVATE KEY" not in download.content
    assert KeyPairRequest.objects.count() == 1
    refused = AuditEvent.objects.filter(action=AuditEvent.Action.DOWNLOAD_REFUSED).get()
    assert refused.is_security_event
    # The browser that submitted the form still downloads its key.
    assert alice_client.post(replay["Location"] + "download").status_code == 200


def test_the_download_token_depends_on_the_server_key_the_form_token_and_the_session():
    token = download_token_for(form_token="Q" * 43, browser_session="session-a", server_key="k" * 40)

    assert token == download_token_for(form_token="Q" * 43, browser_session="session-a", server_key="k" * 40)
    assert token != download_token_for(form_token="Q" * 43, browser_session="session-a", server_key="j" * 40)
    assert token != download_token_for(form_token="R" * 43, browser_session="session-a", server_key="k" * 40)
    assert token != download_token_for(form_token="Q" * 43, browser_session="session-b", server_key="k" * 40)


def test_no_download_token_is_derived_without_a_server_key():
    with pytest.raises(ValueError, match="DOWNLOAD_TOKEN_KEY is empty"):
        download_token_for(form_token="Q" * 43, browser_session="session-a", server_key="")
