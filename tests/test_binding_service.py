"""Binding and unbinding key pairs (keypairs.services.binding) against the sandbox over real HTTP."""

from __future__ import annotations

import pytest

from keypairs.audit import Origin
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, InstanceBinding
from keypairs.services.binding import TargetInstance, keypair_bind, keypair_unbind
from keypairs.services.errors import ServiceFailed
from tests.offboarding_world import made
from tests.sandbox_instances import linux_instances, windows_instances

ORIGIN = Origin()
pytestmark = pytest.mark.usefixtures("portal_on_sandbox")


def held_by(instance_id: str, region: str = "bj") -> str:
    return get_client(region).get_instance(instance_id).keypair_id or ""


def actions() -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("action", "keypair_name", "detail"))


def test_a_bind_records_each_instance_and_an_unbind_ends_it(alice, portal_on_sandbox):
    web = made(alice, "web")
    ids = linux_instances(portal_on_sandbox, "bj", ids=["i-web1", "i-web2"])

    result = keypair_bind(actor=alice, keypair_request=web, instances=[TargetInstance(i) for i in ids], origin=ORIGIN)

    assert (result.bound, result.failed) == (("i-web1", "i-web2"), ())
    assert [held_by(i) for i in ids] == [web.keypair_id] * 2
    assert InstanceBinding.objects.filter(keypair_request=web, state="bound").count() == 2

    undone = keypair_unbind(actor=alice, keypair_request=web, instance_ids=["i-web1"], origin=ORIGIN)

    assert undone.unbound == ("i-web1",) and not held_by("i-web1")
    assert InstanceBinding.objects.get(instance_id="i-web1").state == "unbound"
    assert [action for action, _, _ in actions()][-4:] == ["bind_requested", "bound", "unbind_requested", "unbound"]
    assert ("unbound", "web", "instances: i-web1") in actions()


def test_a_partial_bind_says_which_instances_were_not_bound(alice, portal_on_sandbox):
    web = made(alice, "web")
    linux = linux_instances(portal_on_sandbox, "bj", ids=["i-linux"])
    windows = windows_instances(portal_on_sandbox, "bj", ids=["i-windows"])

    result = keypair_bind(
        actor=alice, keypair_request=web, instances=[TargetInstance(i) for i in linux + windows], origin=ORIGIN
    )

    assert (result.bound, result.failed) == (("i-linux",), ("i-windows",))
    assert InstanceBinding.objects.filter(keypair_request=web).count() == 1
    assert any(action == "bind_failed" and "i-windows" in detail for action, _, detail in actions())


def test_a_bind_bcc_refuses_whole_changes_nothing_and_says_why(alice, portal_on_sandbox):
    web = made(alice, "web")
    windows_instances(portal_on_sandbox, "bj", ids=["i-windows"])

    with pytest.raises(ServiceFailed) as failed:
        keypair_bind(actor=alice, keypair_request=web, instances=[TargetInstance("i-windows")], origin=ORIGIN)

    assert "Linux instances only" in failed.value.message
    assert not InstanceBinding.objects.exists()
    assert actions()[-1][0] == "bind_failed"


def test_replacing_another_persons_key_pair_tells_them(alice, bob, portal_on_sandbox, smtp_server):
    bob.email = "bob@example.com"
    bob.save()
    theirs, mine = made(bob, "bobs"), made(alice, "mine")
    linux_instances(portal_on_sandbox, "bj", ids=["i-shared"])
    keypair_bind(actor=bob, keypair_request=theirs, instances=[TargetInstance("i-shared")], origin=ORIGIN)

    result = keypair_bind(
        actor=alice,
        keypair_request=mine,
        instances=[TargetInstance("i-shared", name="shared", keypair_id=theirs.keypair_id)],
        origin=ORIGIN,
    )

    assert result.replaced_keypair_ids == (theirs.keypair_id,)
    assert held_by("i-shared") == mine.keypair_id
    assert InstanceBinding.objects.get(keypair_request=theirs).state == "replaced"
    assert ("replaced_on_instance", "bobs", f"replaced on i-shared by {mine.keypair_id}") in actions()
    [mail] = smtp_server.mails_to("bob@example.com")
    assert "bobs" in mail.subject and "i-shared" in mail.body and "alice" in mail.body


def test_a_replaced_owner_who_cannot_be_mailed_leaves_a_mail_failed_row(alice, bob, portal_on_sandbox):
    theirs, mine = made(bob, "bobs"), made(alice, "mine")  # bob has no address
    linux_instances(portal_on_sandbox, "bj", ids=["i-shared"])
    keypair_bind(actor=bob, keypair_request=theirs, instances=[TargetInstance("i-shared")], origin=ORIGIN)

    keypair_bind(
        actor=alice,
        keypair_request=mine,
        instances=[TargetInstance("i-shared", keypair_id=theirs.keypair_id)],
        origin=ORIGIN,
    )

    assert ("mail_failed", "bobs", "keypair_replaced_on_instance to bob (no address)") in actions()
