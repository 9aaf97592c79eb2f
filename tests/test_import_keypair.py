"""Importing your own public key, through the real form and real HTTP to the BCC sandbox.

Each refusal of the key is checked to say its own sentence and to change nothing: no record,
no audit row, nothing sent to BCC. Then what BCC decides (imported, already there, quota), the
portal's limits, the one-time form, and an import whose answer was lost, which is kept.
"""

from __future__ import annotations

import io

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from keypairs import messages, public_keys
from keypairs.forms import PUBLIC_KEY_BOTH
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.services import import_ as import_service
from tests.create_flow import audit_trail, page_says, sent_to_bcc
from tests.import_flow import (
    PREVIEW_URL,
    certificate_line,
    dsa_line,
    ec_key,
    import_key,
    open_import_form,
    private_pem,
    public_line,
    rsa_key,
)

Status = KeyPairRequest.Status
Action = AuditEvent.Action


REFUSALS = {
    "rsa_1024": (lambda: public_line(rsa_key(1024)), public_keys.RSA_TOO_SMALL % {"bits": 1024}),
    "dsa": (dsa_line, public_keys.DSA),
    "ed25519": (
        lambda: public_line(ed25519.Ed25519PrivateKey.generate()),
        public_keys.UNSUPPORTED_TYPE_NAMED % {"key_type": "ssh-ed25519"},
    ),
    "certificate": (certificate_line, public_keys.CERTIFICATE),
    "several_keys": (
        lambda: public_line(ec_key()) + "\n" + public_line(ec_key()),
        public_keys.SEVERAL_KEYS % {"count": 2},
    ),
    "options": (lambda: 'from="10.0.0.0/8",command="uptime" ' + public_line(ec_key()), public_keys.OPTIONS),
    "too_large": (lambda: public_line(ec_key(), comment="x" * (16 * 1024)), public_keys.TOO_LARGE),
    "private_key": (lambda: private_pem(ec_key()), public_keys.PRIVATE_KEY),
    "empty": (lambda: "", public_keys.EMPTY),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_refused_key_gets_its_own_sentence_and_nothing_is_recorded_or_sent(alice_client, portal_on_sandbox, case):
    make, sentence = REFUSALS[case]

    response = import_key(alice_client, public_key=make())

    assert response.status_code == 400
    assert page_says(response, str(sentence))
    assert KeyPairRequest.objects.count() == 0
    assert AuditEvent.objects.count() == 0
    assert sent_to_bcc(portal_on_sandbox) == []


@pytest.mark.parametrize("case", ["rsa_1024", "private_key", "too_large"])
def test_a_refused_pub_file_gets_the_same_sentence_as_the_pasted_text(alice_client, portal_on_sandbox, case):
    make, sentence = REFUSALS[case]
    chosen = SimpleUploadedFile("id_rsa.pub", make().encode(), content_type="application/octet-stream")

    response = import_key(alice_client, public_key_file=chosen)

    assert response.status_code == 400
    assert page_says(response, str(sentence))
    assert sent_to_bcc(portal_on_sandbox) == []


def test_a_refused_public_key_is_shown_again_but_a_private_key_never_is(alice_client, portal_on_sandbox):
    small = public_line(rsa_key(1024))
    pem = private_pem(ec_key())

    shown = import_key(alice_client, public_key=small).content.decode()
    hidden = import_key(alice_client, public_key=pem).content.decode()

    assert small.split()[1] in shown
    assert pem.splitlines()[1] not in hidden
    assert "PRIVATE KEY-----" not in hidden


def test_a_pasted_key_is_imported_and_its_page_says_the_private_key_never_passed_through(
    alice, alice_client, portal_on_sandbox
):
    line = public_line(ec_key(), comment="alice@laptop")

    response = import_key(alice_client, public_key=line, name="laptop", description="my laptop")

    keypair_request = KeyPairRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("keypair_detail", kwargs={"public_id": keypair_request.public_id})
    (in_bcc,) = portal_on_sandbox.keypairs()
    assert (in_bcc["name"], in_bcc["description"]) == ("laptop", "my laptop")
    assert in_bcc["publicKey"].split()[:2] == line.split()[:2]
    assert keypair_request.kind == KeyPairRequest.Kind.IMPORT
    assert keypair_request.status == Status.CREATED
    assert keypair_request.keypair_id == in_bcc["keypairId"]
    assert keypair_request.fingerprint_bcc == in_bcc["fingerPrint"]
    assert not Delivery.objects.exists()
    assert audit_trail() == [(Action.IMPORT_REQUESTED, "success"), (Action.IMPORTED, "success")]
    page = alice_client.get(response["Location"]).content.decode()
    assert 'id="imported-note"' in page
    assert "never passed through the portal" in page
    assert 'id="private-key"' not in page
    assert keypair_request.fingerprint_sha256 in page


def test_the_page_an_import_lands_on_says_it_was_imported(alice_client, portal_on_sandbox):
    response = import_key(alice_client, public_key=public_line(ec_key()), name="laptop", region="bj")

    page = alice_client.get(response["Location"]).content.decode()
    assert "Key pair laptop was imported in Beijing (bj)." in page
    assert "was created in" not in page


def test_a_chosen_pub_file_is_imported(alice_client, portal_on_sandbox):
    line = public_line(rsa_key(2048), comment="from a file")
    chosen = SimpleUploadedFile("id_rsa.pub", (line + "\n").encode(), content_type="application/octet-stream")

    response = import_key(alice_client, public_key_file=chosen)

    assert response.status_code == 302
    (in_bcc,) = portal_on_sandbox.keypairs()
    assert in_bcc["publicKey"].split()[:2] == line.split()[:2]


def test_pasting_and_choosing_a_file_at_once_is_refused(alice_client, portal_on_sandbox):
    line = public_line(ec_key())
    chosen = SimpleUploadedFile("id.pub", line.encode())

    response = import_key(alice_client, public_key=line, public_key_file=chosen)

    assert response.status_code == 400
    assert page_says(response, str(PUBLIC_KEY_BOTH))
    assert sent_to_bcc(portal_on_sandbox) == []


def test_a_name_bcc_would_refuse_gets_the_create_forms_sentence_and_shows_what_was_understood(
    alice_client, portal_on_sandbox
):
    line = public_line(ec_key(), comment="work")

    response = import_key(alice_client, public_key=line, name=" web")

    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_name_error"' in page
    assert 'id="key-preview" ' in page and 'id="key-preview" aria-live="polite" hidden' not in page
    assert public_keys.public_key_inspect(line).sha256_fingerprint in page
    assert sent_to_bcc(portal_on_sandbox) == []


def test_a_double_submit_imports_once(alice_client, portal_on_sandbox):
    token = open_import_form(alice_client)
    line = public_line(ec_key())

    first = import_key(alice_client, public_key=line, form_token=token)
    second = import_key(alice_client, public_key=line, form_token=token)

    assert (first.status_code, second.status_code) == (302, 302)
    assert first["Location"] == second["Location"]
    assert len(portal_on_sandbox.keypairs()) == 1
    assert sent_to_bcc(portal_on_sandbox) == ["import"]


def test_someone_elses_form_token_is_refused(alice_client, bob_client, portal_on_sandbox):
    token = open_import_form(alice_client)
    import_key(alice_client, public_key=public_line(ec_key()), form_token=token)

    response = import_key(bob_client, public_key=public_line(ec_key()), form_token=token)

    assert response.status_code == 409
    assert page_says(response, str(import_service.IMPORT_FORM_ALREADY_USED))
    assert len(portal_on_sandbox.keypairs()) == 1


def test_a_key_already_in_one_of_your_key_pairs_links_to_it(alice_client, portal_on_sandbox):
    line = public_line(ec_key())
    import_key(alice_client, public_key=line, name="first")
    first = KeyPairRequest.objects.get(name="first")

    response = import_key(alice_client, public_key=line, name="second")

    assert response.status_code == 409
    assert page_says(response, str(import_service.PUBLIC_KEY_EXISTS_OWN) % {"name": "first"})
    assert reverse("keypair_detail", kwargs={"public_id": first.public_id}) in response.content.decode()
    assert KeyPairRequest.objects.get(name="second").status == Status.FAILED
    assert len(portal_on_sandbox.keypairs()) == 1
    assert audit_trail()[-1] == (Action.IMPORT_FAILED, "failure")


def test_a_key_already_in_someone_elses_key_pair_is_refused_without_naming_it(
    alice_client, bob_client, portal_on_sandbox
):
    line = public_line(ec_key())
    import_key(bob_client, public_key=line, name="bobs-bastion-key")
    bobs = KeyPairRequest.objects.get()

    response = import_key(alice_client, public_key=line, name="mine")

    page = response.content.decode()
    assert response.status_code == 409
    assert page_says(response, str(import_service.PUBLIC_KEY_EXISTS))
    assert "bobs-bastion-key" not in page
    assert str(bobs.public_id) not in page
    assert bobs.keypair_id not in page
    assert 'id="own-keypair-link"' not in page


def test_the_per_user_cap_refuses_an_import_before_bcc_is_called(alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 1
    import_key(alice_client, public_key=public_line(ec_key()), name="one")

    response = import_key(alice_client, public_key=public_line(ec_key()), name="two")

    assert response.status_code == 409
    assert "one person may have at most 1 there" in response.content.decode()
    assert len(portal_on_sandbox.keypairs()) == 1
    assert audit_trail()[-1] == (Action.IMPORT_FAILED, "denied")


def test_the_rate_limit_refuses_an_import_before_bcc_is_called(alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1
    settings.KEYPAIR_CREATE_RATE_WINDOW_SECONDS = 3600
    import_key(alice_client, public_key=public_line(ec_key()), name="one")

    response = import_key(alice_client, public_key=public_line(ec_key()), name="two")

    assert response.status_code == 429
    assert response["Retry-After"]
    assert len(portal_on_sandbox.keypairs()) == 1


def test_a_full_shared_quota_says_so(alice_client, portal_on_sandbox):
    portal_on_sandbox.quota = 0

    response = import_key(alice_client, public_key=public_line(ec_key()))

    assert response.status_code == 409
    assert page_says(response, messages.QUOTA_EXCEEDED.format(region="bj"))
    assert KeyPairRequest.objects.get().status == Status.FAILED


def test_an_import_whose_answer_was_lost_is_found_and_kept(alice_client, portal_on_sandbox):
    portal_on_sandbox.inject("commit_then_drop", operation="import")
    line = public_line(ec_key())

    response = import_key(alice_client, public_key=line, name="dropped")

    keypair_request = KeyPairRequest.objects.get()
    (in_bcc,) = portal_on_sandbox.keypairs()
    assert response.status_code == 302
    assert keypair_request.status == Status.CREATED
    assert keypair_request.keypair_id == in_bcc["keypairId"]
    assert "delete" not in [record.operation for record in portal_on_sandbox.request_log]
    page = alice_client.get(response["Location"])
    assert page_says(page, str(messages.IMPORT_RECONCILED_KEPT))
    assert [action for action, _ in audit_trail()] == [Action.IMPORT_REQUESTED, Action.OUTCOME_UNKNOWN, Action.IMPORTED]


def test_manage_reconcile_keeps_an_import_it_finds_instead_of_deleting_it(alice_client, portal_on_sandbox, settings):
    # The answer is lost, and BCC cannot be asked at once either: cron settles it later.
    token = open_import_form(alice_client)  # the form counts the shared quota with lists of its own
    portal_on_sandbox.inject("commit_then_drop", operation="import")
    portal_on_sandbox.inject("status", operation="list", status=500, count=3)
    response = import_key(alice_client, public_key=public_line(ec_key()), name="late", form_token=token)
    assert response.status_code == 504
    assert KeyPairRequest.objects.get().status == Status.UNKNOWN
    portal_on_sandbox.clear_faults()

    call_command("reconcile", stdout=io.StringIO())

    keypair_request = KeyPairRequest.objects.get()
    (in_bcc,) = portal_on_sandbox.keypairs()
    assert keypair_request.status == Status.CREATED
    assert keypair_request.keypair_id == in_bcc["keypairId"]
    assert "delete" not in [record.operation for record in portal_on_sandbox.request_log]
    assert audit_trail()[-1] == (Action.IMPORTED, "success")


def test_an_import_bcc_never_made_is_settled_as_not_imported(alice_client, portal_on_sandbox, settings):
    portal_on_sandbox.inject("drop", operation="import")

    response = import_key(alice_client, public_key=public_line(ec_key()))
    assert response.status_code == 504
    assert page_says(response, "The portal checks again within a few minutes and keeps the key pair")
    settings.KEYPAIR_RECONCILE_AFTER_SECONDS = 0
    call_command("reconcile", stdout=io.StringIO())

    keypair_request = KeyPairRequest.objects.get()
    assert keypair_request.status == Status.FAILED
    assert keypair_request.error_message == str(messages.IMPORT_NOT_IMPORTED)
    assert portal_on_sandbox.keypairs() == []
    assert audit_trail()[-1] == (Action.IMPORT_FAILED, "failure")


# --- The preview --------------------------------------------------------------------------


def test_the_preview_says_what_the_server_understood(alice_client, portal_on_sandbox):
    line = public_line(rsa_key(2048), comment="alice@laptop")

    response = alice_client.post(PREVIEW_URL, {"public_key": line})

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    understood = public_keys.public_key_inspect(line)
    assert response.json() == {
        "ok": True,
        "key_type": "ssh-rsa",
        "bits": 2048,
        "sha256_fingerprint": understood.sha256_fingerprint,
        "comment": "alice@laptop",
    }
    assert sent_to_bcc(portal_on_sandbox) == []


def test_the_preview_refuses_with_the_same_sentence_and_never_echoes_a_private_key(alice_client):
    pem = private_pem(ec_key())

    response = alice_client.post(PREVIEW_URL, {"public_key": pem})

    assert response.status_code == 400
    assert response.json() == {"ok": False, "code": "private_key", "message": str(public_keys.PRIVATE_KEY)}


def test_the_preview_reads_a_chosen_file(alice_client):
    line = public_line(ec_key())

    response = alice_client.post(PREVIEW_URL, {"public_key_file": SimpleUploadedFile("a.pub", line.encode())})

    assert response.json()["key_type"] == "ecdsa-sha2-nistp256"


def test_the_preview_needs_the_csrf_token(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post(PREVIEW_URL, {"public_key": public_line(ec_key())})

    assert response.status_code == 403


def test_home_and_list_offer_import_next_to_create(alice_client, portal_on_sandbox):
    for url in (reverse("home"), reverse("keypair_list")):
        page = alice_client.get(url).content.decode()
        assert f'href="{reverse("keypair_import")}"' in page
        assert "Import a public key" in page


def test_reconcile_keeps_an_unknown_import_it_finds_in_bcc(alice, portal_on_sandbox, settings):
    # Written without the import view, so that it runs against reconcile.py alone.
    from keypairs.bcc.factory import get_client
    from keypairs.reconcile import reconcile_open

    line = public_line(ec_key())
    inspected = public_keys.public_key_inspect(line)
    get_client("bj").import_keypair(name="lost", public_key=line)
    KeyPairRequest.objects.create(
        owner=alice,
        kind=KeyPairRequest.Kind.IMPORT,
        form_token_hash="f" * 64,
        client_token="c" * 64,
        region="bj",
        name="lost",
        status=Status.UNKNOWN,
        public_key=inspected.openssh_line,
        fingerprint_sha256=inspected.sha256_fingerprint,
    )

    reconcile_open()

    (in_bcc,) = portal_on_sandbox.keypairs()
    keypair_request = KeyPairRequest.objects.get()
    assert keypair_request.status == Status.CREATED
    assert keypair_request.keypair_id == in_bcc["keypairId"]
