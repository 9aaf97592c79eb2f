"""Public keys from a JSON Web Key Set URL, cached, and the one that verifies a given token.

Used for the OIDC provider's ID tokens and the proxy's assertions. One ``PyJWKClient`` per
URL for the process keeps the key set for ``lifespan`` seconds and refetches at most once per
cooldown when a token names a key it does not know (rotation), so tokens with made-up key ids
cannot make the portal hammer the provider.

Which key: the one whose ``kid`` the token's header names, and whose algorithm is the one the
header names (a key is never used with another algorithm than its own). A token without
``kid`` is accepted only when the set holds exactly one signing key for its algorithm (some
providers and proxies with a single key omit it); with several, guessing would be wrong.
"""

from __future__ import annotations

import ssl
import threading

import jwt

NO_MATCHING_KEY = "no key in the provider's key set matches the token"

_lock = threading.Lock()
_clients: dict[str, jwt.PyJWKClient] = {}


class UnknownKey(jwt.PyJWKClientError):
    """No key of the set fits the token."""


def client_for(url: str, *, lifespan: float, timeout: float, ca_bundle: str | None = None) -> jwt.PyJWKClient:
    with _lock:
        client = _clients.get(url)
        if client is None:
            context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
            client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=lifespan, timeout=timeout, ssl_context=context)
            _clients[url] = client
        return client


def forget() -> None:
    """Drop every cached key set (tests; or after a provider rotated its keys)."""
    with _lock:
        _clients.clear()


def signing_key(client: jwt.PyJWKClient, token: str) -> jwt.PyJWK:
    """The key that should verify ``token``; UnknownKey if none fits. Does not verify anything itself."""
    header = jwt.get_unverified_header(token)
    kid, alg = header.get("kid"), header.get("alg")
    key = _pick(client.get_jwk_set().keys, kid, alg)
    if key is None and kid is not None:
        # Perhaps the keys were rotated since the set was cached (PyJWKClient rate-limits this).
        key = _pick(client.get_jwk_set(refresh=True).keys, kid, alg)
    if key is None:
        raise UnknownKey(NO_MATCHING_KEY)
    return key


def _pick(keys: list[jwt.PyJWK], kid: str | None, alg: str | None) -> jwt.PyJWK | None:
    """By ``kid`` when the token names one, else the only key; either way its algorithm must be the token's.

    A key published without ``alg`` has its type's usual one (RS256 for RSA, ES256 for P-256).
    """
    signing = [key for key in keys if key.public_key_use in (None, "sig")]
    if kid is not None:
        signing = [key for key in signing if key.key_id == kid]
    fitting = [key for key in signing if key.algorithm_name == alg]
    return fitting[0] if len(fitting) == 1 else None
