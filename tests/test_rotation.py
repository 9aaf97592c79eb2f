"""Guided rotation (keypairs/services/rotation.py, keypairs/views_rotation.py): replace a key pair on its instances.

Alice's old key pair is made in the BCC sandbox (real HTTP) and bound to Linux instances there;
she creates the new one through the create form. The rotation page binds the new one wherever
the old one is bound (replacing it there), then deletes the old one. An instance BCC will not bind
(one that is starting) stops it before the delete; the page then shows which instances already
hold the new key pair, and continuing finishes the job.
"""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from keypairs.audit import Origin
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, InstanceBinding, KeyPairRequest
from keypairs.services import rotation
from keypairs.services.binding import TargetInstance, keypair_bind
from keypairs.views_rotation import CONFIRM
from tests.create_flow import create, page_says
from tests.offboarding_world import made
from tests.sandbox_instances import linux_instances

Status = KeyPairRequest.Status
STEPS = ("bind_requested", "bound", "bind_failed", "replaced_on_instance", "delete_requested", "deleted")


def rotate_url(keypair_request: KeyPairRequest) -> str:
    return reverse("keypair_rotate", kwargs={"public_id": keypair_request.public_id})


def old_and_new(alice, alice_client, sandbox, *instance_ids: str) -> tuple[KeyPairRequest, KeyPairRequest]:
    old = made(alice, "old-key")
    linux_instances(sandbox, "bj", ids=list(instance_ids), name="web")
    get_client("bj").attach_keypair(old.keypair_id, instance_ids=list(instance_ids))
    assert create(alice_client, name="new-key").status_code == 302
    return old, KeyPairRequest.objects.get(name="new-key")


def holders() -> dict[str, str | None]:
    return {instance.instance_id: instance.keypair_id for instance in get_client("bj").list_instances()}


def steps_audited() -> list[tuple[str, str, str]]:
    rows = AuditEvent.objects.filter(action__in=STEPS).order_by("id")
    return list(rows.values_list("action", "keypair_name", "detail"))


def rotate(client, old, new, **extra):
    return client.post(rotate_url(old), {"new": str(new.public_id), "confirm": "yes", **extra})


def test_the_detail_page_of_a_bound_key_pair_offers_the_rotation(alice, alice_client, portal_on_sandbox):
    old, new = old_and_new(alice, alice_client, portal_on_sandbox, "i-web1")

    bound_page = alice_client.get(reverse("keypair_detail", kwargs={"public_id": old.public_id})).content.decode()
    unbound_page = alice_client.get(reverse("keypair_detail", kwargs={"public_id": new.public_id})).content.decode()

    assert 'id="rotate-link"' in bound_page and 'id="rotate-link"' not in unbound_page
    page = alice_client.get(rotate_url(old)).content.decode()
    assert "<code>i-web1</code>" in page and "this key pair: to replace" in page
    assert f'<option value="{new.public_id}">new-key ({new.keypair_id})</option>' in page


def test_rotation_binds_the_new_key_pair_everywhere_then_deletes_the_old_one(
    alice, alice_client, portal_on_sandbox, smtp_server
):
    old, new = old_and_new(alice, alice_client, portal_on_sandbox, "i-web1", "i-web2")

    response = rotate(alice_client, old, new)

    assert response.status_code == 302
    assert response["Location"] == reverse("keypair_detail", kwargs={"public_id": new.public_id})
    assert holders() == {"i-web1": new.keypair_id, "i-web2": new.keypair_id}
    assert [keypair["keypairId"] for keypair in portal_on_sandbox.keypairs()] == [new.keypair_id]
    old.refresh_from_db()
    assert old.status == Status.DELETED
    assert steps_audited() == [
        ("bind_requested", "new-key", "instances: i-web1, i-web2"),
        ("bound", "new-key", "instances: i-web1, i-web2"),
        ("replaced_on_instance", "old-key", f"replaced on i-web1, i-web2 by {new.keypair_id}"),
        ("delete_requested", "old-key", ""),
        ("deleted", "old-key", "deleted in BCC; private key waiting for download erased"),
    ]
    # She replaced her own key pair: nobody is mailed about it.
    assert smtp_server.mails_to("alice@example.com") == []
    page = alice_client.get(response["Location"])
    assert page_says(page, "new-key now holds 2 instances in place of old-key")


def test_a_step_that_fails_stops_before_the_delete_and_the_rotation_continues_later(
    alice, alice_client, portal_on_sandbox
):
    old, new = old_and_new(alice, alice_client, portal_on_sandbox, "i-web1", "i-web2")
    portal_on_sandbox.set_instance_status("i-web2", "Starting", region="bj")  # BCC refuses to bind it now

    stopped = rotate(alice_client, old, new)

    assert stopped.status_code == 409
    assert page_says(stopped, rotation.STOPPED.format(name="new-key", instances="i-web2"))
    assert holders() == {"i-web1": new.keypair_id, "i-web2": old.keypair_id}
    old.refresh_from_db()
    assert old.status == Status.CREATED
    assert [action for action, _, _ in steps_audited()] == [
        "bind_requested",
        "bound",
        "bind_failed",
        "replaced_on_instance",
    ]

    progress = alice_client.get(rotate_url(old), {"new": str(new.public_id)}).content.decode()
    assert progress.count('class="rotated-instance"') == 1 and progress.count('class="to-rotate-instance"') == 1
    assert "Continue: replace it on the rest, then delete it" in progress

    portal_on_sandbox.set_instance_status("i-web2", "Running", region="bj")
    finished = rotate(alice_client, old, new)

    assert finished.status_code == 302
    assert holders() == {"i-web1": new.keypair_id, "i-web2": new.keypair_id}
    old.refresh_from_db()
    assert old.status == Status.DELETED
    assert [action for action, _, _ in steps_audited()][4:] == [
        "bind_requested",
        "bound",
        "replaced_on_instance",
        "delete_requested",
        "deleted",
    ]


def test_a_new_key_pair_bound_elsewhere_is_refused_and_nothing_changes(alice, alice_client, portal_on_sandbox):
    old, new = old_and_new(alice, alice_client, portal_on_sandbox, "i-web1")
    linux_instances(portal_on_sandbox, "bj", ids=["i-db1"])
    get_client("bj").attach_keypair(new.keypair_id, instance_ids=["i-db1"])

    response = rotate(alice_client, old, new)

    assert response.status_code == 409
    assert page_says(response, rotation.BOUND_ELSEWHERE.format(name="new-key", instances="i-db1"))
    assert holders() == {"i-web1": old.keypair_id, "i-db1": new.keypair_id}
    assert steps_audited() == []


def test_without_the_confirmation_nothing_changes(alice, alice_client, portal_on_sandbox):
    old, new = old_and_new(alice, alice_client, portal_on_sandbox, "i-web1")

    response = alice_client.post(rotate_url(old), {"new": str(new.public_id)})

    assert response.status_code == 400
    assert page_says(response, CONFIRM)
    assert holders() == {"i-web1": old.keypair_id}


def test_a_time_limit_on_the_old_binding_carries_over_to_the_new_one(alice, alice_client, portal_on_sandbox):
    old = made(alice, "old-key")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], name="web")
    until = (timezone.now() + timedelta(hours=4)).replace(microsecond=0)
    keypair_bind(
        actor=alice, keypair_request=old, instances=[TargetInstance("i-web1", "web")], origin=Origin(), expires_at=until
    )
    assert create(alice_client, name="new-key").status_code == 302
    new = KeyPairRequest.objects.get(name="new-key")

    assert rotate(alice_client, old, new).status_code == 302

    binding = InstanceBinding.objects.get(keypair_request=new)
    assert (binding.instance_id, binding.state, binding.expires_at) == ("i-web1", "bound", until)
    assert binding.replaced_keypair_id == old.keypair_id
    assert InstanceBinding.objects.get(keypair_request=old).state == "replaced"


def test_another_persons_key_pair_is_a_404_old_or_new(alice, bob, alice_client, bob_client, portal_on_sandbox):
    old, _ = old_and_new(alice, alice_client, portal_on_sandbox, "i-web1")
    bobs = made(bob, "bobs-key")

    assert rotate(bob_client, old, bobs).status_code == 404
    assert rotate(alice_client, old, bobs).status_code == 404
    assert holders() == {"i-web1": old.keypair_id}
    assert steps_audited() == []
