"""BCC's error answers surface as BccApiError with BCC's code, status and request id."""

import pytest

from keypairs.bcc import errors
from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials
from tests.sandbox_instances import linux_instances


def make_client(sandbox, *, access_key_id=None, secret_access_key=None):
    return BccClient(
        credentials=Credentials(access_key_id or sandbox.access_key_id, secret_access_key or sandbox.secret_access_key),
        endpoint=sandbox.endpoint_template.replace("{region}", "bj"),
        region="bj",
        sleep=lambda seconds: None,
    )


@pytest.fixture
def client(sandbox):
    with make_client(sandbox) as client:
        yield client


def assert_api_error(raised, *, code, status, operation):
    error = raised.value
    assert (error.code, error.status, error.operation, error.region) == (code, status, operation, "bj")
    assert error.request_id
    assert error.message  # BCC's own sentence, kept for support
    assert str(error) == f"BCC refused the request: {code} (HTTP {status})."


def test_an_invalid_name_is_keypair_name_invalid(client, sandbox):
    with pytest.raises(errors.BccApiError) as raised:
        client.create_keypair(name="has space")
    assert_api_error(raised, code=errors.KEYPAIR_NAME_INVALID, status=400, operation="create_keypair")
    assert raised.value.attempts == 1
    assert sandbox.keypairs("bj") == []


def test_an_invalid_description_is_keypair_description_invalid(client):
    with pytest.raises(errors.BccApiError) as raised:
        client.create_keypair(name="alice", description="<script>")
    assert_api_error(raised, code=errors.KEYPAIR_DESCRIPTION_INVALID, status=400, operation="create_keypair")


def test_going_over_the_quota_is_quota_exceeded(client, sandbox):
    sandbox.quota = 2
    client.create_keypair(name="one")
    client.create_keypair(name="two")
    with pytest.raises(errors.BccApiError) as raised:
        client.create_keypair(name="three")
    assert_api_error(raised, code=errors.KEYPAIR_QUOTA_EXCEEDED, status=413, operation="create_keypair")
    assert len(sandbox.keypairs("bj")) == 2


def test_an_unknown_keypair_is_keypair_not_exist_for_every_operation_on_it(client):
    calls = {
        "get_keypair": lambda: client.get_keypair("k-missing"),
        "delete_keypair": lambda: client.delete_keypair("k-missing"),
        "rename_keypair": lambda: client.rename_keypair("k-missing", name="alice"),
        "update_keypair_description": lambda: client.update_keypair_description("k-missing", description="x"),
    }
    for operation, call in calls.items():
        with pytest.raises(errors.BccApiError) as raised:
            call()
        assert_api_error(raised, code=errors.KEYPAIR_NOT_EXIST, status=404, operation=operation)


def test_deleting_an_attached_keypair_is_delete_keypair_in_use(client, sandbox):
    keypair = client.create_keypair(name="alice")
    client.attach_keypair(keypair.keypair_id, instance_ids=linux_instances(sandbox, "bj", 1))
    with pytest.raises(errors.BccApiError) as raised:
        client.delete_keypair(keypair.keypair_id)
    assert_api_error(raised, code=errors.DELETE_KEYPAIR_IN_USE, status=403, operation="delete_keypair")
    assert len(sandbox.keypairs("bj")) == 1


def test_importing_a_malformed_public_key_is_public_key_format_invalid(client):
    with pytest.raises(errors.BccApiError) as raised:
        client.import_keypair(name="alice", public_key="ssh-rsa not-a-key")
    assert_api_error(raised, code=errors.PUBLIC_KEY_FORMAT_INVALID, status=400, operation="import_keypair")


def test_importing_the_same_public_key_twice_is_public_key_exist(client):
    created = client.create_keypair(name="alice")
    with pytest.raises(errors.BccApiError) as raised:
        client.import_keypair(name="alice-again", public_key=created.public_key)
    assert_api_error(raised, code=errors.KEYPAIR_PUBLIC_KEY_EXISTS, status=400, operation="import_keypair")


def test_reusing_a_client_token_with_other_parameters_is_idempotent_parameter_mismatch(client):
    client.create_keypair(name="alice", client_token="token-1")
    with pytest.raises(errors.BccApiError) as raised:
        client.create_keypair(name="bob", client_token="token-1")
    assert_api_error(raised, code=errors.IDEMPOTENT_PARAMETER_MISMATCH, status=403, operation="create_keypair")


def test_an_unknown_access_key_is_invalid_access_key_id(sandbox):
    with make_client(sandbox, access_key_id="0" * 32) as stranger, pytest.raises(errors.BccApiError) as raised:
        stranger.list_keypairs()
    assert_api_error(raised, code=errors.INVALID_ACCESS_KEY_ID, status=403, operation="list_keypairs")


def test_a_wrong_secret_key_is_signature_does_not_match_and_is_not_retried(sandbox):
    with make_client(sandbox, secret_access_key="0" * 32) as impostor, pytest.raises(errors.BccApiError) as raised:
        impostor.list_keypairs()
    assert_api_error(raised, code=errors.SIGNATURE_DOES_NOT_MATCH, status=400, operation="list_keypairs")
    assert raised.value.attempts == 1
    assert len(sandbox.request_log) == 1


def test_last_call_records_a_failure_too(client):
    with pytest.raises(errors.BccApiError) as raised:
        client.get_keypair("k-missing")
    record = client.last_call
    assert (record.operation, record.outcome, record.status) == ("get_keypair", errors.KEYPAIR_NOT_EXIST, 404)
    assert record.request_id == raised.value.request_id
    assert record.attempts == 1
    assert raised.value.latency_ms == record.latency_ms
