"""A second key pair of the same name: BCC allows it, so the create and import forms warn first.

The first submit of a name the person already has, live, in that region comes back with a
warning and a "create anyway" button; nothing reaches BCC until they press it. Another region,
or a key pair of that name they deleted, is no reason to warn.
"""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile

from keypairs.models import KeyPairRequest
from tests.create_flow import CREATE_URL, create, form_token_in, sent_to_bcc
from tests.import_flow import IMPORT_URL, ec_key, import_key, public_line
from tests.people import signed_in

WARNING = 'id="namesake-warning"'


def names_in_bcc(sandbox, region: str = "bj") -> list[str]:
    return sorted(keypair["name"] for keypair in sandbox.keypairs(region=region))


def test_creating_a_second_key_pair_of_a_name_warns_and_sends_nothing_to_bcc(alice_client, portal_on_sandbox):
    first = create(alice_client, name="build-server", region="bj")
    existing = KeyPairRequest.objects.get()
    sent_before = sent_to_bcc(portal_on_sandbox)

    warned = create(alice_client, name="build-server", region="bj")

    page = warned.content.decode()
    assert first.status_code == 302
    assert warned.status_code == 200
    assert WARNING in page
    assert "You already have a key pair named build-server in Beijing (bj)." in page
    assert f'href="/keypairs/{existing.public_id}/"' in page
    assert 'name="duplicate_confirmed" value="1"' in page
    # What was typed stays in the form, to go on or to change the name.
    assert 'value="build-server"' in page
    assert sent_to_bcc(portal_on_sandbox) == sent_before
    assert names_in_bcc(portal_on_sandbox) == ["build-server"]
    assert KeyPairRequest.objects.count() == 1


def test_going_on_after_the_warning_creates_the_second_one(alice_client, portal_on_sandbox):
    create(alice_client, name="build-server", region="bj")
    warned = create(alice_client, name="build-server", region="bj")

    confirmed = alice_client.post(
        CREATE_URL,
        {
            "name": "build-server",
            "description": "",
            "region": "bj",
            "form_token": form_token_in(warned),
            "duplicate_confirmed": "1",
        },
    )

    assert confirmed.status_code == 302
    assert names_in_bcc(portal_on_sandbox) == ["build-server", "build-server"]
    assert KeyPairRequest.objects.filter(status=KeyPairRequest.Status.CREATED).count() == 2
    assert "was created in" in alice_client.get(confirmed["Location"]).content.decode()


def test_the_same_name_in_another_region_is_not_warned_about(alice_client, portal_on_sandbox):
    create(alice_client, name="build-server", region="bj")

    response = create(alice_client, name="build-server", region="gz")

    assert response.status_code == 302
    assert names_in_bcc(portal_on_sandbox, "gz") == ["build-server"]


def test_another_persons_key_pair_of_that_name_is_not_warned_about(alice_client, portal_on_sandbox, bob):
    create(signed_in(bob), name="build-server", region="bj")

    response = create(alice_client, name="build-server", region="bj")

    assert response.status_code == 302
    assert names_in_bcc(portal_on_sandbox) == ["build-server", "build-server"]


def test_importing_a_second_key_pair_of_a_name_warns_then_imports_the_same_key(alice_client, portal_on_sandbox):
    import_key(alice_client, public_key=public_line(ec_key()), name="laptop", region="bj")
    sent_before = sent_to_bcc(portal_on_sandbox)
    line = public_line(ec_key(), comment="second laptop")
    chosen = SimpleUploadedFile("id_ecdsa.pub", (line + "\n").encode(), content_type="application/octet-stream")

    warned = import_key(alice_client, public_key_file=chosen, name="laptop", region="bj")

    page = warned.content.decode()
    assert warned.status_code == 200
    assert WARNING in page
    assert "Import it anyway" in page
    assert sent_to_bcc(portal_on_sandbox) == sent_before
    # The chosen file does not survive the page: its key goes on in the text field.
    carried = re.search(r'<textarea name="public_key"[^>]*>\s*([^<]*)</textarea>', page).group(1).strip()
    assert carried == line

    confirmed = alice_client.post(
        IMPORT_URL,
        {
            "name": "laptop",
            "description": "",
            "region": "bj",
            "form_token": form_token_in(warned),
            "public_key": carried,
            "duplicate_confirmed": "1",
        },
    )

    assert confirmed.status_code == 302
    assert names_in_bcc(portal_on_sandbox) == ["laptop", "laptop"]
    newest = KeyPairRequest.objects.order_by("-created_at").first()
    assert newest.public_key.split()[:2] == line.split()[:2]


def test_a_confirmed_form_submitted_again_lands_on_its_key_pair_without_a_warning(alice_client, portal_on_sandbox):
    create(alice_client, name="build-server", region="bj")
    warned = create(alice_client, name="build-server", region="bj")
    form = {"name": "build-server", "description": "", "region": "bj", "form_token": form_token_in(warned)}
    confirmed = alice_client.post(CREATE_URL, {**form, "duplicate_confirmed": "1"})

    # A reload of the first submit's page, say: its token is spent, and it names the second key pair.
    again = alice_client.post(CREATE_URL, form)

    assert again.status_code == 302
    assert again["Location"] == confirmed["Location"]
    assert names_in_bcc(portal_on_sandbox) == ["build-server", "build-server"]
