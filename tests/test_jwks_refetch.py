"""Key ids nobody published cannot make the portal hammer (or wait on) the key server (issue 9).

A token's ``kid`` is chosen by whoever sends it, before anything is verified. These tests
count the fetches a real key server on loopback (tests/jwks_server.py) sees: forged key ids
cause at most one refetch per cooldown, concurrent requests share one fetch, a key server
that hangs costs each request at most its timeout, and a key the provider really rotated in
is still found. Time moves through the clock ``portal.auth.jwks`` reads, never by sleeping.
"""

from __future__ import annotations

import secrets
import threading
import time

import jwt
import pytest
from django.core.exceptions import SuspiciousOperation
from django.test import Client

from portal.auth import jwks, modes
from portal.auth.oidc import PortalOIDCBackend
from tests.jwks_server import JwksServer, public_jwk, rsa_key

ISSUER = "https://proxy.example.com"
AUDIENCE = "bcc-keypair-portal"
META_KEY = "HTTP_X_JWT_ASSERTION"
OLD_KEY, NEW_KEY, ATTACKER_KEY = rsa_key(), rsa_key(), rsa_key()
COOLDOWN = 60.0


class Clock:
    """The monotonic clock portal.auth.jwks reads, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    moved = Clock()
    monkeypatch.setattr(jwks, "monotonic", moved)
    return moved


@pytest.fixture
def key_server():
    with JwksServer([public_jwk(OLD_KEY, kid="old", alg="RS256")]) as server:
        jwks.forget()
        yield server
        jwks.forget()


@pytest.fixture
def proxy_mode(settings, key_server, clock, db):
    settings.AUTH_MODE = modes.PROXY
    settings.AUTHENTICATION_BACKENDS = modes.backends_for(modes.PROXY)
    settings.MIDDLEWARE = modes.middleware_for(modes.PROXY, settings.MIDDLEWARE)
    settings.PROXY_JWT_ISSUER = ISSUER
    settings.PROXY_JWT_AUDIENCE = AUDIENCE
    settings.PROXY_JWKS_URL = key_server.url
    settings.PROXY_JWT_PUBLIC_KEY = ""
    settings.JWKS_REFETCH_COOLDOWN_SECONDS = COOLDOWN
    return key_server


def assertion(key=OLD_KEY, kid: str = "old") -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "accounts:1001", "iat": now, "exp": now + 300}
    return jwt.encode({**claims, "groups": ["developers"], "preferred_username": "alice"}, key, "RS256", {"kid": kid})


def forged() -> str:
    return assertion(ATTACKER_KEY, kid=secrets.token_hex(8))


def rotate_in_new_key(server: JwksServer) -> None:
    server.keys = [*server.keys, public_jwk(NEW_KEY, kid="new", alg="RS256")]


def key_set(server: JwksServer, *, timeout: float = 5.0) -> jwks.KeySet:
    return jwks.key_set_for(server.url, lifespan=300, timeout=timeout, cooldown=COOLDOWN)


# --- Through the proxy mode -------------------------------------------------------------------------


def test_a_hundred_forged_key_ids_fetch_the_key_set_at_most_once_per_cooldown(proxy_mode):
    assert Client().get("/", **{META_KEY: assertion()}).status_code == 200
    assert proxy_mode.fetches == 1

    statuses = {Client().get("/", **{META_KEY: forged()}).status_code for _ in range(100)}

    assert statuses == {403}
    assert proxy_mode.fetches == 2, "one refetch for the first unknown key id, none for the other 99"


def test_a_token_signed_with_a_newly_rotated_key_is_accepted_after_one_refetch(proxy_mode):
    assert Client().get("/", **{META_KEY: assertion()}).status_code == 200
    rotate_in_new_key(proxy_mode)

    response = Client().get("/", **{META_KEY: assertion(NEW_KEY, kid="new")})

    assert response.status_code == 200
    assert proxy_mode.fetches == 2


def test_a_new_key_id_during_the_cooldown_is_refused_without_a_fetch_and_fetched_after_it(proxy_mode, clock):
    Client().get("/", **{META_KEY: forged()})
    assert proxy_mode.fetches == 2
    rotate_in_new_key(proxy_mode)

    assert Client().get("/", **{META_KEY: assertion(NEW_KEY, kid="new")}).status_code == 403
    assert proxy_mode.fetches == 2, "still unknown: the cooldown has not ended"

    clock.advance(COOLDOWN)
    assert Client().get("/", **{META_KEY: assertion(NEW_KEY, kid="new")}).status_code == 200
    assert proxy_mode.fetches == 3


# --- The OIDC provider's keys ------------------------------------------------------------------------


def test_forged_key_ids_in_id_tokens_fetch_the_providers_keys_at_most_once_per_cooldown(settings, key_server, clock):
    settings.OIDC_ISSUER = "https://login.example.com"
    settings.OIDC_RP_CLIENT_ID = AUDIENCE
    settings.OIDC_RP_CLIENT_SECRET = "client-secret"
    settings.OIDC_OP_JWKS_ENDPOINT = key_server.url
    settings.JWKS_REFETCH_COOLDOWN_SECONDS = COOLDOWN
    backend = PortalOIDCBackend()

    for _ in range(100):
        with pytest.raises(SuspiciousOperation, match="a key the provider does not publish"):
            backend.verify_token(forged(), nonce="n")

    assert key_server.fetches == 2, "the first fetch, then one refetch"


# --- Concurrent requests and a key server that hangs ----------------------------------------------------


def run_together(count: int, work) -> list[object]:
    """``work()`` in ``count`` threads started at once; each thread's result or exception."""
    results: list[object] = [None] * count
    start = threading.Barrier(count)

    def one(index: int) -> None:
        start.wait()
        try:
            results[index] = work()
        except Exception as error:  # the test looks at what each thread got
            results[index] = error

    threads = [threading.Thread(target=one, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_forged_key_ids_share_one_refetch(key_server, clock):
    keys = key_set(key_server)
    keys.signing_key(assertion())
    key_server.gate.clear()  # the key server answers only once every thread has asked

    threading.Timer(0.5, key_server.gate.set).start()
    results = run_together(20, lambda: keys.signing_key(forged()))

    assert all(isinstance(result, jwks.UnknownKey) for result in results)
    assert key_server.fetches == 2


def test_a_hanging_key_server_is_asked_once_and_every_waiting_request_gives_up(key_server, clock):
    keys = key_set(key_server, timeout=0.5)
    key_server.gate.clear()  # hangs until the test ends

    results = run_together(8, lambda: keys.signing_key(assertion()))

    assert all(isinstance(result, jwks.KeysUnavailable) for result in results), results
    assert key_server.fetches == 1


def test_a_known_key_is_answered_while_a_refetch_hangs(key_server, clock):
    keys = key_set(key_server)
    keys.signing_key(assertion())
    key_server.gate.clear()
    refetching = threading.Thread(target=run_together, args=(1, lambda: keys.signing_key(forged())))
    refetching.start()
    while key_server.fetches < 2:
        time.sleep(0.01)  # until the refetch is at the key server (not a timing assertion)

    assert keys.signing_key(assertion()).key_id == "old"

    key_server.gate.set()
    refetching.join(timeout=10)


def test_a_failed_refetch_keeps_the_keys_that_are_still_fresh(key_server, clock):
    keys = key_set(key_server, timeout=0.5)
    keys.signing_key(assertion())
    key_server.gate.clear()

    with pytest.raises(jwks.UnknownKey):
        keys.signing_key(forged())

    assert keys.signing_key(assertion()).key_id == "old"
    assert key_server.fetches == 2


def test_an_expired_key_set_is_fetched_again(key_server, clock):
    keys = key_set(key_server)
    keys.signing_key(assertion())

    clock.advance(300)
    keys.signing_key(assertion())

    assert key_server.fetches == 2
