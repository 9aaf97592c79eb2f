"""A create or import that may have reached BCC without a valid answer is an unknown outcome, never retried.

The sandbox commits the key pair and then drops or hangs the connection: the client must
say it does not know, must not try again (a second key pair, the first one's private key
lost), and the key pair must indeed exist.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keypairs.bcc import errors
from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials

UNKNOWN_CREATE = "BCC did not answer; the key pair may or may not have been created."


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sandbox, sleeps):
    with BccClient(
        credentials=Credentials(sandbox.access_key_id, sandbox.secret_access_key),
        endpoint=sandbox.endpoint_template.replace("{region}", "bj"),
        region="bj",
        # Generous: RSA key generation in the sandbox can take a second on a loaded machine,
        # and a timeout that fires first turns "dropped after committing" into a timeout.
        read_timeout=5.0,
        sleep=sleeps.append,
    ) as client:
        yield client


def create_requests(sandbox, operation="create"):
    return [record for record in sandbox.request_log if record.operation == operation]


def test_a_create_committed_then_dropped_is_unknown_sent_once_and_the_key_pair_exists(client, sandbox, sleeps):
    sandbox.inject("commit_then_drop", operation="create")

    with pytest.raises(errors.BccOutcomeUnknown) as raised:
        client.create_keypair(name="alice")

    error = raised.value
    assert str(error) == UNKNOWN_CREATE
    assert (error.reason, error.sent, error.attempts, error.operation) == ("connection_lost", True, 1, "create_keypair")
    assert isinstance(error.__cause__, errors.BccConnectionLostError)
    assert len(create_requests(sandbox)) == 1
    assert sleeps == []
    assert [stored["name"] for stored in sandbox.keypairs("bj")] == ["alice"]


def test_a_create_committed_then_hung_past_the_read_timeout_is_unknown_and_sent_once(sandbox):
    sandbox.inject("commit_then_hang", operation="create", seconds=4)
    impatient = BccClient(
        credentials=Credentials(sandbox.access_key_id, sandbox.secret_access_key),
        endpoint=sandbox.endpoint_template.replace("{region}", "bj"),
        region="bj",
        read_timeout=2.0,  # past key generation, well before the hang ends
    )

    with impatient, pytest.raises(errors.BccOutcomeUnknown) as raised:
        impatient.create_keypair(name="alice")

    assert (str(raised.value), raised.value.reason, raised.value.attempts) == (UNKNOWN_CREATE, "read_timeout", 1)
    assert [stored["name"] for stored in sandbox.keypairs("bj")] == ["alice"]
    # The sandbox logs the request when its hang ends; no second create may follow it.
    deadline = time.monotonic() + 5
    while not create_requests(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    assert len(create_requests(sandbox)) == 1


def test_a_create_dropped_before_bcc_acted_is_also_unknown_to_the_client(client, sandbox):
    sandbox.inject("drop", operation="create")
    with pytest.raises(errors.BccOutcomeUnknown):
        client.create_keypair(name="alice")
    assert len(create_requests(sandbox)) == 1
    assert sandbox.keypairs("bj") == []


def test_a_gateway_error_page_on_create_is_unknown_with_its_status(client, sandbox):
    sandbox.inject("not_json", operation="create", status=502)
    with pytest.raises(errors.BccOutcomeUnknown) as raised:
        client.create_keypair(name="alice")
    assert (raised.value.reason, raised.value.status, raised.value.attempts) == ("bad_response", 502, 1)
    assert raised.value.request_id


def test_a_503_with_a_bce_error_body_on_create_is_an_api_error_and_is_not_retried(client, sandbox, sleeps):
    # BCC's API layer answered with a code: that is an answer, not an unknown outcome.
    sandbox.inject("status", operation="create", status=503, count=3)
    with pytest.raises(errors.BccApiError) as raised:
        client.create_keypair(name="alice")
    assert (raised.value.status, raised.value.code, raised.value.attempts) == (503, "ServiceUnavailable", 1)
    assert len(create_requests(sandbox)) == 1
    assert sleeps == []


def test_request_expired_on_create_is_not_retried(client, sandbox):
    sandbox.clock = lambda: datetime.now(UTC) + timedelta(hours=2)  # the client's clock is now two hours late
    with pytest.raises(errors.BccApiError) as raised:
        client.create_keypair(name="alice")
    assert (raised.value.code, raised.value.attempts) == (errors.REQUEST_EXPIRED, 1)


def test_an_import_committed_then_dropped_is_unknown_and_the_key_pair_exists(client, sandbox):
    public_key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    sandbox.inject("commit_then_drop", operation="import")

    with pytest.raises(errors.BccOutcomeUnknown) as raised:
        client.import_keypair(name="alice", public_key=public_key)

    assert str(raised.value) == "BCC did not answer; the key pair may or may not have been imported."
    assert len(create_requests(sandbox, "import")) == 1
    assert [stored["name"] for stored in sandbox.keypairs("bj")] == ["alice"]


def test_last_call_records_the_unknown_outcome(client, sandbox):
    sandbox.inject("commit_then_drop", operation="create")
    with pytest.raises(errors.BccOutcomeUnknown) as raised:
        client.create_keypair(name="alice")
    record = client.last_call
    assert (record.operation, record.outcome, record.status, record.attempts) == (
        "create_keypair",
        "connection_lost",
        None,
        1,
    )
    assert record.latency_ms == raised.value.latency_ms
