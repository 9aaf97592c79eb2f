"""OpenID Connect discovery: the provider's endpoints from ``{issuer}/.well-known/openid-configuration``.

With discovery only the issuer, the client id and the client secret need configuring.
mozilla-django-oidc itself reads fixed endpoint settings, so ``oidc.py`` asks ``endpoint()``
instead; an endpoint set explicitly in the settings (``OIDC_OP_TOKEN_ENDPOINT`` ...) wins
over the discovered one, for providers without discovery.

The document is fetched lazily, on the first sign-in, not at start-up: a provider that is
down must not stop the portal from starting (the health check, and developers who are
already signed in, keep working). It is then cached in the process for
``OIDC_DISCOVERY_CACHE_SECONDS``; a failed fetch is not cached, so the next sign-in tries
again.

The document's ``issuer`` must equal the configured issuer (OpenID Connect Discovery 1.0,
section 4.3): otherwise a document served at a look-alike address could point the portal at
another provider's endpoints.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

WELL_KNOWN_PATH = "/.well-known/openid-configuration"

UNREACHABLE_MESSAGE = "The identity provider's discovery document could not be fetched ({problem})."
ISSUER_MISMATCH_MESSAGE = (
    "The identity provider's discovery document names the issuer {found!r}, "
    "not the configured OIDC_ISSUER {expected!r}."
)
MISSING_ENDPOINT_MESSAGE = "The identity provider's discovery document has no {name}."

# Setting that overrides each discovered field.
OVERRIDES = {
    "authorization_endpoint": "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "token_endpoint": "OIDC_OP_TOKEN_ENDPOINT",
    "userinfo_endpoint": "OIDC_OP_USER_ENDPOINT",
    "jwks_uri": "OIDC_OP_JWKS_ENDPOINT",
}


class DiscoveryError(Exception):
    """The provider's metadata could not be had; the message is a sentence for people and logs."""


@dataclass(frozen=True)
class _Cached:
    issuer: str
    document: dict[str, Any]
    fetched_at: float


_lock = threading.Lock()
_cached: _Cached | None = None


def endpoint(name: str) -> str:
    """One endpoint URL (``token_endpoint``, ``jwks_uri`` ...): the explicit setting, else discovered."""
    explicit = getattr(settings, OVERRIDES.get(name, ""), "") if name in OVERRIDES else ""
    if explicit:
        return explicit
    value = metadata().get(name)
    if not isinstance(value, str) or not value:
        raise DiscoveryError(MISSING_ENDPOINT_MESSAGE.format(name=name))
    return value


def metadata() -> dict[str, Any]:
    """The configured issuer's discovery document, cached."""
    global _cached
    issuer = settings.OIDC_ISSUER
    with _lock:
        cached = _cached
        fresh = cached is not None and time.monotonic() - cached.fetched_at < settings.OIDC_DISCOVERY_CACHE_SECONDS
        if fresh and cached.issuer == issuer:
            return cached.document
        document = _fetch(issuer)
        _cached = _Cached(issuer=issuer, document=document, fetched_at=time.monotonic())
        return document


def forget() -> None:
    """Drop the cached document (tests; or after the provider's configuration changed)."""
    global _cached
    with _lock:
        _cached = None


def _fetch(issuer: str) -> dict[str, Any]:
    url = issuer.rstrip("/") + WELL_KNOWN_PATH
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        document = response.json()
    except requests.RequestException as error:
        raise DiscoveryError(UNREACHABLE_MESSAGE.format(problem=type(error).__name__)) from error
    except ValueError as error:
        raise DiscoveryError(UNREACHABLE_MESSAGE.format(problem="not JSON")) from error
    if not isinstance(document, dict):
        raise DiscoveryError(UNREACHABLE_MESSAGE.format(problem="not a JSON object"))
    found = document.get("issuer")
    if not isinstance(found, str) or found.rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryError(ISSUER_MISMATCH_MESSAGE.format(found=found, expected=issuer))
    return document
