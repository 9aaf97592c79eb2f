"""Sign-in with OpenID Connect: mozilla-django-oidc, with the checks and the matching the portal needs.

mozilla-django-oidc runs the authorization code flow (state, nonce, the code exchange).
What this module changes, and why:

- **PKCE always** (S256), whatever the settings say: a stolen authorization code is useless
  without the verifier that never left the portal.
- **Endpoints from discovery** (``discovery.py``), resolved when first needed. The library
  reads its endpoint settings in ``__init__``, and Django builds a backend object on every
  request; the properties below defer that to the moment a sign-in needs them.
- **The ID token is checked in full**: signature with the provider's key and only the
  configured algorithm; ``iss`` equal to ``OIDC_ISSUER``; ``aud`` containing our client id
  (and ``azp`` naming us when there are several audiences); ``exp``, ``iat`` and ``sub``
  present, ``exp`` not past; the nonce this browser's sign-in started with. The library
  skips the audience and issuer checks.
- **User info about the same person**: its ``sub`` must equal the ID token's (OpenID Connect
  Core 5.3.2), or a mixed-up response could sign one person in as another.
- **Matched on (issuer, sub)**, not on email, and roles from the claims (``identities.py``).
- **Every failure is a refusal, not an error page**: network errors, a bad token, a stale
  callback all end in an audited refusal and the "no access" page with the reason.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_noop
from django.views.generic import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from portal.auth import audit_hooks, discovery, identities, jwks, modes, refusals
from portal.auth.permissions import OneQueryPermissions
from portal.auth.views import NO_ACCESS_SESSION_KEY, landing_url, provider_unavailable_response

logger = logging.getLogger(__name__)

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
# Parts of refusals.INVALID_ID_TOKEN: kept English in the audit row, translated on the page (refusals.for_people).
NONCE_PROBLEM = gettext_noop("its nonce does not match this sign-in")
UNKNOWN_KEY_PROBLEM = gettext_noop("it is signed with a key the provider does not publish")
AZP_PROBLEM = gettext_noop("it names several audiences but not this portal as its authorized party")
# The provider's error code is shown and audited; only its harmless characters are kept.
_ERROR_CODE = re.compile(r"[^A-Za-z0-9_.-]")

# Forced whatever the settings say.
_FORCED_SETTINGS = {"OIDC_USE_PKCE": True, "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256", "OIDC_USE_NONCE": True}


def _setting(attr: str, *default):
    if attr in _FORCED_SETTINGS:
        return _FORCED_SETTINGS[attr]
    return getattr(settings, attr, *default) if default else getattr(settings, attr)


class PortalOIDCBackend(OneQueryPermissions, OIDCAuthenticationBackend):
    """Signs people in from the OIDC callback; see the module docstring for what it checks."""

    def __init__(self, *args, **kwargs) -> None:
        # Not the library's __init__: it reads every endpoint (and so would need discovery)
        # each time Django builds a backend, which is on every request.
        ModelBackend.__init__(self)
        self.UserModel = get_user_model()

    get_settings = staticmethod(_setting)

    def get_user(self, user_id):
        """The session's person, or None once deactivated: their session ends on the next request.

        The library's ``get_user`` returns any account, active or not; ModelBackend's (as in the
        local and proxy modes) refuses a deactivated one, which signs the session out.
        """
        return ModelBackend.get_user(self, user_id)

    # The library's attribute names, resolved when a sign-in reads them.
    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return discovery.endpoint("token_endpoint")

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return discovery.endpoint("userinfo_endpoint")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return discovery.endpoint("jwks_uri")

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return settings.OIDC_RP_CLIENT_SECRET

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:
        return settings.OIDC_RP_SIGN_ALGO

    def authenticate(self, request: HttpRequest | None, **kwargs):
        if request is None or settings.AUTH_MODE != modes.OIDC:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except discovery.DiscoveryError as error:
            logger.warning("OIDC sign-in failed: %s", error)
            refusals.note(request, refusals.PROVIDER_UNREACHABLE)
        except requests.HTTPError as error:
            # A refused code exchange (say, a wrong PKCE verifier or client secret), or user info.
            status = error.response.status_code if error.response is not None else "?"
            logger.warning("OIDC sign-in refused by the provider: HTTP %s", status)
            refusals.note(request, refusals.PROVIDER_REFUSED.format(status=status))
        except requests.RequestException as error:
            # The exception's text may quote the provider's answer; its type is enough here.
            logger.warning("OIDC sign-in failed talking to the provider: %s", type(error).__name__)
            refusals.note(request, refusals.PROVIDER_UNREACHABLE)
        except SuspiciousOperation as error:
            logger.warning("OIDC sign-in refused: %s", error)
            if refusals.noted(request) is None:
                refusals.note(request, str(error))
        return None

    def verify_token(self, token: str, **kwargs) -> dict:
        """The ID token's claims, once everything in the module docstring holds; else SuspiciousOperation."""
        try:
            if jwt.get_unverified_header(token).get("alg") != self.OIDC_RP_SIGN_ALGO:
                raise jwt.InvalidAlgorithmError("algorithm not allowed")
            payload = jwt.decode(
                token,
                self._signing_key(token),
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_ISSUER,
                leeway=settings.OIDC_LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.InvalidTokenError as error:
            raise SuspiciousOperation(refusals.INVALID_ID_TOKEN.format(problem=_problem(error))) from error
        if "nonce" in kwargs and not constant_time_compare(str(payload.get("nonce", "")), str(kwargs["nonce"] or "")):
            raise SuspiciousOperation(refusals.INVALID_ID_TOKEN.format(problem=NONCE_PROBLEM))
        audiences = payload["aud"] if isinstance(payload["aud"], list) else [payload["aud"]]
        if len(audiences) > 1 and payload.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation(refusals.INVALID_ID_TOKEN.format(problem=AZP_PROBLEM))
        return payload

    def _signing_key(self, token: str):
        if self.OIDC_RP_SIGN_ALGO.startswith("HS"):
            return self.OIDC_RP_CLIENT_SECRET
        if settings.OIDC_RP_IDP_SIGN_KEY:
            return settings.OIDC_RP_IDP_SIGN_KEY
        ca_bundle = settings.OIDC_VERIFY_SSL if isinstance(settings.OIDC_VERIFY_SSL, str) else None
        key_set = jwks.key_set_for(
            self.OIDC_OP_JWKS_ENDPOINT,
            lifespan=settings.OIDC_JWKS_CACHE_SECONDS,
            timeout=settings.OIDC_TIMEOUT,
            cooldown=settings.JWKS_REFETCH_COOLDOWN_SECONDS,
            ca_bundle=ca_bundle,
        )
        try:
            return key_set.signing_key(token)
        except jwt.PyJWKClientConnectionError as error:
            raise discovery.DiscoveryError(refusals.PROVIDER_UNREACHABLE) from error
        except (jwt.PyJWTError, KeyError, ValueError) as error:
            raise SuspiciousOperation(refusals.INVALID_ID_TOKEN.format(problem=UNKNOWN_KEY_PROBLEM)) from error

    def get_userinfo(self, access_token: str, id_token: str, payload: dict) -> dict:
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
            refusals.note(self.request, refusals.USERINFO_MISMATCH, subject=str(payload.get("sub", "")))
            raise SuspiciousOperation(refusals.USERINFO_MISMATCH)
        # The ID token's claims, completed by user info (which may carry the groups).
        return {**payload, **userinfo}

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict):
        claims = self.get_userinfo(access_token, id_token, payload)
        return identities.sign_in_user(request=self.request, issuer=settings.OIDC_ISSUER, claims=claims)


def _problem(error: jwt.InvalidTokenError) -> str:
    problems = {
        jwt.ExpiredSignatureError: gettext_noop("it has expired"),
        jwt.InvalidAudienceError: gettext_noop("it is meant for another client"),
        jwt.InvalidIssuerError: gettext_noop("it comes from another issuer"),
        jwt.InvalidSignatureError: gettext_noop("its signature is wrong"),
        jwt.MissingRequiredClaimError: gettext_noop("a required claim is missing"),
        jwt.ImmatureSignatureError: gettext_noop("it is not valid yet"),
        jwt.InvalidAlgorithmError: gettext_noop("it is signed with an algorithm the portal does not accept"),
    }
    for kind, text in problems.items():
        if isinstance(error, kind):
            return text
    return gettext_noop("it is malformed")


class SignInStartView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider (state, nonce and a PKCE challenge kept in the session)."""

    get_settings = staticmethod(_setting)

    def __init__(self, **kwargs) -> None:
        # Not the library's __init__, which reads the endpoint before discovery could run.
        View.__init__(self, **kwargs)

    @property
    def OIDC_OP_AUTH_ENDPOINT(self) -> str:
        return discovery.endpoint("authorization_endpoint")

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return settings.OIDC_RP_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        if settings.AUTH_MODE != modes.OIDC:
            raise Http404
        try:
            return super().get(request)
        except discovery.DiscoveryError as error:
            logger.warning("OIDC sign-in could not start: %s", error)
            return provider_unavailable_response(request)


class SignInCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back: signs in, or refuses with an audited reason."""

    get_settings = staticmethod(_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if settings.AUTH_MODE != modes.OIDC:
            raise Http404
        try:
            return super().get(request)
        except SuspiciousOperation:
            # The state is not one this browser's session started: a replayed or forged answer.
            refusals.note(request, refusals.STALE_CALLBACK)
            return self.login_failure()

    def login_failure(self) -> HttpResponse:
        request = self.request
        refusal = refusals.noted(request)
        if refusal is None:
            error = _ERROR_CODE.sub("", request.GET.get("error", ""))[:64]
            reason = refusals.PROVIDER_ERROR.format(error=error) if error else refusals.STALE_CALLBACK
            refusal = refusals.Refusal(reason=reason)
        audit_hooks.record_refusal(request, refusal)
        # Redirected, so that reloading the page does not replay the callback.
        request.session[NO_ACCESS_SESSION_KEY] = refusal.reason
        return redirect("no_access")

    def login_success(self) -> HttpResponse:
        """Signs in, with a session that ends ``SESSION_COOKIE_AGE`` after this moment, whatever follows.

        Roles are read from the claims only here, so the session's age bounds how long a role
        removed at the provider still works. Django moves a session's expiry forward whenever
        the session is written (a sign-in started again, say); an absolute expiry does not move.
        """
        signing_in = not (self.request.user.is_authenticated and self.request.user == self.user)
        response = super().login_success()
        self.request.session.set_expiry(timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE))
        if signing_in:
            audit_hooks.record_sign_in(self.request, self.user)
        return response

    @property
    def success_url(self) -> str:
        return self.request.session.get("oidc_login_next") or landing_url(self.user)
