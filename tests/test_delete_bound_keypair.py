"""Deleting a key pair bound to instances: unbind it from all of them, then delete it.

Alice's key pair is made through the create form in the BCC sandbox (real HTTP) and bound there
to Linux instances. The delete page lists them and offers "Unbind from all N instances, then
delete", behind an explicit confirmation. An instance BCC will not unbind (one that is starting)
stops the delete: the key pair stays, and the page says which instance still holds it.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import escape

from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, InstanceBinding, KeyPairRequest
from keypairs.services import unbind_then_delete
from keypairs.services.delete import DELETED, PRIVATE_KEY_ERASED
from keypairs.views_life import CONFIRM_UNBIND
from tests.create_flow import create, page_says, the_request
from tests.sandbox_instances import linux_instances

Status = KeyPairRequest.Status
STEPS = ("unbind_requested", "unbound", "unbind_failed", "delete_requested", "deleted", "delete_failed")


def delete_url(keypair_request: KeyPairRequest) -> str:
    return reverse("keypair_delete", kwargs={"public_id": keypair_request.public_id})


def bound_keypair(client, sandbox, *instance_ids: str) -> KeyPairRequest:
    assert create(client, name="build-server").status_code == 302
    keypair_request = the_request()
    linux_instances(sandbox, "bj", ids=list(instance_ids), name="web")
    get_client("bj").attach_keypair(keypair_request.keypair_id, instance_ids=list(instance_ids))
    return keypair_request


def holders() -> dict[str, str | None]:
    return {instance.instance_id: instance.keypair_id for instance in get_client("bj").list_instances()}


def steps_audited() -> list[tuple[str, str, str]]:
    rows = AuditEvent.objects.filter(action__in=STEPS).order_by("id")
    return list(rows.values_list("action", "actor_username", "detail"))


def test_the_page_lists_the_instances_and_offers_to_unbind_from_all_of_them(alice_client, portal_on_sandbox):
    keypair_request = bound_keypair(alice_client, portal_on_sandbox, "i-web1", "i-web2")
    linux_instances(portal_on_sandbox, "bj", ids=["i-other"], name="db")  # holds no key pair: not listed

    response = alice_client.get(delete_url(keypair_request))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="bound-instance"') == 2
    assert "<code>i-web1</code>" in page and "<code>i-web2</code>" in page and "i-other" not in page
    assert "web-1" in page and "Running" in page
    assert "Unbind from all 2 instances, then delete" in page
    assert 'id="confirm-delete-button"' not in page  # a plain delete would only be refused


def test_unbind_all_then_delete_frees_every_instance_and_deletes_the_key_pair(alice_client, portal_on_sandbox):
    keypair_request = bound_keypair(alice_client, portal_on_sandbox, "i-web1", "i-web2")

    response = alice_client.post(delete_url(keypair_request), {"unbind_all": "yes", "confirm": "yes"}, follow=True)

    assert response.status_code == 200
    assert page_says(response, f"{DELETED.format(name='build-server')} {PRIVATE_KEY_ERASED}")
    assert holders() == {"i-web1": None, "i-web2": None}
    assert portal_on_sandbox.keypairs() == []
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.DELETED
    assert steps_audited() == [
        ("unbind_requested", "alice", "instances: i-web1, i-web2 (before deleting the key pair)"),
        ("unbound", "alice", "instances: i-web1, i-web2 (before deleting the key pair)"),
        ("delete_requested", "alice", ""),
        ("deleted", "alice", "deleted in BCC; private key waiting for download erased"),
    ]


def test_without_the_confirmation_nothing_is_unbound(alice_client, portal_on_sandbox):
    keypair_request = bound_keypair(alice_client, portal_on_sandbox, "i-web1")

    response = alice_client.post(delete_url(keypair_request), {"unbind_all": "yes"})

    assert response.status_code == 400
    assert page_says(response, CONFIRM_UNBIND)
    assert holders() == {"i-web1": keypair_request.keypair_id}
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.CREATED
    assert steps_audited() == []


def test_an_instance_bcc_does_not_unbind_stops_before_the_delete_and_is_named(alice_client, portal_on_sandbox):
    keypair_request = bound_keypair(alice_client, portal_on_sandbox, "i-web1", "i-web2")
    portal_on_sandbox.set_instance_status("i-web2", "Starting", region="bj")  # BCC refuses to unbind it now

    response = alice_client.post(delete_url(keypair_request), {"unbind_all": "yes", "confirm": "yes"})

    assert response.status_code == 409
    assert page_says(response, unbind_then_delete.STILL_BOUND.format(instances="i-web2"))
    # The page now lists the one instance left, to try again.
    assert response.content.decode().count('class="bound-instance"') == 1
    assert "Unbind from 1 instance, then delete" in response.content.decode()
    assert holders() == {"i-web1": None, "i-web2": keypair_request.keypair_id}
    assert len(portal_on_sandbox.keypairs()) == 1
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.CREATED
    assert [action for action, _, _ in steps_audited()] == ["unbind_requested", "unbound", "unbind_failed"]

    portal_on_sandbox.set_instance_status("i-web2", "Running", region="bj")
    again = alice_client.post(delete_url(keypair_request), {"unbind_all": "yes", "confirm": "yes"})

    assert again.status_code == 302
    assert holders() == {"i-web1": None, "i-web2": None}
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.DELETED


def test_bcc_refusing_the_unbind_outright_deletes_nothing_and_says_so(alice_client, portal_on_sandbox):
    keypair_request = bound_keypair(alice_client, portal_on_sandbox, "i-web1")
    portal_on_sandbox.inject("status", status=500, operation="detach")

    response = alice_client.post(delete_url(keypair_request), {"unbind_all": "yes", "confirm": "yes"})

    assert response.status_code == 502
    assert "The key pair was not deleted." in response.content.decode()
    assert holders() == {"i-web1": keypair_request.keypair_id}
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.CREATED
    assert [action for action, _, _ in steps_audited()] == ["unbind_requested", "unbind_failed"]


def test_the_portals_own_bindings_of_it_end(alice, alice_client, portal_on_sandbox):
    keypair_request = bound_keypair(alice_client, portal_on_sandbox, "i-web1")
    InstanceBinding.objects.create(
        keypair_request=keypair_request, region="bj", instance_id="i-web1", instance_name="web", bound_by=alice
    )

    assert alice_client.post(delete_url(keypair_request), {"unbind_all": "yes", "confirm": "yes"}).status_code == 302

    binding = InstanceBinding.objects.get()
    assert (binding.state, binding.ended_at is not None) == (InstanceBinding.State.UNBOUND, True)


def test_another_persons_bound_key_pair_does_not_exist_for_bob(alice_client, bob_client, portal_on_sandbox):
    keypair_request = bound_keypair(alice_client, portal_on_sandbox, "i-web1")

    response = bob_client.post(delete_url(keypair_request), {"unbind_all": "yes", "confirm": "yes"})

    assert response.status_code == 404
    assert holders() == {"i-web1": keypair_request.keypair_id}
    assert steps_audited() == []


def test_the_confirmation_sentence_is_escaped_like_every_other(alice_client, portal_on_sandbox):
    keypair_request = bound_keypair(alice_client, portal_on_sandbox, "i-web1")
    page = alice_client.get(delete_url(keypair_request)).content.decode()
    assert escape("I understand: this key pair stops working on this instance.") in page


def test_instances_bcc_cannot_list_unbind_nothing_and_delete_nothing(alice_client, portal_on_sandbox):
    keypair_request = bound_keypair(alice_client, portal_on_sandbox, "i-web1")
    portal_on_sandbox.inject("status", status=500, operation="list_instances", count=3)

    response = alice_client.post(delete_url(keypair_request), {"unbind_all": "yes", "confirm": "yes"})

    portal_on_sandbox.clear_faults()
    assert response.status_code == 503
    assert "BCC could not say which instances hold this key pair" in response.content.decode()
    assert holders() == {"i-web1": keypair_request.keypair_id}
    keypair_request.refresh_from_db()
    assert keypair_request.status == Status.CREATED
    failed = AuditEvent.objects.get(action="delete_failed")
    assert failed.detail.startswith("the instances holding it could not be listed")
    assert [action for action, _, _ in steps_audited()] == ["delete_failed"]
