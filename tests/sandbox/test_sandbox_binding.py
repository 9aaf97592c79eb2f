"""Binding and unbinding key pairs to the sandbox's instances, with BCC's rules and errors."""

import pytest
from sandbox_http import assert_bce_error

from tests.sandbox_instances import linux_instances, windows_instances


@pytest.fixture
def keypair(bcc):
    return bcc.create("alice").json()["keypair"]


def bound_keypairs(sandbox):
    return {instance["id"]: instance["keypairId"] for instance in sandbox.instances()}


def instance_count(bcc, keypair_id):
    return bcc.get(keypair_id).json()["keypair"]["instanceCount"]


def test_attach_binds_the_key_pair_and_the_instance_names_it(sandbox, bcc, keypair):
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    assert bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]}).status_code == 200
    detail = bcc.request("GET", f"/v2/instance/{instance_id}").json()["instance"]
    assert (detail["keypairId"], detail["keypairName"]) == (keypair["keypairId"], "alice")

    bcc.action(keypair["keypairId"], "rename", {"name": "alice2"})
    assert bcc.request("GET", f"/v2/instance/{instance_id}").json()["instance"]["keypairName"] == "alice2"


def test_attach_to_an_unknown_instance_is_instance_not_exist(sandbox, bcc, keypair):
    response = bcc.action(keypair["keypairId"], "attach", {"instanceIds": ["i-nowhere1"]})
    assert_bce_error(response, 404, "Keypair.InstanceNotExist")
    assert instance_count(bcc, keypair["keypairId"]) == 0


def test_attach_to_a_windows_instance_is_unsupport_os_type(sandbox, bcc, keypair):
    (instance_id,) = windows_instances(sandbox, "bj", 1)
    response = bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]})
    assert_bce_error(response, 403, "Keypair.UnsupportOsType")
    assert bound_keypairs(sandbox) == {instance_id: ""}


@pytest.mark.parametrize("status", ["Starting", "Stopping", "Error", "Scaling"])
def test_attach_to_an_instance_neither_running_nor_stopped_is_status_forbidden(sandbox, bcc, keypair, status):
    (instance_id,) = linux_instances(sandbox, "bj", 1, status=status)
    response = bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]})
    assert_bce_error(response, 409, "Keypair.InstanceStatusForbidden")
    assert bound_keypairs(sandbox) == {instance_id: ""}


def test_attach_to_a_stopped_instance_is_allowed(sandbox, bcc, keypair):
    (instance_id,) = linux_instances(sandbox, "bj", 1, status="Stopped")
    assert bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]}).status_code == 200
    assert bound_keypairs(sandbox) == {instance_id: keypair["keypairId"]}


def test_binding_replaces_the_key_pair_and_the_previous_one_counts_one_less(sandbox, bcc, keypair):
    other = bcc.create("bob").json()["keypair"]
    shared, alices = linux_instances(sandbox, "bj", 2)
    bcc.action(keypair["keypairId"], "attach", {"instanceIds": [shared, alices]})
    assert bcc.action(other["keypairId"], "attach", {"instanceIds": [shared]}).status_code == 200
    assert instance_count(bcc, keypair["keypairId"]) == 1
    assert instance_count(bcc, other["keypairId"]) == 1
    assert bound_keypairs(sandbox) == {shared: other["keypairId"], alices: keypair["keypairId"]}


def test_a_partial_bind_answers_the_failed_instances_and_binds_the_rest(sandbox, bcc, keypair):
    good = linux_instances(sandbox, "bj", 2)
    starting = linux_instances(sandbox, "bj", 1, status="Starting")
    windows = windows_instances(sandbox, "bj", 1)
    asked = [good[0], starting[0], "i-nowhere1", windows[0], good[1]]
    response = bcc.action(keypair["keypairId"], "attach", {"instanceIds": asked})
    assert response.status_code == 200
    assert response.json()["failedInstanceIdList"] == [starting[0], "i-nowhere1", windows[0]]
    assert instance_count(bcc, keypair["keypairId"]) == 2
    assert {i for i, k in bound_keypairs(sandbox).items() if k} == set(good)


def test_a_bind_where_every_instance_fails_is_the_first_error_and_changes_nothing(sandbox, bcc, keypair):
    windows = windows_instances(sandbox, "bj", 1)
    starting = linux_instances(sandbox, "bj", 1, status="Starting")
    response = bcc.action(keypair["keypairId"], "attach", {"instanceIds": [windows[0], starting[0]]})
    assert_bce_error(response, 403, "Keypair.UnsupportOsType")
    assert instance_count(bcc, keypair["keypairId"]) == 0


def test_an_id_repeated_in_one_bind_counts_once(sandbox, bcc, keypair):
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    response = bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id, instance_id]})
    assert response.json()["failedInstanceIdList"] == []
    assert instance_count(bcc, keypair["keypairId"]) == 1


def test_detach_leaves_an_instance_bound_to_another_key_pair_alone(sandbox, bcc, keypair):
    other = bcc.create("bob").json()["keypair"]
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    bcc.action(other["keypairId"], "attach", {"instanceIds": [instance_id]})
    assert bcc.action(keypair["keypairId"], "detach", {"instanceIds": [instance_id]}).status_code == 200
    assert bound_keypairs(sandbox) == {instance_id: other["keypairId"]}


def test_detach_follows_the_instance_rules_too(sandbox, bcc, keypair):
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]})
    sandbox.set_instance_status(instance_id, "Stopping")
    response = bcc.action(keypair["keypairId"], "detach", {"instanceIds": [instance_id]})
    assert_bce_error(response, 409, "Keypair.InstanceStatusForbidden")
    assert_bce_error(
        bcc.action(keypair["keypairId"], "detach", {"instanceIds": ["i-nowhere1"]}), 404, "Keypair.InstanceNotExist"
    )
    assert instance_count(bcc, keypair["keypairId"]) == 1

    sandbox.set_instance_status(instance_id, "Stopped")
    response = bcc.action(keypair["keypairId"], "detach", {"instanceIds": [instance_id, "i-nowhere1"]})
    assert response.json()["failedInstanceIdList"] == ["i-nowhere1"]
    assert instance_count(bcc, keypair["keypairId"]) == 0


def test_a_released_instance_takes_its_binding_with_it(sandbox, bcc, keypair):
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]})
    sandbox.remove_instance(instance_id)
    assert instance_count(bcc, keypair["keypairId"]) == 0
    assert bcc.delete(keypair["keypairId"]).status_code == 200


def test_instances_belong_to_their_region(sandbox, bcc, keypair):
    (guangzhou_instance,) = linux_instances(sandbox, "gz", 1)
    response = bcc.action(keypair["keypairId"], "attach", {"instanceIds": [guangzhou_instance]})
    assert_bce_error(response, 404, "Keypair.InstanceNotExist")


def test_faults_apply_to_attach(sandbox, bcc, keypair):
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    sandbox.inject("status", operation="attach", status=503)
    assert bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]}).status_code == 503
    assert bound_keypairs(sandbox) == {instance_id: ""}
