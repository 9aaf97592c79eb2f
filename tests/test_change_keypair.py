"""Renaming a key pair and changing its description (keypairs/views_life.py, keypairs/services/change.py).

Through the edit form as Alice uses it, against the BCC sandbox over real HTTP. The rules and
messages are the create form's; BCC's ``?rename`` and ``?updateDesc`` make the change, and the
audit log keeps the old and the new value.
"""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from keypairs import validation
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.services import change
from tests.create_flow import closed_port, create, page_says, sent_to_bcc, the_request


def edit_url(keypair_request: KeyPairRequest) -> str:
    return reverse("keypair_change", kwargs={"public_id": keypair_request.public_id})


def alices_keypair(client: Client) -> KeyPairRequest:
    response = create(client, name="build-server", description="CI runners")
    assert response.status_code == 302
    return the_request()


def in_bcc(sandbox) -> tuple[str, str]:
    (keypair,) = sandbox.keypairs()
    return keypair["name"], keypair["description"]


def changes_audited() -> list[tuple[str, str, str]]:
    actions = ["renamed", "description_changed", "change_failed"]
    return list(AuditEvent.objects.filter(action__in=actions).order_by("id").values_list("action", "outcome", "detail"))


def test_the_form_starts_with_the_current_name_and_description(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)

    response = alice_client.get(edit_url(keypair_request))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="build-server"' in page
    assert 'value="CI runners"' in page
    assert "data-rules" in page  # the create form's live hints


def test_renaming_changes_the_name_in_bcc_and_in_the_record_and_audits_both_names(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)

    response = alice_client.post(edit_url(keypair_request), {"name": "web-2", "description": "CI runners"})

    assert response.status_code == 302
    assert response["Location"] == reverse("keypair_detail", kwargs={"public_id": keypair_request.public_id})
    assert in_bcc(portal_on_sandbox) == ("web-2", "CI runners")
    keypair_request.refresh_from_db()
    assert keypair_request.name == "web-2"
    assert changes_audited() == [("renamed", "success", 'name "build-server" -> "web-2"')]
    # Only the rename was sent: the description did not change.
    assert sent_to_bcc(portal_on_sandbox)[-1:] == ["rename"]
    assert "update_description" not in sent_to_bcc(portal_on_sandbox)
    assert page_says(alice_client.get(response["Location"]), change.CHANGED.format(name="web-2"))


def test_changing_the_description_alone_makes_one_call_and_audits_old_and_new(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)

    response = alice_client.post(edit_url(keypair_request), {"name": "build-server", "description": ""})

    assert response.status_code == 302
    assert in_bcc(portal_on_sandbox) == ("build-server", "")
    keypair_request.refresh_from_db()
    assert keypair_request.description == ""
    assert changes_audited() == [("description_changed", "success", 'description "CI runners" -> ""')]
    assert "rename" not in sent_to_bcc(portal_on_sandbox)


def test_both_changed_makes_both_calls(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)

    alice_client.post(edit_url(keypair_request), {"name": "web-2", "description": "web servers"})

    assert in_bcc(portal_on_sandbox) == ("web-2", "web servers")
    assert [row[0] for row in changes_audited()] == ["renamed", "description_changed"]


def test_nothing_changed_sends_nothing(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    sent_before = sent_to_bcc(portal_on_sandbox)

    response = alice_client.post(edit_url(keypair_request), {"name": "build-server", "description": "CI runners"})

    assert response.status_code == 302
    assert sent_to_bcc(portal_on_sandbox) == sent_before
    assert page_says(alice_client.get(response["Location"]), change.NOTHING_CHANGED)
    assert changes_audited() == []


def test_an_invalid_name_gets_the_create_forms_message_and_nothing_is_sent(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    sent_before = sent_to_bcc(portal_on_sandbox)

    response = alice_client.post(edit_url(keypair_request), {"name": "9 lives", "description": "CI runners"})

    assert response.status_code == 400
    assert page_says(response, validation.NAME_MUST_START_WITH_LETTER)
    assert page_says(response, "The name may not contain ' ' (space).")
    assert sent_to_bcc(portal_on_sandbox) == sent_before
    keypair_request.refresh_from_db()
    assert keypair_request.name == "build-server"
    assert changes_audited() == []


def test_a_description_too_long_gets_the_create_forms_message(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)

    response = alice_client.post(edit_url(keypair_request), {"name": "build-server", "description": "x" * 141})

    assert response.status_code == 400
    assert page_says(response, validation.DESCRIPTION_TOO_LONG.format(limit=140, length=141))
    assert in_bcc(portal_on_sandbox) == ("build-server", "CI runners")


def test_a_rename_bcc_refuses_changes_nothing_and_is_audited(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    portal_on_sandbox.inject("status", status=400, operation="rename")

    response = alice_client.post(edit_url(keypair_request), {"name": "web-2", "description": "CI runners"})

    assert response.status_code == 502
    assert page_says(response, change.REFUSED.format(code="InvalidHTTPRequest"))
    assert in_bcc(portal_on_sandbox) == ("build-server", "CI runners")
    keypair_request.refresh_from_db()
    assert keypair_request.name == "build-server"
    ((action, outcome, detail),) = changes_audited()
    assert (action, outcome) == ("change_failed", "failure")
    assert detail.endswith('name "build-server" -> "web-2"')
    assert AuditEvent.objects.get(action="change_failed").bcc_error_code == "InvalidHTTPRequest"
    # The form keeps what Alice typed.
    assert 'value="web-2"' in response.content.decode()


def test_a_rename_that_stood_is_said_when_the_description_then_fails(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    portal_on_sandbox.inject("status", status=403, operation="update_description")  # AccessDenied: not retried

    response = alice_client.post(edit_url(keypair_request), {"name": "web-2", "description": "web servers"})

    assert response.status_code == 502
    page = response.content.decode()
    assert str(change.RENAMED_ONLY) in page
    assert in_bcc(portal_on_sandbox) == ("web-2", "CI runners")
    keypair_request.refresh_from_db()
    assert (keypair_request.name, keypair_request.description) == ("web-2", "CI runners")
    assert [row[:2] for row in changes_audited()] == [("renamed", "success"), ("change_failed", "failure")]


def test_a_key_pair_gone_from_bcc_is_said_so(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    get_client("bj").delete_keypair(keypair_request.keypair_id)

    response = alice_client.post(edit_url(keypair_request), {"name": "web-2", "description": "CI runners"})

    assert response.status_code == 409
    assert page_says(response, change.GONE)
    keypair_request.refresh_from_db()
    assert keypair_request.name == "build-server"


def test_bcc_down_changes_nothing(alice_client, portal_on_sandbox, settings):
    keypair_request = alices_keypair(alice_client)
    settings.BCC_ENDPOINT = f"http://127.0.0.1:{closed_port()}/{{region}}"

    response = alice_client.post(edit_url(keypair_request), {"name": "web-2", "description": "CI runners"})

    assert response.status_code == 503
    assert page_says(response, change.UNAVAILABLE.format(reason="could not connect to BCC"))
    keypair_request.refresh_from_db()
    assert keypair_request.name == "build-server"


def test_bob_gets_a_404_and_nothing_changes(alice_client, bob_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    sent_before = sent_to_bcc(portal_on_sandbox)

    looked = bob_client.get(edit_url(keypair_request))
    posted = bob_client.post(edit_url(keypair_request), {"name": "bobs", "description": ""})

    assert (looked.status_code, posted.status_code) == (404, 404)
    assert sent_to_bcc(portal_on_sandbox) == sent_before
    assert in_bcc(portal_on_sandbox) == ("build-server", "CI runners")
    assert changes_audited() == []


def test_a_change_without_the_csrf_token_is_refused(alice, alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)

    response = strict.post(edit_url(keypair_request), {"name": "web-2", "description": "CI runners"})

    assert response.status_code == 403
    assert in_bcc(portal_on_sandbox) == ("build-server", "CI runners")


def test_a_deleted_key_pair_cannot_be_renamed(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    alice_client.post(reverse("keypair_delete", kwargs={"public_id": keypair_request.public_id}))
    sent_before = sent_to_bcc(portal_on_sandbox)

    looked = alice_client.get(edit_url(keypair_request))
    posted = alice_client.post(edit_url(keypair_request), {"name": "web-2", "description": ""})

    assert 'id="change-form"' not in looked.content.decode()
    assert posted.status_code == 409
    assert page_says(posted, change.NOT_IN_BCC)
    assert sent_to_bcc(portal_on_sandbox) == sent_before
