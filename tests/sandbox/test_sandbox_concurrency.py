"""Many clients at once: the quota and client tokens hold, and a stop does not wait for a hung request."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sandbox_http import SignedClient

from keypairs.sandbox import SandboxServer


def in_parallel(count, call):
    barrier = threading.Barrier(count)

    def run(_):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def fresh_client(sandbox):
    """One connection per thread, as separate callers would have."""
    return SignedClient(sandbox.url, sandbox.access_key_id, sandbox.secret_access_key)


def test_concurrent_creates_never_exceed_the_quota(sandbox):
    sandbox.quota = 3
    responses = in_parallel(8, lambda: fresh_client(sandbox).create("racer"))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 3 + [413] * 5
    assert len(sandbox.keypairs()) == 3


def test_concurrent_creates_with_one_client_token_make_one_key_pair(sandbox):
    responses = in_parallel(6, lambda: fresh_client(sandbox).create("once", query=[("clientToken", "shared")]))

    assert {response.status_code for response in responses} == {200}
    keypairs = [response.json()["keypair"] for response in responses]
    assert len({keypair["keypairId"] for keypair in keypairs}) == 1
    assert sum("privateKey" in keypair for keypair in keypairs) == 1  # handed out once, ever
    assert len(sandbox.keypairs()) == 1


def test_stop_does_not_wait_for_a_request_an_injected_fault_keeps_hanging():
    server = SandboxServer().start()
    server.inject("commit_then_hang", seconds=60)
    client = SignedClient(server.url, server.access_key_id, server.secret_access_key)
    with pytest.raises(requests.ReadTimeout):
        client.create("hung", timeout=0.3)

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 3
    with pytest.raises(requests.ConnectionError):
        client.for_region("bj").list()
