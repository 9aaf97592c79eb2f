"""The client's connections: kept alive and shared by threads, never rerouted, failures told apart.

The transport sends through one urllib3 connection pool per client. These check, from the
sandbox's side where they can, what a caller relies on: one connection serves successive
calls, threads share a client safely, a closed client still works, settings from the
environment never change where or how a signed request goes, and every kind of network
failure says whether the request may have reached BCC.
"""

import http.client
import socket
import ssl
import threading

import pytest
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from keypairs.bcc import errors
from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials
from keypairs.bcc.transport import map_transport_exception
from keypairs.sandbox import SandboxServer


def make_client(server, *, endpoint=None, **options):
    options.setdefault("sleep", lambda seconds: None)
    return BccClient(
        credentials=Credentials(server.access_key_id, server.secret_access_key),
        endpoint=endpoint or server.endpoint_template.replace("{region}", "bj"),
        region="bj",
        **options,
    )


def test_threads_share_one_client_and_its_connections(sandbox, accepted_connections):
    threads_count, calls_each = 8, 5
    client = make_client(sandbox)
    start = threading.Barrier(threads_count)
    seen, failures = [], []

    def work(number):
        start.wait()
        try:
            for _ in range(calls_each):
                keypair = client.create_keypair(name=f"t{number}")
                # last_call is this thread's own call, whatever the others did meanwhile.
                assert client.last_call.request_id == keypair.request_id
                seen.append(keypair.keypair_id)
        except Exception as error:  # reported below, with the thread's number
            failures.append((number, error))

    threads = [threading.Thread(target=work, args=(number,)) for number in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(set(seen)) == threads_count * calls_each
    assert len(sandbox.keypairs("bj")) == threads_count * calls_each
    # At most one connection per thread at once, kept for later calls rather than reopened.
    assert 1 <= len(accepted_connections) <= threads_count
    opened = len(accepted_connections)
    for _ in range(10):
        client.list_keypairs()
    assert len(accepted_connections) == opened


def test_a_closed_client_opens_a_new_connection_when_used_again(sandbox, accepted_connections):
    client = make_client(sandbox)
    client.list_keypairs()
    client.close()
    assert client.list_keypairs() == []
    assert len(accepted_connections) == 2


def test_proxy_and_ca_variables_in_the_environment_are_ignored(sandbox, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, nowhere)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert make_client(sandbox).list_keypairs() == []

    with SandboxServer(tls=True) as tls_sandbox:
        # A CA bundle from the environment must not make an untrusted certificate trusted.
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
            monkeypatch.setenv(name, str(tls_sandbox.cert_path))
        with pytest.raises(errors.BccTLSError) as raised:
            make_client(tls_sandbox).list_keypairs()
    assert str(raised.value) == errors.TLS_CERTIFICATE_NOT_TRUSTED


def test_a_certificate_for_another_host_name_is_not_trusted():
    # The sandbox's certificate names localhost and 127.0.0.1; 127.0.0.2 is loopback too.
    with SandboxServer(host="127.0.0.2", tls=True) as other_host:
        client = make_client(other_host, verify=str(other_host.cert_path))
        with pytest.raises(errors.BccTLSError) as raised:
            client.create_keypair(name="alice")
        assert str(raised.value) == errors.TLS_CERTIFICATE_NOT_TRUSTED
        assert (raised.value.sent, raised.value.attempts) == (False, 1)
        assert other_host.keypairs("bj") == []


def test_a_host_name_that_does_not_resolve_is_a_connect_error_retried_and_never_sent(sandbox):
    sleeps = []
    client = make_client(sandbox, endpoint="http://bcc-sandbox.invalid/bj", sleep=sleeps.append)
    with pytest.raises(errors.BccConnectError) as raised:
        client.create_keypair(name="alice")
    assert str(raised.value) == errors.NAME_NOT_RESOLVED
    assert (raised.value.sent, raised.value.attempts, len(sleeps)) == (False, 3, 2)


def _raised(make):
    """An exception as raised (with a traceback), chained the way urllib3 chains it."""
    try:
        make()
    except Exception as error:
        return error
    raise AssertionError("nothing raised")


def _wrapped(outer, inner):
    def make():
        try:
            raise inner
        except Exception as error:
            raise outer(error) from error

    return make


@pytest.mark.parametrize(
    ("make", "kind", "sent"),
    [
        (_wrapped(lambda e: ConnectTimeoutError(None, "connect timed out"), TimeoutError()), "connect_timeout", False),
        (_wrapped(lambda e: NewConnectionError(None, "refused"), ConnectionRefusedError()), "connect_error", False),
        (
            _wrapped(lambda e: NameResolutionError("bcc.invalid", None, e), socket.gaierror(-2, "unknown")),
            "connect_error",
            False,
        ),
        (_wrapped(lambda e: ReadTimeoutError(None, "/", "read timed out"), TimeoutError()), "read_timeout", True),
        (_wrapped(lambda e: ProtocolError("Connection aborted.", e), ConnectionResetError()), "connection_lost", True),
        (
            _wrapped(lambda e: ProtocolError("Connection broken", e), http.client.IncompleteRead(b"{", 10)),
            "connection_lost",
            True,
        ),
        (_wrapped(lambda e: SSLError(e), ssl.SSLEOFError()), "connection_lost", True),
        (_wrapped(lambda e: SSLError(e), ssl.SSLCertVerificationError()), "tls_error", False),
        (lambda: (_ for _ in ()).throw(BrokenPipeError()), "connection_lost", True),
    ],
)
def test_each_urllib3_failure_maps_to_an_error_that_says_whether_it_was_sent(make, kind, sent):
    error = map_transport_exception(_raised(make))
    assert (error.kind, error.sent) == (kind, sent)
