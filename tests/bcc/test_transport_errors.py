"""Every way the network can fail becomes a BccTransportError that says whether the request was sent.

All over loopback: a closed port, a listening socket whose accept queue is full (the
only way to make a connect time out here), the sandbox with injected faults, and the
sandbox in TLS mode.
"""

import socket

import pytest

from keypairs.bcc import errors
from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials
from keypairs.sandbox import SandboxServer


def make_client(sandbox, *, endpoint=None, **options):
    options.setdefault("sleep", lambda seconds: None)
    return BccClient(
        credentials=Credentials(sandbox.access_key_id, sandbox.secret_access_key),
        endpoint=endpoint or sandbox.endpoint_template.replace("{region}", "bj"),
        region="bj",
        **options,
    )


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def full_backlog_port():
    """A port that is listening but never accepts, with its accept queue already full.

    Linux then drops further SYNs, so a connect hangs until the client's connect timeout:
    the same thing a client sees from a black-holed address, without leaving loopback.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    yield port
    filler.close()
    listener.close()


@pytest.fixture
def silent_port():
    """A port whose kernel completes TCP connections that nobody ever reads from or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def tls_sandbox():
    with SandboxServer(tls=True) as server:
        yield server


# --- never sent ------------------------------------------------------------------------


def test_a_refused_connection_is_a_connect_error_retried_up_to_max_attempts(sandbox, closed_port):
    sleeps = []
    client = make_client(sandbox, endpoint=f"http://127.0.0.1:{closed_port}/bj", sleep=sleeps.append)
    with pytest.raises(errors.BccConnectError) as raised:
        client.get_keypair("k-1")
    error = raised.value
    assert str(error) == "Could not connect to BCC; the request was not sent."
    assert (error.sent, error.attempts, error.request_id, error.operation) == (False, 3, None, "get_keypair")
    assert len(sleeps) == 2


def test_a_refused_create_is_a_connect_error_not_an_unknown_outcome(sandbox, closed_port):
    client = make_client(sandbox, endpoint=f"http://127.0.0.1:{closed_port}/bj")
    with pytest.raises(errors.BccConnectError) as raised:
        client.create_keypair(name="alice")
    assert not isinstance(raised.value, errors.BccOutcomeUnknown)
    assert raised.value.sent is False


def test_a_connect_timeout_says_the_request_was_not_sent(sandbox, full_backlog_port):
    client = make_client(sandbox, endpoint=f"http://127.0.0.1:{full_backlog_port}/bj", connect_timeout=0.2)
    with pytest.raises(errors.BccTimeoutError) as raised:
        client.create_keypair(name="alice")
    error = raised.value
    assert str(error) == "Connecting to BCC timed out; the request was not sent."
    assert (error.sent, error.kind, error.attempts) == (False, "connect_timeout", 3)


def test_an_untrusted_certificate_is_a_tls_error_and_is_not_retried(tls_sandbox):
    client = make_client(tls_sandbox)
    with pytest.raises(errors.BccTLSError) as raised:
        client.create_keypair(name="alice")
    error = raised.value
    assert str(error) == "TLS handshake failed: BCC's certificate is not trusted; the request was not sent."
    assert (error.sent, error.attempts) == (False, 1)
    assert tls_sandbox.keypairs("bj") == []


def test_trusting_the_sandbox_certificate_as_a_ca_bundle_works(tls_sandbox):
    with make_client(tls_sandbox, verify=str(tls_sandbox.cert_path)) as client:
        keypair = client.create_keypair(name="alice")
        assert client.get_keypair(keypair.keypair_id).name == "alice"


def test_a_tls_handshake_that_never_completes_is_a_connect_timeout_not_a_read_timeout(sandbox, silent_port):
    # urllib3 reports a hung handshake as a read timeout; nothing was sent, and a create must
    # not be reported as an unknown outcome for it.
    client = make_client(sandbox, endpoint=f"https://127.0.0.1:{silent_port}/bj", connect_timeout=0.2, max_attempts=1)
    with pytest.raises(errors.BccTimeoutError) as raised:
        client.create_keypair(name="alice")
    assert (raised.value.kind, raised.value.sent) == ("connect_timeout", False)


def test_speaking_tls_to_a_plain_http_server_is_a_failed_handshake(sandbox):
    client = make_client(sandbox, endpoint=sandbox.url.replace("http://", "https://") + "/bj")
    with pytest.raises(errors.BccTLSError) as raised:
        client.create_keypair(name="alice")
    assert str(raised.value) == "TLS handshake failed; the request was not sent."
    assert raised.value.sent is False
    assert sandbox.keypairs("bj") == []


# --- maybe sent --------------------------------------------------------------------------


def test_a_read_timeout_says_bcc_did_not_answer_in_time(sandbox):
    sandbox.inject("latency", seconds=2, operation="get")
    client = make_client(sandbox, read_timeout=0.2, max_attempts=1)
    with pytest.raises(errors.BccTimeoutError) as raised:
        client.get_keypair("k-1")
    error = raised.value
    assert str(error) == "BCC did not answer in time."
    assert (error.sent, error.kind, error.attempts) == (True, "read_timeout", 1)


def test_a_read_timeout_on_a_read_is_retried(sandbox):
    sandbox.inject("latency", seconds=2, operation="list")
    client = make_client(sandbox, read_timeout=0.2)
    assert client.list_keypairs() == []
    assert client.last_call.attempts == 2


def test_a_dropped_connection_is_a_lost_connection_that_may_have_been_sent(sandbox):
    sandbox.inject("drop", operation="get")
    client = make_client(sandbox, max_attempts=1)
    with pytest.raises(errors.BccConnectionLostError) as raised:
        client.get_keypair("k-1")
    assert str(raised.value) == "The connection to BCC was lost before it answered."
    assert raised.value.sent is True


def test_a_dropped_delete_is_not_retried(sandbox):
    client = make_client(sandbox)
    keypair = client.create_keypair(name="alice")
    sandbox.inject("drop", operation="delete")
    with pytest.raises(errors.BccConnectionLostError) as raised:
        client.delete_keypair(keypair.keypair_id)
    assert raised.value.attempts == 1
    assert [record.operation for record in sandbox.request_log].count("delete") == 1


def test_a_non_json_answer_is_a_bad_response_with_its_status_and_request_id(sandbox):
    sandbox.inject("not_json", operation="get", status=404)
    client = make_client(sandbox)
    with pytest.raises(errors.BccBadResponseError) as raised:
        client.get_keypair("k-1")
    error = raised.value
    assert str(error) == "BCC's answer could not be read (HTTP 404)."
    assert (error.status, error.sent, error.attempts) == (404, True, 1)
    assert error.request_id
    assert "html" not in str(error).lower()


def test_a_gateway_error_page_on_a_read_is_retried(sandbox):
    sandbox.inject("not_json", operation="list", status=502)
    client = make_client(sandbox)
    assert client.list_keypairs() == []
    assert client.last_call.attempts == 2


def test_a_connection_dropped_after_the_tls_handshake_is_lost_not_a_tls_failure(tls_sandbox):
    tls_sandbox.inject("drop", operation="get")
    client = make_client(tls_sandbox, verify=str(tls_sandbox.cert_path), max_attempts=1)
    with client, pytest.raises(errors.BccConnectionLostError) as raised:
        client.get_keypair("k-1")
    assert raised.value.sent is True


def test_a_read_timeout_over_tls_may_have_been_sent(tls_sandbox):
    tls_sandbox.inject("latency", seconds=2, operation="get")
    client = make_client(tls_sandbox, verify=str(tls_sandbox.cert_path), read_timeout=0.2, max_attempts=1)
    with client, pytest.raises(errors.BccTimeoutError) as raised:
        client.get_keypair("k-1")
    assert (raised.value.kind, raised.value.sent) == ("read_timeout", True)
