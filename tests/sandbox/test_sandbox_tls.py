"""TLS mode: a client refuses the self-signed certificate unless it was told to trust it."""

import pytest
import requests
from sandbox_http import SignedClient

from keypairs.sandbox import SandboxServer


@pytest.fixture(scope="module")
def tls_sandbox():
    with SandboxServer(tls=True) as server:
        yield server


def client(server, verify):
    return SignedClient(server.url, server.access_key_id, server.secret_access_key, verify=verify)


def test_it_serves_https(tls_sandbox):
    assert tls_sandbox.url.startswith("https://127.0.0.1:")
    assert tls_sandbox.endpoint_template == tls_sandbox.url + "/{region}"
    assert tls_sandbox.cert_path.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_a_client_with_default_verification_refuses_the_certificate(tls_sandbox):
    with pytest.raises(requests.exceptions.SSLError):
        client(tls_sandbox, verify=True).list()
    assert not any(record.method == "GET" for record in tls_sandbox.request_log)


def test_a_client_that_trusts_the_certificate_gets_its_answer(tls_sandbox):
    response = client(tls_sandbox, verify=str(tls_sandbox.cert_path)).create("overTls")
    assert response.status_code == 200
    assert response.json()["keypair"]["privateKey"]


def test_a_refused_handshake_leaves_the_server_answering_others(tls_sandbox):
    for _ in range(3):
        with pytest.raises(requests.exceptions.SSLError):
            client(tls_sandbox, verify=True).list()
    assert client(tls_sandbox, verify=str(tls_sandbox.cert_path)).list().status_code == 200


def test_stopping_removes_the_certificate_and_its_key():
    server = SandboxServer(tls=True).start()
    directory = server.cert_path.parent
    assert sorted(path.name for path in directory.iterdir()) == ["cert.pem", "key.pem"]
    assert (directory / "key.pem").stat().st_mode & 0o077 == 0
    server.stop()
    assert not directory.exists()
