"""Detail, delete, rename, description, attach and detach of one key pair."""

import pytest
from sandbox_http import assert_bce_error

from tests.sandbox_instances import linux_instances


@pytest.fixture
def keypair(bcc):
    return bcc.create("original", "first words").json()["keypair"]


def test_detail_answers_the_key_pair_without_its_private_key(bcc, keypair):
    response = bcc.get(keypair["keypairId"])
    assert response.status_code == 200
    expected = {field: value for field, value in keypair.items() if field != "privateKey"}
    assert response.json() == {"keypair": expected}


@pytest.mark.parametrize(
    ("method", "flag", "body"),
    [
        ("GET", None, None),
        ("DELETE", None, None),
        ("PUT", "rename", {"name": "renamed"}),
        ("PUT", "updateDesc", {"description": "new"}),
        ("PUT", "attach", {"instanceIds": ["i-1"]}),
        ("PUT", "detach", {"instanceIds": ["i-1"]}),
    ],
    ids=["get", "delete", "rename", "update_description", "attach", "detach"],
)
def test_every_operation_on_an_unknown_id_answers_keypair_not_exist(bcc, method, flag, body):
    query = [(flag, None)] if flag else []
    response = bcc.request(method, "/v2/keypair/k-missing1", query=query, json=body)
    assert_bce_error(response, 404, "Keypair.KeypairNotExist")


def test_delete_removes_the_key_pair(sandbox, bcc, keypair):
    response = bcc.delete(keypair["keypairId"])
    assert response.status_code == 200
    assert response.content == b""
    assert sandbox.keypairs() == []
    assert_bce_error(bcc.delete(keypair["keypairId"]), 404, "Keypair.KeypairNotExist")


def test_rename_changes_the_name_only(sandbox, bcc, keypair):
    response = bcc.action(keypair["keypairId"], "rename", {"name": "renamed"})
    assert response.status_code == 200
    assert response.content == b""
    stored = sandbox.keypairs()[0]
    assert stored["name"] == "renamed"
    assert stored["description"] == "first words"


def test_rename_checks_the_name_rules(sandbox, bcc, keypair):
    assert_bce_error(
        bcc.action(keypair["keypairId"], "rename", {"name": "no spaces"}), 400, "Keypair.KeypairNameInvalid"
    )
    assert sandbox.keypairs()[0]["name"] == "original"


def test_update_description_replaces_and_an_empty_one_clears(sandbox, bcc, keypair):
    assert bcc.action(keypair["keypairId"], "updateDesc", {"description": "新的描述。"}).status_code == 200
    assert sandbox.keypairs()[0]["description"] == "新的描述。"
    assert bcc.action(keypair["keypairId"], "updateDesc", {"description": ""}).status_code == 200
    assert sandbox.keypairs()[0]["description"] == ""


def test_update_description_checks_the_description_rules(sandbox, bcc, keypair):
    response = bcc.action(keypair["keypairId"], "updateDesc", {"description": "x" * 141})
    assert_bce_error(response, 400, "Keypair.KeypairDescriptionInvalid")
    assert sandbox.keypairs()[0]["description"] == "first words"


def test_attach_counts_instances_and_blocks_delete_until_detached(sandbox, bcc, keypair):
    keypair_id = keypair["keypairId"]
    first, second = linux_instances(sandbox, "bj", 2)
    response = bcc.action(keypair_id, "attach", {"instanceIds": [first, second]})
    assert response.status_code == 200
    assert response.json() == {"requestId": response.headers["x-bce-request-id"], "failedInstanceIdList": []}
    assert bcc.get(keypair_id).json()["keypair"]["instanceCount"] == 2

    assert_bce_error(bcc.delete(keypair_id), 403, "Keypair.DeleteKeypairInUse")
    assert len(sandbox.keypairs()) == 1

    assert bcc.action(keypair_id, "detach", {"instanceIds": [first]}).status_code == 200
    assert bcc.get(keypair_id).json()["keypair"]["instanceCount"] == 1
    assert bcc.action(keypair_id, "detach", {"instanceIds": [second]}).status_code == 200
    assert bcc.delete(keypair_id).status_code == 200


def test_attaching_an_instance_twice_counts_it_once(sandbox, bcc, keypair):
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    assert bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]}).status_code == 200
    again = bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]})
    assert_bce_error(again, 400, "Keypair.AttachAttachedKeypair")
    assert bcc.get(keypair["keypairId"]).json()["keypair"]["instanceCount"] == 1


def test_an_instance_holds_one_key_pair_so_attaching_another_moves_it(sandbox, bcc, keypair):
    other = bcc.create("other").json()["keypair"]
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    bcc.action(keypair["keypairId"], "attach", {"instanceIds": [instance_id]})
    bcc.action(other["keypairId"], "attach", {"instanceIds": [instance_id]})
    assert bcc.get(keypair["keypairId"]).json()["keypair"]["instanceCount"] == 0
    assert bcc.get(other["keypairId"]).json()["keypair"]["instanceCount"] == 1
    assert sandbox.instances()[0]["keypairId"] == other["keypairId"]


def test_detaching_an_instance_that_is_not_attached_changes_nothing(sandbox, bcc, keypair):
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    assert bcc.action(keypair["keypairId"], "detach", {"instanceIds": [instance_id]}).status_code == 200
    assert bcc.get(keypair["keypairId"]).json()["keypair"]["instanceCount"] == 0


@pytest.mark.parametrize("body", [{}, {"instanceIds": []}, {"instanceIds": "i-aaa"}, {"instanceIds": [1]}])
def test_attach_needs_a_list_of_instance_ids(bcc, keypair, body):
    assert_bce_error(bcc.action(keypair["keypairId"], "attach", body), 400, "InappropriateJSON")
