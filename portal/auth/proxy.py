"""Sign-in behind an identity-aware proxy (oauth2-proxy, Pomerium, Google IAP and the like).

The proxy signs people in and forwards each request with a signed JWT assertion in one
header (``PROXY_JWT_HEADER``). The portal trusts nothing else.

Threats, and what stops each
----------------------------
- **A forged identity header.** A plain ``X-Forwarded-User: alice`` is trivially forged by
  anyone who can reach the portal without the proxy, or whose proxy passes a header it
  should have stripped. oauth2-proxy's CVE-2025-64484 was exactly that: it stripped
  ``X-Forwarded-User`` but not ``X_Forwarded_User``, and WSGI servers that fold ``_`` and
  ``-`` together handed the forged name to the application. So no user-name header,
  ``REMOTE_USER`` or similar is ever read here. The only input is the assertion, and it is
  believed only once its signature verifies against the proxy's key (``PROXY_JWKS_URL`` or
  ``PROXY_JWT_PUBLIC_KEY``), its ``iss`` is the proxy, its ``aud`` is this portal, and it has
  not expired (``exp`` and ``iat`` are required; ``PROXY_JWT_LEEWAY_SECONDS`` of clock skew).
- **A second copy of the assertion header** (say ``X_Jwt_Assertion`` beside
  ``X-Jwt-Assertion``). The header is read from exactly one ``request.META`` key. gunicorn
  (since 22) and Django's runserver drop header names containing ``_``; servers that keep
  both join them with a comma (gunicorn's ``header_map=dangerous``, ASGI servers), and a
  value that is not exactly one compact JWS (three base64url parts) is refused outright. A
  server that let the last copy win could at worst pass another *validly signed* assertion,
  which only the proxy can make.
- **A session cookie without the proxy.** Every request (except the health check) must
  carry a valid assertion, even with a signed-in session; a missing or invalid one ends the
  session. The session only spares re-creating the sign-in on every request: it is kept
  while the assertion names the same (issuer, subject) that signed in.
- **A role taken away at the provider while the session lasts.** Roles follow the assertion
  on every request. The session remembers the roles the claims granted when last synced; an
  unchanged claim costs one comparison (no query, no write). A changed one re-syncs the
  account's roles before the view runs, so a developer whose group was removed is refused on
  that very request, and the change is audited (``roles_changed``). Someone left with no role
  at all is signed out and refused like anyone without a role.
- **Algorithm confusion.** Only the public-key algorithms in ``PROXY_JWT_ALGORITHMS`` are
  accepted (settings refuse HS* and ``none``).

Each sign-in and each refusal is audited (``audit_hooks``); the refusal says why (expired,
wrong audience ...), never the token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_noop

from portal.auth import audit_hooks, identities, jwks, modes, refusals, roles
from portal.auth.permissions import OneQueryPermissions
from portal.auth.views import no_access_response

logger = logging.getLogger(__name__)

BACKEND_PATH = modes.PROXY_BACKEND
SESSION_IDENTITY_KEY = "portal_auth_proxy_identity"
# The roles the assertion's claims granted when the account's roles were last synced.
SESSION_ROLES_KEY = "portal_auth_proxy_roles"
# The groups claim's values when ``Identity.groups`` was last written (access rules name them).
SESSION_GROUPS_KEY = "portal_auth_proxy_groups"
# Views reachable without an assertion: load balancers probe the health check directly.
EXEMPT_URL_NAMES = frozenset({"health"})
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]

# One compact JWS: header.payload.signature, base64url without padding.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_ASSERTION_LENGTH = 16 * 1024

# English in the audit row; the "no access" page translates them (refusals.for_people).
MISSING = refusals.templated(gettext_noop("No identity assertion from the proxy (header {header} is missing)."))
MALFORMED = gettext_noop("The identity assertion is not a single signed JWT (malformed, or the header was sent twice).")
EXPIRED = gettext_noop("The identity assertion has expired.")
WRONG_AUDIENCE = gettext_noop("The identity assertion is meant for another application (wrong audience).")
WRONG_ISSUER = gettext_noop("The identity assertion comes from another issuer.")
BAD_SIGNATURE = gettext_noop("The identity assertion's signature does not verify: it was not signed by the proxy.")
UNKNOWN_KEY = gettext_noop("The identity assertion is signed with a key the proxy does not publish.")
BAD_ALGORITHM = gettext_noop("The identity assertion uses an algorithm the portal does not accept.")
MISSING_CLAIM = gettext_noop("The identity assertion lacks a required claim (exp, iat, iss, aud, sub).")
NOT_YET_VALID = gettext_noop("The identity assertion is not valid yet.")
INVALID = gettext_noop("The identity assertion is invalid.")
KEYS_UNAVAILABLE = gettext_noop("The proxy's signing keys could not be fetched.")


class AssertionRefused(Exception):
    """The assertion cannot be believed; the message is the reason, for the audit and the page."""


def header_meta_key(header: str) -> str:
    """``X-Jwt-Assertion`` -> ``HTTP_X_JWT_ASSERTION``, as WSGI servers name it in the environ."""
    return "HTTP_" + header.upper().replace("-", "_")


def read_assertion(request: HttpRequest) -> str | None:
    """The raw value of the one configured header, or None when absent. Never any other header."""
    value = request.META.get(header_meta_key(settings.PROXY_JWT_HEADER))
    return value if value else None


def verify_assertion(token: str | None) -> dict[str, Any]:
    """The claims of a valid assertion; AssertionRefused (with the reason) otherwise."""
    if token is None:
        raise AssertionRefused(MISSING.format(header=settings.PROXY_JWT_HEADER))
    if len(token) > MAX_ASSERTION_LENGTH or not _COMPACT_JWS.fullmatch(token):
        raise AssertionRefused(MALFORMED)
    try:
        # Before any key is looked up: a token in another algorithm is refused as such.
        if jwt.get_unverified_header(token).get("alg") not in settings.PROXY_JWT_ALGORITHMS:
            raise AssertionRefused(BAD_ALGORITHM)
        return jwt.decode(
            token,
            _verification_key(token),
            algorithms=list(settings.PROXY_JWT_ALGORITHMS),
            audience=settings.PROXY_JWT_AUDIENCE,
            issuer=settings.PROXY_JWT_ISSUER,
            leeway=settings.PROXY_JWT_LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWKClientConnectionError as error:
        logger.error("Could not fetch the proxy's JWKS from PROXY_JWKS_URL: %s", type(error).__name__)
        raise AssertionRefused(KEYS_UNAVAILABLE) from error
    except jwt.PyJWTError as error:
        raise AssertionRefused(_reason(error)) from error


def _reason(error: jwt.PyJWTError) -> str:
    reasons: list[tuple[type[Exception], str]] = [
        (jwt.ExpiredSignatureError, EXPIRED),
        (jwt.InvalidAudienceError, WRONG_AUDIENCE),
        (jwt.InvalidIssuerError, WRONG_ISSUER),
        (jwt.InvalidSignatureError, BAD_SIGNATURE),
        (jwt.InvalidAlgorithmError, BAD_ALGORITHM),
        (jwt.MissingRequiredClaimError, MISSING_CLAIM),
        (jwt.ImmatureSignatureError, NOT_YET_VALID),
        (jwt.PyJWKClientError, UNKNOWN_KEY),
    ]
    for kind, reason in reasons:
        if isinstance(error, kind):
            return reason
    return INVALID


# --- Keys -------------------------------------------------------------------------------


def _verification_key(token: str):
    if settings.PROXY_JWT_PUBLIC_KEY:
        return _public_key_text(settings.PROXY_JWT_PUBLIC_KEY)
    key_set = jwks.key_set_for(
        settings.PROXY_JWKS_URL,
        lifespan=settings.PROXY_JWKS_CACHE_SECONDS,
        timeout=settings.PROXY_JWKS_TIMEOUT,
        cooldown=settings.JWKS_REFETCH_COOLDOWN_SECONDS,
    )
    return key_set.signing_key(token)


def _public_key_text(value: str) -> str:
    """PEM text, or a path to a PEM file (multi-line PEM is awkward in an environment variable)."""
    if value.lstrip().startswith("-----BEGIN"):
        return value
    return Path(value).read_text()


def forget_keys() -> None:
    """Drop cached key sets (tests; or after the proxy rotated its keys)."""
    jwks.forget()


# --- Backend and middleware ---------------------------------------------------------------


class ProxyAssertionBackend(OneQueryPermissions, ModelBackend):
    """Authenticates ``assertion_token`` (the credential's name hides it from Django's signal payloads).

    Inherits ModelBackend's permission checks (loaded in one query: ``portal.auth.permissions``);
    its password sign-in is never reached, since ``authenticate`` only takes an assertion.
    """

    def authenticate(self, request: HttpRequest | None, assertion_token: str | None = None, **kwargs):
        if request is None or settings.AUTH_MODE != modes.PROXY or kwargs:
            return None
        try:
            claims = verify_assertion(assertion_token)
        except AssertionRefused as refused:
            refusals.note(request, str(refused))
            return None
        return identities.sign_in_user(request=request, issuer=claims["iss"], claims=claims)


class ProxyAssertionMiddleware:
    """Checks the assertion on every request but the health check; see the module docstring.

    Sits after AuthenticationMiddleware (it needs the session's user) and before
    LoginRequiredMiddleware (which would otherwise redirect to a sign-in page).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if settings.AUTH_MODE != modes.PROXY:
            return None
        if request.resolver_match is not None and request.resolver_match.url_name in EXEMPT_URL_NAMES:
            return None
        token = read_assertion(request)
        claims = self._claims_of_the_same_person(request, token)
        if claims is not None:
            granted = roles.roles_from_claims(claims)
            _keep_groups(request, claims)
            if request.session.get(SESSION_ROLES_KEY) == _roles_key(granted):
                return None
            identities.roles_resync(request=request, user=request.user, granted=granted)
            if granted:
                request.session[SESSION_ROLES_KEY] = _roles_key(granted)
                return None
            # No role left: signed out below, and refused as anyone without a role is.
        if request.user.is_authenticated:
            # Another person's assertion, or none, or an invalid one: this session is over.
            auth.logout(request)
        user = auth.authenticate(request, assertion_token=token)
        if user is None:
            refusal = refusals.noted(request)
            return no_access_response(request, refusal.reason if refusal else INVALID)
        auth.login(request, user, backend=BACKEND_PATH)
        audit_hooks.record_sign_in(request, user)
        request.session[SESSION_IDENTITY_KEY] = _identity_key(
            getattr(request, identities.ISSUER_ATTRIBUTE), getattr(request, identities.SUBJECT_ATTRIBUTE)
        )
        request.session[SESSION_ROLES_KEY] = _roles_key(getattr(request, identities.ROLES_ATTRIBUTE))
        # sign_in_user has just stored the groups on the identity.
        request.session[SESSION_GROUPS_KEY] = _groups_key(getattr(request, identities.GROUPS_ATTRIBUTE))
        return None

    @staticmethod
    def _claims_of_the_same_person(request: HttpRequest, token: str | None) -> dict[str, Any] | None:
        """The assertion's claims when it is valid and names the person this session signed in; else None."""
        if not request.user.is_authenticated:
            return None
        try:
            claims = verify_assertion(token)
        except AssertionRefused:
            return None
        if request.session.get(SESSION_IDENTITY_KEY) != _identity_key(claims["iss"], claims["sub"]):
            return None
        return claims


def _identity_key(issuer: str, subject: str) -> str:
    return f"{issuer}\n{subject}"


def _keep_groups(request: HttpRequest, claims: dict[str, Any]) -> None:
    """Store the assertion's groups on the identity when they changed since the session last did."""
    groups = identities.groups_from_claims(claims)
    if request.session.get(SESSION_GROUPS_KEY) == _groups_key(groups):
        return
    identities.groups_resync(issuer=claims["iss"], subject=claims["sub"], groups=groups)
    request.session[SESSION_GROUPS_KEY] = _groups_key(groups)


def _groups_key(groups: list[str]) -> str:
    return "\n".join(groups)


def _roles_key(granted: set[roles.Role]) -> str:
    """The granted roles as one short, order-free string: what the session compares on every request."""
    return ",".join(sorted(granted))
