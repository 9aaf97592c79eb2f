"""Downloading the private key: once, by its owner, from the browser that created the key pair,
before it expires; and reporting a download the owner did not make.

Alice creates the key pair through the create view against the BCC sandbox, so her test
client holds the download cookie exactly as her browser would. Bob is another developer.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.auth import get_user_model
from django.template.defaultfilters import date as format_date
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from keypairs import delivery
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.views import DOWNLOAD_COOKIE
from tests.people import signed_in

User = get_user_model()

CREATE_URL = reverse("keypair_create")
PRIVATE_KEY_MARKER = "PRIVATE KEY"


def create(client: Client, name: str = "build-server") -> KeyPairRequest:
    page = client.get(CREATE_URL).content.decode()
    form_token = re.search(r'name="form_token" value="([^"]*)"', page).group(1)
    response = client.post(CREATE_URL, {"name": name, "description": "", "region": "bj", "form_token": form_token})
    assert response.status_code == 302
    return KeyPairRequest.objects.get(name=name)


@pytest.fixture
def alices(alice_client, portal_on_sandbox) -> KeyPairRequest:
    """Alice's new key pair, its private key waiting; her client holds the download cookie."""
    return create(alice_client)


def download_url(keypair_request: KeyPairRequest) -> str:
    return reverse("keypair_download", kwargs={"public_id": keypair_request.public_id})


def report_url(keypair_request: KeyPairRequest) -> str:
    return reverse("keypair_report", kwargs={"public_id": keypair_request.public_id})


def detail_url(keypair_request: KeyPairRequest) -> str:
    return reverse("keypair_detail", kwargs={"public_id": keypair_request.public_id})


def page_says(response, sentence: str) -> bool:
    return escape(str(sentence)) in response.content.decode()


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def reload(keypair_request: KeyPairRequest) -> Delivery:
    return Delivery.objects.get(request=keypair_request)


# --- The download -------------------------------------------------------------------------


def test_the_owner_downloads_the_private_key_of_the_public_key_shown(alice_client, alices):
    response = alice_client.post(download_url(alices))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    assert response["Content-Disposition"] == 'attachment; filename="build-server.pem"'
    assert response["Cache-Control"] == "no-store"
    private_key = serialization.load_pem_private_key(response.content, password=None)
    public_key = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert public_key.decode() == alices.public_key
    assert escape(alices.public_key) in alice_client.get(detail_url(alices)).content.decode()


def test_a_chinese_name_gives_an_rfc_5987_file_name(alice_client, portal_on_sandbox):
    keypair_request = create(alice_client, name="web服务器")

    response = alice_client.post(download_url(keypair_request))

    assert response.status_code == 200
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''web%E6%9C%8D%E5%8A%A1%E5%99%A8.pem"


def test_a_slash_in_the_name_gives_an_underscore_in_the_file_name(alice_client, portal_on_sandbox):
    keypair_request = create(alice_client, name="team/web")

    response = alice_client.post(download_url(keypair_request))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="team_web.pem"'


def test_the_download_deletes_the_cookie_and_the_ciphertext(alice_client, alices):
    response = alice_client.post(download_url(alices))

    cookie = response.cookies[DOWNLOAD_COOKIE]
    assert response.status_code == 200
    assert cookie.value == ""
    assert cookie["max-age"] == 0
    assert cookie["path"] == f"/keypairs/{alices.public_id}/"
    stored = reload(alices)
    assert stored.ciphertext is None
    assert stored.claimed_from == "127.0.0.1"
    (downloaded,) = events("downloaded")
    assert (downloaded.outcome, downloaded.keypair_id, downloaded.actor_username) == (
        "success",
        alices.keypair_id,
        "alice",
    )


def test_the_page_then_says_when_and_from_where(alice_client, alices):
    alice_client.post(download_url(alices))

    response = alice_client.get(detail_url(alices))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Downloaded at" in page
    assert format_date(reload(alices).claimed_at, "DATETIME_FORMAT") in page
    assert "from 127.0.0.1." in page
    assert 'id="download-button"' not in page
    assert 'id="report-button"' in page


def test_a_second_download_is_refused_and_flagged(alice_client, alices):
    alice_client.post(download_url(alices))

    response = alice_client.post(download_url(alices))

    assert response.status_code == 410
    assert page_says(response, delivery.MESSAGE_ALREADY_DOWNLOADED)
    assert PRIVATE_KEY_MARKER not in response.content.decode()
    (refused,) = events("download_refused")
    assert (refused.outcome, refused.is_security_event, refused.detail) == (
        "denied",
        True,
        delivery.DETAIL_SECOND_ATTEMPT,
    )


def test_a_download_that_cannot_be_recorded_hands_nothing_out_and_keeps_the_key(
    alice_client, alices, monkeypatch, caplog
):
    # The "downloaded" row commits with the claim: when the append fails (here the audit
    # chain's lock times out once), the claim rolls back and the key is still there.
    from django.db import OperationalError

    from keypairs import audit

    locked_head = audit._locked_head
    failures = iter([OperationalError("database is locked")])

    def head_that_fails_once():
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return locked_head()

    monkeypatch.setattr(audit, "_locked_head", head_that_fails_once)

    failed = alice_client.post(download_url(alices))
    still_there = reload(alices)
    retried = alice_client.post(download_url(alices))

    assert failed.status_code == 503
    assert page_says(failed, delivery.MESSAGE_NOT_HANDED_OUT)
    assert PRIVATE_KEY_MARKER not in failed.content.decode()
    assert (still_there.ciphertext is not None, still_there.claimed_at) == (True, None)
    assert "the key was not handed out" in caplog.text
    assert retried.status_code == 200
    assert PRIVATE_KEY_MARKER in retried.content.decode()
    assert len(events("downloaded")) == 1


def test_a_refusal_that_cannot_be_recorded_does_not_claim_the_key_is_waiting(alice_client, alices, monkeypatch):
    # Only a failure inside the claim's own transaction leaves the key in place. A second
    # download is refused after that transaction; if its audit row then fails, the portal
    # must not tell the user the key is still waiting: it was downloaded already.
    from django.db import OperationalError

    from keypairs import audit

    assert alice_client.post(download_url(alices)).status_code == 200

    def head_that_fails():
        raise OperationalError("database is locked")

    monkeypatch.setattr(audit, "_locked_head", head_that_fails)
    with pytest.raises(OperationalError):
        alice_client.post(download_url(alices))

    assert reload(alices).ciphertext is None


def test_it_only_allows_post(alice_client, alices):
    response = alice_client.get(download_url(alices))

    assert response.status_code == 405
    assert reload(alices).ciphertext is not None


def test_a_cross_site_post_cannot_download(alice, alices):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    response = browser.post(download_url(alices))

    assert response.status_code == 403
    assert reload(alices).ciphertext is not None


# --- Who may download ----------------------------------------------------------------------


def test_bob_gets_nothing_even_with_alices_cookie(alice_client, bob_client, alices):
    bob_client.cookies[DOWNLOAD_COOKIE] = alice_client.cookies[DOWNLOAD_COOKIE].value

    response = bob_client.post(download_url(alices))

    page = response.content.decode()
    assert response.status_code == 404
    assert page_says(response, delivery.MESSAGE_NOT_FOUND)
    assert PRIVATE_KEY_MARKER not in page
    assert alices.keypair_id not in page
    assert DOWNLOAD_COOKIE not in response.cookies
    (refused,) = events("download_refused")
    assert (refused.actor_username, refused.outcome, refused.is_security_event, refused.detail) == (
        "bob",
        "denied",
        True,
        delivery.DETAIL_NOT_THE_OWNER,
    )
    assert reload(alices).ciphertext is not None
    assert alice_client.post(download_url(alices)).status_code == 200


def test_another_browser_of_alice_without_the_cookie_is_refused(alice, alice_client, alices):
    other_browser = Client()
    other_browser.force_login(alice)

    response = other_browser.post(download_url(alices))

    assert response.status_code == 403
    assert page_says(response, delivery.MESSAGE_BAD_TOKEN)
    (refused,) = events("download_refused")
    assert refused.detail == delivery.DETAIL_BAD_TOKEN
    # The key still waits for the browser that has the cookie.
    assert alice_client.post(download_url(alices)).status_code == 200


def test_a_guessed_token_is_refused(alice_client, alices):
    alice_client.cookies[DOWNLOAD_COOKIE] = "guess"

    response = alice_client.post(download_url(alices))

    assert response.status_code == 403
    assert reload(alices).ciphertext is not None


# --- Expiry -------------------------------------------------------------------------------


def test_an_expired_key_is_erased_and_cannot_be_downloaded(alice_client, alices):
    Delivery.objects.filter(request=alices).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = alice_client.post(download_url(alices))

    assert response.status_code == 410
    assert page_says(response, delivery.MESSAGE_EXPIRED)
    assert PRIVATE_KEY_MARKER not in response.content.decode()
    assert reload(alices).ciphertext is None
    (expired,) = events("expired")
    assert expired.keypair_id == alices.keypair_id
    page = alice_client.get(detail_url(alices)).content.decode()
    assert 'id="expired-note"' in page
    assert 'id="download-button"' not in page


def test_the_key_expires_after_the_configured_time(alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_DOWNLOAD_TTL_SECONDS = 90
    before = timezone.now()

    keypair_request = create(alice_client)

    stored = reload(keypair_request)
    assert before + timedelta(seconds=90) <= stored.expires_at <= timezone.now() + timedelta(seconds=90)


def test_a_second_browser_of_the_owner_is_told_what_happened_and_what_to_do(alice, alice_client, alices):
    page = signed_in(alice).get(detail_url(alices)).content.decode()

    note = page[page.index('id="other-browser-note"') : page.index("</div>", page.index('id="other-browser-note"'))]
    assert "only in the browser that created the key pair, and this is another browser" in note
    assert f'href="{reverse("keypair_delete", kwargs={"public_id": alices.public_id})}"' in note
    assert f'href="{CREATE_URL}"' in note
    # One block, no contradiction: the "from this browser only" box and the form are for the creating browser.
    assert "from this browser only" not in page
    assert 'id="download-button"' not in page
    assert "from this browser only" in alice_client.get(detail_url(alices)).content.decode()


# --- The page follows the delivery's state (no JavaScript needed) --------------------------


def _expire(keypair_request):
    Delivery.objects.filter(request=keypair_request).update(expires_at=timezone.now() - timedelta(seconds=1))


def _report(client, keypair_request):
    client.post(report_url(keypair_request), {"confirm": "yes"})


@pytest.mark.parametrize(
    ("make_it", "note", "sentence"),
    [
        (lambda client, kp: client.post(download_url(kp)), "downloaded-note", "cannot be downloaded again"),
        (lambda client, kp: _expire(kp), "expired-note", "not downloaded in time"),
        (_report, "reported-note", "before its private key was downloaded"),
    ],
    ids=["downloaded", "expired", "reported before the download"],
)
def test_once_the_key_is_gone_the_page_offers_no_download_and_says_why(alice_client, alices, make_it, note, sentence):
    assert 'id="download-form"' in alice_client.get(detail_url(alices)).content.decode()

    make_it(alice_client, alices)

    page = alice_client.get(detail_url(alices)).content.decode()
    assert 'id="download-form"' not in page
    assert 'id="download-button"' not in page
    assert f'id="{note}"' in page
    assert sentence in page
    # The one sentence that fits: a reported key was not "not downloaded in time".
    assert page.count('-note"') - page.count('id="key-age-note"') == 1


# --- "I did not download this" ------------------------------------------------------------


def test_the_report_button_asks_first_and_changes_nothing(alice_client, alices):
    alice_client.post(download_url(alices))
    page = alice_client.get(detail_url(alices)).content.decode()
    assert 'id="report-button"' in page

    response = alice_client.post(report_url(alices))

    assert response.status_code == 200
    confirmation = response.content.decode()
    assert 'id="report-confirm-form"' in confirmation
    assert 'name="confirm" value="yes"' in confirmation
    assert 'name="csrfmiddlewaretoken"' in confirmation
    assert f'href="{detail_url(alices)}"' in confirmation
    assert reload(alices).reported_at is None
    assert events("reported") == []


def test_bob_gets_no_confirmation_page_for_alices_key_pair(alice_client, bob_client, alices):
    alice_client.post(download_url(alices))

    response = bob_client.post(report_url(alices))

    assert response.status_code == 404
    assert alices.name not in response.content.decode()
    assert reload(alices).reported_at is None


def test_the_owner_can_report_a_download_she_did_not_make(alice_client, alices):
    alice_client.post(download_url(alices))

    response = alice_client.post(report_url(alices), {"confirm": "yes"})

    assert response.status_code == 302
    assert response["Location"] == detail_url(alices)
    assert reload(alices).reported_at is not None
    (reported,) = events("reported")
    assert (reported.outcome, reported.is_security_event, reported.actor_username) == ("success", True, "alice")
    assert "127.0.0.1" in reported.detail
    page = alice_client.get(detail_url(alices)).content.decode()
    assert 'id="reported-note"' in page
    assert "You reported this download as not yours" in page
    assert 'id="report-button"' not in page


def test_a_reported_key_pair_shows_its_state_and_no_ssh_instructions(alice_client, alices):
    alice_client.post(download_url(alices))
    before = alice_client.get(detail_url(alices)).content.decode()
    assert 'id="using-it"' in before and "ssh -i" in before
    assert ">Downloaded</span>" in alice_client.get(reverse("keypair_list")).content.decode()

    alice_client.post(report_url(alices), {"confirm": "yes"})

    page = alice_client.get(detail_url(alices)).content.decode()
    assert 'id="reported-note"' in page
    assert 'id="using-it"' not in page
    assert "ssh -i" not in page
    listing = alice_client.get(reverse("keypair_list")).content.decode()
    assert ">Reported</span>" in listing
    assert ">Downloaded</span>" not in listing


def test_bob_cannot_report_alices_key_pair(alice_client, bob_client, alices):
    alice_client.post(download_url(alices))

    response = bob_client.post(report_url(alices), {"confirm": "yes"})

    assert response.status_code == 404
    assert alices.keypair_id not in response.content.decode()
    assert reload(alices).reported_at is None
    (refused,) = events("reported")
    assert (refused.actor_username, refused.outcome, refused.detail) == ("bob", "denied", delivery.DETAIL_NOT_THE_OWNER)


def test_reporting_only_allows_post(alice_client, alices):
    response = alice_client.get(report_url(alices))

    assert response.status_code == 405
    assert reload(alices).reported_at is None
