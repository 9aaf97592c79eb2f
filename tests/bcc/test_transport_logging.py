"""One log line per attempt, with what support needs, and never a secret, a key, a signature or a body."""

import logging

import pytest

from keypairs.bcc import errors
from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials

DESCRIPTION_MARKER = "body marker 42"


@pytest.fixture
def client(sandbox):
    with BccClient(
        credentials=Credentials(sandbox.access_key_id, sandbox.secret_access_key),
        endpoint=sandbox.endpoint_template.replace("{region}", "bj"),
        region="bj",
        sleep=lambda seconds: None,
    ) as client:
        yield client


@pytest.fixture
def authorizations(client):
    """Every Authorization header the client sends, read back from the headers of each attempt."""
    sent = []
    transport = client._transport
    signed_headers = transport.signed_headers

    def recording(prepared):
        headers = signed_headers(prepared)
        sent.append(headers["Authorization"])
        return headers

    transport.signed_headers = recording
    return sent


def bcc_records(caplog):
    return [record for record in caplog.records if record.name == "keypairs.bcc"]


def test_a_create_logs_no_private_key_secret_key_signature_or_body(client, sandbox, caplog, authorizations):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 included

    keypair = client.create_keypair(name="alice", description=DESCRIPTION_MARKER)

    assert keypair.private_key
    [authorization] = authorizations
    signature = authorization.rsplit("/", 1)[1]
    logged = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    for secret in (
        keypair.private_key,
        keypair.private_key.splitlines()[1],
        sandbox.secret_access_key,
        signature,
        authorization,
        DESCRIPTION_MARKER,
    ):
        assert secret not in logged


def test_each_attempt_logs_operation_region_status_request_id_latency_and_attempt(client, sandbox, caplog):
    caplog.set_level(logging.INFO, logger="keypairs.bcc")
    sandbox.inject("status", status=503, operation="list")

    client.list_keypairs()

    first, second = bcc_records(caplog)
    assert (first.levelno, second.levelno) == (logging.WARNING, logging.INFO)
    assert (first.bcc_operation, first.bcc_region, first.bcc_attempt) == ("list_keypairs", "bj", 1)
    assert (first.bcc_status, first.bcc_outcome) == (503, "ServiceUnavailable")
    assert (second.bcc_status, second.bcc_outcome, second.bcc_attempt) == (200, "ok", 2)
    assert second.bcc_request_id == client.last_call.request_id
    assert first.bcc_request_id and first.bcc_request_id != second.bcc_request_id
    assert all(record.bcc_latency_ms >= 0 for record in (first, second))
    assert first.getMessage().startswith(
        "BCC list_keypairs region=bj attempt=1/3 status=503 outcome=ServiceUnavailable"
    )
    assert first.getMessage().endswith(" retrying")
    assert f"request_id={second.bcc_request_id}" in second.getMessage()


def test_a_transport_failure_logs_its_kind_without_a_status(client, sandbox, caplog):
    caplog.set_level(logging.INFO, logger="keypairs.bcc")
    sandbox.inject("commit_then_drop", operation="create")

    with pytest.raises(errors.BccOutcomeUnknown) as raised:
        client.create_keypair(name="alice", description=DESCRIPTION_MARKER)

    [record] = bcc_records(caplog)
    assert (record.bcc_outcome, record.bcc_status, record.bcc_attempt) == ("connection_lost", None, 1)
    assert "status=- outcome=connection_lost" in record.getMessage()
    assert DESCRIPTION_MARKER not in str(raised.value)
    assert sandbox.secret_access_key not in repr(raised.value)
