"""Public keys from a JSON Web Key Set URL, cached, and the one that verifies a given token.

Used for the OIDC provider's ID tokens and the proxy's assertions. One ``KeySet`` per URL for
the process keeps the set for ``lifespan`` seconds.

Threat: a token's ``kid`` is chosen by whoever sends it, before anything is verified. If an
unknown ``kid`` made the portal refetch the set, anonymous requests with made-up ids would
hammer the key server, and a slow key server would then hold every request in line behind
those fetches (as measured in issue 9: docs/benchmarks.md, section 7). So:

- **At most one refetch per cooldown** (``JWKS_REFETCH_COOLDOWN_SECONDS``) per process and
  URL, for an unknown ``kid``. Rotation still works: a provider's new key is fetched by the
  first token that names it, provided no refetch happened in the last cooldown.
- **Unknown until the cooldown ends.** Once a refetch was made, every ``kid`` missing from the
  set is refused at once until the cooldown ends, with no fetch and no wait. This is kept as
  one timestamp, not a list of ids, so an attacker cannot grow the portal's memory.
- **One fetch in flight.** Concurrent requests that need a fetch share it: one fetches, the
  others wait for it (at most the timeout) and use its result, keys or failure.
- **Known keys never wait.** A token whose key is in a fresh set is answered from memory
  without taking any lock, whatever fetch is in flight.
- **A slow or dead key server** holds a request at most ``timeout`` (the fetch's own, or
  the wait for another request's fetch). A failed fetch is not cached, and never wipes a set
  that is still fresh.

Which key: the one whose ``kid`` the token's header names, and whose algorithm is the one the
header names (a key is never used with another algorithm than its own). A token without
``kid`` is accepted only when the set holds exactly one signing key for its algorithm (some
providers and proxies with a single key omit it); with several, guessing would be wrong.

The clock is ``monotonic`` in this module, so tests move time instead of sleeping.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable

import jwt

logger = logging.getLogger(__name__)

NO_MATCHING_KEY = "no key in the provider's key set matches the token"
KEYS_UNAVAILABLE = "the key set could not be fetched"

# The clock for cache ages and cooldowns; tests replace it.
monotonic: Callable[[], float] = time.monotonic

_lock = threading.Lock()
_key_sets: dict[str, KeySet] = {}


class UnknownKey(jwt.PyJWKClientError):
    """No key of the set fits the token."""


class KeysUnavailable(jwt.PyJWKClientConnectionError):
    """The key set could not be fetched (down, slow, or not a key set); no key was tried."""


class KeySet:
    """One URL's keys, fetched through PyJWKClient (no redirects, TLS as configured), cached here."""

    def __init__(
        self, url: str, *, lifespan: float, timeout: float, cooldown: float, ca_bundle: str | None = None
    ) -> None:
        context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
        # PyJWKClient only fetches and parses: its own cache and cooldown are not used.
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout, ssl_context=context)
        self.url = url
        self.lifespan = lifespan
        self.timeout = timeout
        self.cooldown = cooldown
        self._keys: list[jwt.PyJWK] | None = None
        self._fetched_at: float | None = None
        self._refetched_at: float | None = None
        self._fetch_lock = threading.Lock()
        # Counts finished fetches (good or bad), so that a request that waited can see one happened.
        self._fetches_done = 0
        self._last_failure: Exception | None = None

    def signing_key(self, token: str) -> jwt.PyJWK:
        """The key that should verify ``token``; UnknownKey if none fits. Does not verify anything itself."""
        header = jwt.get_unverified_header(token)
        kid, alg = header.get("kid"), header.get("alg")
        key = _pick(self._fresh_keys(), kid, alg)
        if key is None and kid is not None and self._may_refetch():
            key = _pick(self._fetch(refetch=True), kid, alg)
        if key is None:
            raise UnknownKey(NO_MATCHING_KEY)
        return key

    def _fresh_keys(self) -> list[jwt.PyJWK]:
        keys = self._keys
        if keys is not None and self._is_fresh():
            return keys
        return self._fetch(refetch=False)

    def _is_fresh(self) -> bool:
        fetched_at = self._fetched_at
        return fetched_at is not None and monotonic() - fetched_at < self.lifespan

    def _may_refetch(self) -> bool:
        refetched_at = self._refetched_at
        return refetched_at is None or monotonic() - refetched_at >= self.cooldown

    def _fetch(self, *, refetch: bool) -> list[jwt.PyJWK]:
        """Fetch the set, or share the fetch another request has in flight."""
        seen = self._fetches_done
        if not self._fetch_lock.acquire(timeout=self.timeout):
            raise KeysUnavailable(KEYS_UNAVAILABLE)
        try:
            if self._fetches_done != seen:
                # Another request fetched while this one waited: its outcome is this one's too.
                return self._outcome()
            # Decided before the lock was held: check again now that it is.
            already_done = not self._may_refetch() if refetch else self._keys is not None and self._is_fresh()
            if already_done:
                return self._keys or []
            if refetch:
                # Counted from the start: a slow refetch must not let others start another.
                self._refetched_at = monotonic()
            try:
                keys = jwt.PyJWKSet.from_dict(self._client.fetch_data()).keys
            except (jwt.PyJWTError, ValueError) as error:
                # ValueError: a body that is not JSON (PyJWKClient lets json's error through).
                self._last_failure = error
                logger.warning("Could not fetch the key set at %s: %s", self.url, type(error).__name__)
            else:
                self._keys, self._fetched_at, self._last_failure = keys, monotonic(), None
            finally:
                self._fetches_done += 1
            return self._outcome()
        finally:
            self._fetch_lock.release()

    def _outcome(self) -> list[jwt.PyJWK]:
        """The keys after the latest fetch; a failed one keeps a set that is still fresh."""
        if self._last_failure is None or self._is_fresh():
            return self._keys or []
        raise KeysUnavailable(KEYS_UNAVAILABLE) from self._last_failure


def key_set_for(url: str, *, lifespan: float, timeout: float, cooldown: float, ca_bundle: str | None = None) -> KeySet:
    """The process's one KeySet for ``url`` (made on first use with these parameters)."""
    with _lock:
        key_set = _key_sets.get(url)
        if key_set is None:
            key_set = KeySet(url, lifespan=lifespan, timeout=timeout, cooldown=cooldown, ca_bundle=ca_bundle)
            _key_sets[url] = key_set
        return key_set


def forget() -> None:
    """Drop every cached key set (tests; or after a provider rotated its keys)."""
    with _lock:
        _key_sets.clear()


def _pick(keys: list[jwt.PyJWK], kid: str | None, alg: str | None) -> jwt.PyJWK | None:
    """By ``kid`` when the token names one, else the only key; either way its algorithm must be the token's.

    A key published without ``alg`` has its type's usual one (RS256 for RSA, ES256 for P-256).
    """
    signing = [key for key in keys if key.public_key_use in (None, "sig")]
    if kid is not None:
        signing = [key for key in signing if key.key_id == kid]
    fitting = [key for key in signing if key.algorithm_name == alg]
    return fitting[0] if len(fitting) == 1 else None
