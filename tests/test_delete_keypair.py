"""Deleting a key pair from the portal (keypairs/views_life.py, keypairs/services/delete.py).

Alice creates her key pair through the create form, against the BCC sandbox over real HTTP, then
deletes it through the confirmation page. Bob is another developer: Alice's key pair does not
exist for him.
"""

from __future__ import annotations

from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from keypairs import limits
from keypairs.bcc.factory import get_client
from keypairs.delivery import MESSAGE_EXPIRED
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from keypairs.services import delete
from tests.create_flow import audit_trail, closed_port, create, page_says, sent_to_bcc, the_request
from tests.sandbox_instances import linux_instances

Status = KeyPairRequest.Status


def delete_url(keypair_request: KeyPairRequest) -> str:
    return reverse("keypair_delete", kwargs={"public_id": keypair_request.public_id})


def detail_url(keypair_request: KeyPairRequest) -> str:
    return reverse("keypair_detail", kwargs={"public_id": keypair_request.public_id})


def alices_keypair(client: Client) -> KeyPairRequest:
    response = create(client, name="build-server")
    assert response.status_code == 302
    return the_request()


def deletes_audited() -> list[tuple[str, str, str, str]]:
    return list(
        AuditEvent.objects.filter(action__startswith="delete")
        .order_by("id")
        .values_list("action", "outcome", "actor_username", "detail")
    )


# --- The confirmation page ----------------------------------------------------------------------


def test_the_confirmation_page_says_what_is_deleted_and_what_deleting_means(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)

    response = alice_client.get(delete_url(keypair_request))

    assert response.status_code == 200
    page = response.content.decode()
    assert keypair_request.keypair_id in page
    assert "Beijing (bj)" in page
    assert "BCC says it is bound to 0 instances." in page
    assert escape("nobody can use this key pair to sign in to a new instance; instances it is bound to keep it") in page
    assert 'id="confirm-delete-button"' in page
    assert response["Cache-Control"].startswith("max-age=0")
    # Looking changes nothing.
    assert len(portal_on_sandbox.keypairs()) == 1
    assert deletes_audited() == []


def test_the_confirmation_page_counts_the_instances_bcc_says_it_is_bound_to(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1", "i-web2"])
    get_client("bj").attach_keypair(keypair_request.keypair_id, instance_ids=["i-web1", "i-web2"])

    response = alice_client.get(delete_url(keypair_request))

    assert "BCC says it is bound to 2 instances." in response.content.decode()


def test_the_confirmation_page_still_offers_the_delete_when_bcc_cannot_be_asked(
    alice_client, portal_on_sandbox, settings
):
    keypair_request = alices_keypair(alice_client)
    settings.BCC_ENDPOINT = f"http://127.0.0.1:{closed_port()}/{{region}}"

    response = alice_client.get(delete_url(keypair_request))

    assert response.status_code == 200
    page = response.content.decode()
    assert "BCC could not be reached at" in page
    assert "You can still try to delete it." in page
    assert 'id="confirm-delete-button"' in page


# --- Deleting -------------------------------------------------------------------------------------


def test_deleting_removes_it_from_bcc_records_its_end_and_erases_the_waiting_private_key(
    alice_client, portal_on_sandbox
):
    keypair_request = alices_keypair(alice_client)
    assert Delivery.objects.get(request=keypair_request).ciphertext is not None

    response = alice_client.post(delete_url(keypair_request))

    assert response.status_code == 302
    assert response["Location"] == detail_url(keypair_request)
    assert portal_on_sandbox.keypairs() == []
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.DELETED
    assert keypair_request.deleted_at is not None
    delivery = Delivery.objects.get(request=keypair_request)
    assert (delivery.ciphertext, delivery.wiped_at is not None) == (None, True)
    assert deletes_audited() == [
        ("delete_requested", "success", "alice", ""),
        ("deleted", "success", "alice", delete.DETAIL_DELETED + delete.DETAIL_KEY_ERASED),
    ]
    assert AuditEvent.objects.get(action="deleted").keypair_id == keypair_request.keypair_id
    page = alice_client.get(detail_url(keypair_request))
    assert page_says(page, f"{delete.DELETED.format(name='build-server')} {delete.PRIVATE_KEY_ERASED}")
    assert 'id="deleted-note"' in page.content.decode()
    assert 'id="download-button"' not in page.content.decode()
    # A deleted key pair cannot be downloaded any more.
    assert (
        alice_client.post(reverse("keypair_download", kwargs={"public_id": keypair_request.public_id})).status_code
        == 410
    )


def test_a_key_pair_bound_to_instances_is_not_deleted_and_the_page_says_to_how_many(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1", "i-web2"])
    get_client("bj").attach_keypair(keypair_request.keypair_id, instance_ids=["i-web1", "i-web2"])

    response = alice_client.post(delete_url(keypair_request))

    assert response.status_code == 409
    page = response.content.decode()
    assert "it is bound to 2 instances, and must be unbound from them first" in page
    assert escape(str(delete.IN_USE_NEXT)) in page
    assert 'id="unbind-delete-button"' in page  # the page offers the way out
    assert len(portal_on_sandbox.keypairs()) == 1
    keypair_request.refresh_from_db()
    assert (keypair_request.status, keypair_request.deleted_at) == (Status.CREATED, None)
    assert Delivery.objects.get(request=keypair_request).ciphertext is not None
    failed = AuditEvent.objects.get(action="delete_failed")
    assert (failed.outcome, failed.bcc_error_code, failed.detail) == (
        "failure",
        "Keypair.DeleteKeypairInUse",
        "bound to instances: 2",
    )


def test_a_key_pair_already_gone_from_bcc_is_recorded_deleted_and_that_is_no_error(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    get_client("bj").delete_keypair(keypair_request.keypair_id)  # in the BCC console, say

    response = alice_client.post(delete_url(keypair_request), follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(detail_url(keypair_request), 302)]
    assert page_says(response, delete.ALREADY_GONE.format(name="build-server"))
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.DELETED
    assert deletes_audited()[-1] == (
        "deleted",
        "success",
        "alice",
        delete.DETAIL_ALREADY_GONE + delete.DETAIL_KEY_ERASED,
    )


def test_bcc_down_changes_nothing_and_says_the_delete_can_be_tried_again(alice_client, portal_on_sandbox, settings):
    keypair_request = alices_keypair(alice_client)
    settings.BCC_ENDPOINT = f"http://127.0.0.1:{closed_port()}/{{region}}"

    response = alice_client.post(delete_url(keypair_request))

    assert response.status_code == 503
    assert page_says(response, delete.UNAVAILABLE.format(reason="could not connect to BCC"))
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.CREATED
    assert Delivery.objects.get(request=keypair_request).ciphertext is not None
    assert [row[:2] for row in deletes_audited()] == [("delete_requested", "success"), ("delete_failed", "failure")]
    assert len(portal_on_sandbox.keypairs()) == 1


def test_a_delete_without_an_answer_can_be_tried_again_and_then_ends_the_key_pair(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    portal_on_sandbox.inject("commit_then_drop", operation="delete")  # BCC deleted it; the answer was lost

    lost = alice_client.post(delete_url(keypair_request))
    keypair_request.refresh_from_db()
    status_after_the_lost_answer = keypair_request.status
    again = alice_client.post(delete_url(keypair_request))

    assert lost.status_code == 504
    assert page_says(lost, delete.NO_ANSWER)
    assert status_after_the_lost_answer == Status.CREATED
    assert again.status_code == 302
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.DELETED
    assert [row[0] for row in deletes_audited()] == ["delete_requested", "delete_failed", "delete_requested", "deleted"]


def test_deleting_twice_is_refused_without_calling_bcc(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    alice_client.post(delete_url(keypair_request))
    sent_before = sent_to_bcc(portal_on_sandbox)

    response = alice_client.post(delete_url(keypair_request))

    assert response.status_code == 409
    assert page_says(response, delete.ALREADY_DELETED)
    assert sent_to_bcc(portal_on_sandbox) == sent_before


# --- Who may delete, and how ----------------------------------------------------------------------


def test_bob_gets_a_404_for_alices_key_pair_and_nothing_changes(alice_client, bob_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    sent_before = sent_to_bcc(portal_on_sandbox)

    looked = bob_client.get(delete_url(keypair_request))
    posted = bob_client.post(delete_url(keypair_request))

    assert (looked.status_code, posted.status_code) == (404, 404)
    assert b"build-server" not in looked.content + posted.content
    assert sent_to_bcc(portal_on_sandbox) == sent_before
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.CREATED
    assert deletes_audited() == []


def test_a_delete_without_the_csrf_token_is_refused(alice, portal_on_sandbox):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    keypair_request = alices_keypair(client_with_token(client))

    response = client.post(delete_url(keypair_request))

    assert response.status_code == 403
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.CREATED
    assert len(portal_on_sandbox.keypairs()) == 1


def client_with_token(client: Client) -> Client:
    """The same signed-in session, through a client that does not enforce CSRF (to create the key pair)."""
    other = Client()
    other.cookies = client.cookies
    return other


def test_a_delete_only_answers_get_and_post(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)

    assert alice_client.put(delete_url(keypair_request)).status_code == 405
    assert alice_client.delete(delete_url(keypair_request)).status_code == 405
    assert len(portal_on_sandbox.keypairs()) == 1


# --- Where the portal offers it ----------------------------------------------------------------------


def test_the_detail_page_offers_rename_and_delete_to_the_owner(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)

    page = alice_client.get(detail_url(keypair_request)).content.decode()

    assert f'href="{delete_url(keypair_request)}"' in page
    assert f'href="{reverse("keypair_change", kwargs={"public_id": keypair_request.public_id})}"' in page
    assert "use the BCC console" not in page


def test_after_i_did_not_download_this_the_page_offers_deleting_at_once(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    alice_client.post(reverse("keypair_download", kwargs={"public_id": keypair_request.public_id}))
    alice_client.post(reverse("keypair_report", kwargs={"public_id": keypair_request.public_id}), {"confirm": "yes"})

    page = alice_client.get(detail_url(keypair_request)).content.decode()

    assert f'<a class="button" href="{delete_url(keypair_request)}" id="reported-delete-link">' in page
    assert "key pair in BCC" not in page  # the old advice sent people to a console they cannot reach


def test_an_expired_key_links_to_the_portals_delete(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)
    Delivery.objects.filter(request=keypair_request).update(ciphertext=None, wiped_at=keypair_request.created_at)

    page = alice_client.get(detail_url(keypair_request)).content.decode()
    refused = alice_client.post(reverse("keypair_download", kwargs={"public_id": keypair_request.public_id}))

    assert f'<a href="{delete_url(keypair_request)}">Delete this key pair</a>' in page
    assert "key pair in BCC" not in page  # the old advice sent people to a console they cannot reach
    assert page_says(refused, MESSAGE_EXPIRED)
    assert "in BCC" not in str(MESSAGE_EXPIRED)


# --- The per-user cap ------------------------------------------------------------------------------


def test_deleting_a_key_pair_frees_its_place_under_the_cap_at_once(alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 1
    keypair_request = alices_keypair(alice_client)

    refused = create(alice_client, name="second")
    alice_client.post(delete_url(keypair_request))
    allowed = create(alice_client, name="second")

    assert refused.status_code == 409
    assert limits.cap_sentence(count=1, limit=1, region="bj") in refused.content.decode()
    assert '<a href="/keypairs/">My key pairs</a>' in refused.content.decode()
    assert "operators" not in refused.content.decode()
    assert allowed.status_code == 302
    assert [keypair["name"] for keypair in portal_on_sandbox.keypairs()] == ["second"]


def test_audit_rows_of_a_delete_carry_who_and_where_and_nothing_secret(alice_client, portal_on_sandbox):
    keypair_request = alices_keypair(alice_client)

    response = alice_client.post(delete_url(keypair_request), HTTP_USER_AGENT="Delete-Test/1.0")

    for event in AuditEvent.objects.filter(action__in=["delete_requested", "deleted"]):
        assert (event.region, event.keypair_name, event.user_agent) == ("bj", "build-server", "Delete-Test/1.0")
        assert event.portal_request_id == response["X-Request-ID"]
        assert "PRIVATE KEY" not in event.detail
    assert audit_trail()[-2:] == [("delete_requested", "success"), ("deleted", "success")]
