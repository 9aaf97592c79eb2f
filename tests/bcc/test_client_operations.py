"""Every key pair operation's happy path, over real HTTP against the BCC sandbox."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keypairs.bcc import errors, fingerprints
from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials
from tests.sandbox_instances import linux_instances


def make_client(sandbox, region="bj", **options):
    return BccClient(
        credentials=Credentials(sandbox.access_key_id, sandbox.secret_access_key),
        endpoint=sandbox.endpoint_template.replace("{region}", region),
        region=region,
        sleep=lambda seconds: None,
        **options,
    )


@pytest.fixture
def client(sandbox):
    with make_client(sandbox) as client:
        yield client


def openssh_public_key(private_key):
    return private_key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def test_create_returns_the_key_pair_with_a_private_key_that_belongs_to_its_public_key(client, sandbox):
    keypair = client.create_keypair(name="alice-laptop", description="Alice laptop")

    assert keypair.keypair_id.startswith("k-")
    assert (keypair.name, keypair.description, keypair.region_id) == ("alice-laptop", "Alice laptop", "bj")
    assert keypair.request_id
    assert keypair.created_time is not None
    private_key = serialization.load_pem_private_key(keypair.private_key.encode(), password=None)
    assert openssh_public_key(private_key).decode() == " ".join(keypair.public_key.split()[:2])
    assert fingerprints.fingerprint_matches(keypair.public_key, keypair.fingerprint)
    assert [stored["keypairId"] for stored in sandbox.keypairs("bj")] == [keypair.keypair_id]


def test_create_sends_the_documented_post_without_a_query_flag(client, sandbox):
    client.create_keypair(name="alice")
    assert [(record.method, record.path, record.operation, record.status) for record in sandbox.request_log] == [
        ("POST", "/bj/v2/keypair", "create", 200)
    ]


def test_a_chinese_description_and_name_survive_the_round_trip(client):
    created = client.create_keypair(name="key-密钥", description="张三的笔记本。")
    fetched = client.get_keypair(created.keypair_id)
    assert (fetched.name, fetched.description) == ("key-密钥", "张三的笔记本。")


def test_create_with_a_client_token_answers_a_replay_with_the_same_key_pair_and_no_private_key(client, sandbox):
    first = client.create_keypair(name="alice", client_token="req-7f3a")
    replay = client.create_keypair(name="alice", client_token="req-7f3a")
    assert replay.keypair_id == first.keypair_id
    assert replay.private_key is None
    assert len(sandbox.keypairs("bj")) == 1


def test_import_returns_the_imported_key_without_a_private_key(client, sandbox):
    public_line = openssh_public_key(ec.generate_private_key(ec.SECP256R1())).decode() + " alice@example"

    keypair = client.import_keypair(name="alice-yubikey", public_key=public_line, description="imported")

    assert keypair.private_key is None
    assert keypair.public_key.split()[:2] == public_line.split()[:2]
    assert fingerprints.fingerprint_matches(public_line, keypair.fingerprint)
    assert (keypair.name, keypair.description) == ("alice-yubikey", "imported")
    assert [stored["keypairId"] for stored in sandbox.keypairs("bj")] == [keypair.keypair_id]


def test_get_returns_what_create_made(client):
    created = client.create_keypair(name="alice", description="first")
    fetched = client.get_keypair(created.keypair_id)
    assert (fetched.keypair_id, fetched.name, fetched.description) == (created.keypair_id, "alice", "first")
    assert fetched.public_key == created.public_key
    assert fetched.private_key is None
    assert fetched.request_id and fetched.request_id != created.request_id


def test_list_follows_next_marker_across_pages(client, sandbox):
    created = [client.create_keypair(name=f"key-{number}").keypair_id for number in range(5)]

    listed = client.list_keypairs(page_size=2)

    assert [keypair.keypair_id for keypair in listed] == created
    list_requests = [record for record in sandbox.request_log if record.operation == "list"]
    assert len(list_requests) == 3


def test_iter_keypairs_fetches_a_page_only_when_it_is_needed(client, sandbox):
    for number in range(3):
        client.create_keypair(name=f"key-{number}")
    pages = client.iter_keypairs(page_size=2)

    first = next(pages)

    assert first.name == "key-0"
    assert len([record for record in sandbox.request_log if record.operation == "list"]) == 1
    assert [keypair.name for keypair in pages] == ["key-1", "key-2"]


def test_list_filters_by_exact_name(client):
    client.create_keypair(name="alice")
    bob = client.create_keypair(name="bob")
    assert [keypair.keypair_id for keypair in client.list_keypairs(name="bob")] == [bob.keypair_id]


def test_list_of_an_empty_region_is_empty(client):
    assert client.list_keypairs() == []


def test_delete_removes_the_key_pair(client, sandbox):
    keypair = client.create_keypair(name="alice")

    assert client.delete_keypair(keypair.keypair_id) is None

    assert sandbox.keypairs("bj") == []
    with pytest.raises(errors.BccApiError) as raised:
        client.get_keypair(keypair.keypair_id)
    assert raised.value.code == errors.KEYPAIR_NOT_EXIST


def test_rename_changes_the_name(client):
    keypair = client.create_keypair(name="alice")
    client.rename_keypair(keypair.keypair_id, name="alice-renamed")
    assert client.get_keypair(keypair.keypair_id).name == "alice-renamed"


def test_update_description_changes_it_and_an_empty_one_clears_it(client):
    keypair = client.create_keypair(name="alice", description="old")
    client.update_keypair_description(keypair.keypair_id, description="new one")
    assert client.get_keypair(keypair.keypair_id).description == "new one"
    client.update_keypair_description(keypair.keypair_id, description="")
    assert client.get_keypair(keypair.keypair_id).description == ""


def test_attach_and_detach_change_the_instance_count(client, sandbox):
    keypair = client.create_keypair(name="alice")
    first, second = linux_instances(sandbox, "bj", 2)
    attached = client.attach_keypair(keypair.keypair_id, instance_ids=[first, second])
    assert (attached.failed_instance_ids, attached.all_done) == ((), True)
    assert attached.request_id
    assert client.get_keypair(keypair.keypair_id).instance_count == 2
    assert client.detach_keypair(keypair.keypair_id, instance_ids=[first]).all_done
    assert client.get_keypair(keypair.keypair_id).instance_count == 1


@pytest.mark.parametrize("instance_ids", [[], "i-aaa", [None]])
def test_attach_refuses_anything_but_a_list_of_instance_ids(client, instance_ids):
    with pytest.raises(ValueError):
        client.attach_keypair("k-1", instance_ids=instance_ids)


def test_each_region_is_its_own_path_prefix_and_its_own_account(sandbox):
    with make_client(sandbox, "gz") as guangzhou, make_client(sandbox, "bj") as beijing:
        keypair = guangzhou.create_keypair(name="alice")
        assert keypair.region_id == "gz"
        assert beijing.list_keypairs() == []
    assert [stored["keypairId"] for stored in sandbox.keypairs("gz")] == [keypair.keypair_id]


def test_last_call_records_the_request_id_status_attempts_and_latency_of_a_success(client):
    keypair = client.create_keypair(name="alice")
    record = client.last_call
    assert (record.operation, record.region, record.outcome, record.status) == ("create_keypair", "bj", "ok", 200)
    assert record.request_id == keypair.request_id
    assert record.attempts == 1
    assert record.latency_ms >= 0

    client.delete_keypair(keypair.keypair_id)
    assert client.last_call.operation == "delete_keypair"
    assert client.last_call.request_id not in (None, keypair.request_id)


def test_the_client_reuses_one_connection_for_successive_calls(client, sandbox, accepted_connections):
    client.list_keypairs()
    client.list_keypairs()
    assert len(accepted_connections) == 1
    assert [record.operation for record in sandbox.request_log] == ["list", "list"]
