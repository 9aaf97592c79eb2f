"""Downloading the private key as PuTTY's ``.ppk``: the same one download, in another format.

Alice creates the key pair through the create view against the BCC sandbox (real HTTP, real
signing), so her test client holds the download cookie as her browser would, and the key she
downloads is the one BCC made. The ``putty`` tests read the file with Debian's ``puttygen`` and
skip without it; CI requires them (tests/required_groups.py). The rest always run.
"""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest
from django.urls import reverse
from django.utils.html import escape

from keypairs import delivery, ppk
from keypairs.bcc.fingerprints import parse_public_key
from keypairs.download_form import KEY_FORMAT_UNKNOWN
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.views import DOWNLOAD_COOKIE
from tests.create_flow import create

PUTTYGEN = shutil.which("puttygen")
PRIVATE_KEY_MARKER = "PRIVATE KEY"
PPK_MARKER = "PuTTY-User-Key-File"


def needs_puttygen(test):
    test = pytest.mark.skipif(PUTTYGEN is None, reason="needs puttygen (Debian's putty-tools)")(test)
    return pytest.mark.putty(test)


def created(client, name: str = "build-server") -> KeyPairRequest:
    assert create(client, name=name).status_code == 302
    return KeyPairRequest.objects.get(name=name)


@pytest.fixture
def alices(alice_client, portal_on_sandbox) -> KeyPairRequest:
    """Alice's new key pair, its private key waiting; her client holds the download cookie."""
    return created(alice_client)


def download(client, keypair_request: KeyPairRequest, key_format: str | None):
    data = {} if key_format is None else {"format": key_format}
    return client.post(reverse("keypair_download", kwargs={"public_id": keypair_request.public_id}), data)


def page_says(response, sentence) -> bool:
    return escape(str(sentence)) in response.content.decode()


def still_waiting(keypair_request: KeyPairRequest) -> bool:
    stored = Delivery.objects.get(request=keypair_request)
    return stored.ciphertext is not None and stored.claimed_at is None


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def ppk_fields(body: bytes) -> dict[str, str]:
    """The header lines of a PPK file (``Public-Lines`` and ``Private-Lines`` blocks joined)."""
    lines = body.decode("ascii").splitlines()
    fields, index = {}, 0
    while index < len(lines):
        name, value = lines[index].split(": ", 1)
        if name.endswith("-Lines"):
            count = int(value)
            fields[name] = "".join(lines[index + 1 : index + 1 + count])
            index += count
        else:
            fields[name] = value
        index += 1
    return fields


# --- The .ppk download --------------------------------------------------------------------


def test_the_ppk_holds_the_public_key_the_page_shows_and_is_handed_out_once(alice_client, alices):
    response = download(alice_client, alices, "ppk")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="build-server.ppk"'
    assert response["Cache-Control"] == "no-store"
    assert response.cookies[DOWNLOAD_COOKIE].value == ""
    fields = ppk_fields(response.content)
    assert (fields["PuTTY-User-Key-File-3"], fields["Encryption"], fields["Comment"]) == (
        "ssh-rsa",
        "none",
        "build-server",
    )
    assert base64.b64decode(fields["Public-Lines"]) == parse_public_key(alices.public_key).blob
    assert PRIVATE_KEY_MARKER not in response.content.decode()
    stored = Delivery.objects.get(request=alices)
    assert (stored.ciphertext, stored.claimed_from) == (None, "127.0.0.1")
    (downloaded,) = events("downloaded")
    assert (downloaded.outcome, downloaded.actor_username, downloaded.keypair_id) == (
        "success",
        "alice",
        alices.keypair_id,
    )
    assert downloaded.detail == "private key downloaded as .ppk; ciphertext erased"


@needs_puttygen
def test_puttygen_reads_the_ppk_and_prints_the_key_pairs_fingerprint(alice_client, alices, tmp_path):
    response = download(alice_client, alices, "ppk")
    saved = tmp_path / "build-server.ppk"
    saved.write_bytes(response.content)

    listed = subprocess.run([PUTTYGEN, str(saved), "-l"], check=True, capture_output=True, text=True).stdout.split()

    assert response.status_code == 200
    # puttygen reads some PEM files too: make sure it read PuTTY's own format.
    assert response.content.startswith(b"PuTTY-User-Key-File-3: ")
    assert alices.fingerprint_sha256.startswith("SHA256:")
    # "<type> <bits> <fingerprint>", then the comment in versions that print it.
    assert (listed[0], listed[2]) == (alices.public_key.split()[0], alices.fingerprint_sha256)


def test_a_slash_in_the_name_gives_an_underscore_in_the_ppk_file_name(alice_client, portal_on_sandbox):
    keypair_request = created(alice_client, name="team/web")

    response = download(alice_client, keypair_request, "ppk")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="team_web.ppk"'
    assert ppk_fields(response.content)["Comment"] == "team/web"


@pytest.mark.parametrize("key_format", ["pem", None, ""])
def test_the_pem_stays_the_default_and_its_audit_row_says_so(alice_client, alices, key_format):
    response = download(alice_client, alices, key_format)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    assert response["Content-Disposition"] == 'attachment; filename="build-server.pem"'
    assert PRIVATE_KEY_MARKER in response.content.decode()
    (downloaded,) = events("downloaded")
    assert downloaded.detail == "private key downloaded as .pem; ciphertext erased"


@pytest.mark.parametrize(("first", "second"), [("pem", "ppk"), ("ppk", "pem"), ("ppk", "ppk")])
def test_a_second_download_in_any_format_is_gone(alice_client, alices, first, second):
    assert download(alice_client, alices, first).status_code == 200

    response = download(alice_client, alices, second)

    body = response.content.decode()
    assert response.status_code == 410
    assert page_says(response, delivery.MESSAGE_ALREADY_DOWNLOADED)
    assert PRIVATE_KEY_MARKER not in body
    assert PPK_MARKER not in body
    assert len(events("downloaded")) == 1
    (refused,) = events("download_refused")
    assert (refused.detail, refused.is_security_event) == (delivery.DETAIL_SECOND_ATTEMPT, True)


# --- Refusals that spend nothing -------------------------------------------------------------


@pytest.mark.parametrize("key_format", ["exe", "PPK", "pem ", "ppk2", "../../etc/passwd"])
def test_an_unknown_format_is_refused_before_the_claim_and_changes_nothing(alice_client, alices, key_format):
    rows_before = AuditEvent.objects.count()

    response = download(alice_client, alices, key_format)

    assert response.status_code == 400
    assert page_says(response, KEY_FORMAT_UNKNOWN)
    assert PRIVATE_KEY_MARKER not in response.content.decode()
    assert DOWNLOAD_COOKIE not in response.cookies
    assert still_waiting(alices)
    assert AuditEvent.objects.count() == rows_before
    # Nothing was spent: the key is still there for a format the portal offers.
    assert download(alice_client, alices, "ppk").status_code == 200


def test_a_failed_conversion_hands_nothing_out_and_keeps_the_key_waiting(alice_client, alices, monkeypatch, caplog):
    def conversion_fails(pem, *, comment):
        raise ppk.PpkConversionFailed("unsupported_key", ppk.UNSUPPORTED_KEY)

    monkeypatch.setattr(ppk, "ppk_from_pem", conversion_fails)

    failed = download(alice_client, alices, "ppk")

    body = failed.content.decode()
    assert failed.status_code == 500
    assert page_says(failed, delivery.MESSAGE_NOT_CONVERTED)
    assert PRIVATE_KEY_MARKER not in body
    assert DOWNLOAD_COOKIE not in failed.cookies
    assert still_waiting(alices)
    assert events("downloaded") == []
    (refused,) = events("download_refused")
    assert (refused.outcome, refused.is_security_event) == ("failure", False)
    assert refused.detail == (
        "could not convert the private key to .ppk (unsupported_key); nothing handed out, key kept"
    )
    assert "could not be converted to ppk" in caplog.text
    # The key still waits: the .pem the page suggests instead is handed out.
    retried = download(alice_client, alices, "pem")
    assert retried.status_code == 200
    assert PRIVATE_KEY_MARKER in retried.content.decode()


def test_a_conversion_that_breaks_unexpectedly_rolls_the_claim_back(alice_client, alices, monkeypatch):
    def conversion_breaks(pem, *, comment):
        raise RuntimeError("a bug in the converter")

    monkeypatch.setattr(ppk, "ppk_from_pem", conversion_breaks)

    with pytest.raises(RuntimeError):
        download(alice_client, alices, "ppk")

    assert still_waiting(alices)
    assert events("downloaded") == []
    monkeypatch.undo()
    assert download(alice_client, alices, "ppk").status_code == 200


# --- The page ----------------------------------------------------------------------------


def test_the_page_offers_both_formats_with_pem_chosen(alice_client, alices):
    page = alice_client.get(reverse("keypair_detail", kwargs={"public_id": alices.public_id})).content.decode()

    assert '<input type="radio" name="format" value="pem" id="format-pem" checked>' in page
    assert '<input type="radio" name="format" value="ppk" id="format-ppk"' in page
    assert '<label for="format-pem">' in page
    assert '<label for="format-ppk">' in page
    assert "PuTTY and WinSCP" in page
