"""Which sign-in mode the portal runs in, and what each mode needs from the settings.

``portal/settings.py`` reads the variables and calls ``backends_for``, ``middleware_for`` and
``check_sign_in_settings``; nothing here imports Django models, so settings can import it.

Why ``local`` is refused in production: local accounts have passwords the portal itself
stores and checks, with no company-wide sign-out, no MFA and no leaver process. Running them
in production is a decision someone must write down (``ALLOW_LOCAL_AUTH_IN_PRODUCTION=true``),
never a default that a forgotten variable falls back to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.core.exceptions import ImproperlyConfigured

LOCAL = "local"
OIDC = "oidc"
PROXY = "proxy"
MODES = (LOCAL, OIDC, PROXY)

MODEL_BACKEND = "portal.auth.permissions.PortalModelBackend"
OIDC_BACKEND = "portal.auth.oidc.PortalOIDCBackend"
PROXY_BACKEND = "portal.auth.proxy.ProxyAssertionBackend"
PROXY_MIDDLEWARE = "portal.auth.proxy.ProxyAssertionMiddleware"
AUTHENTICATION_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"

UNKNOWN_MODE_MESSAGE = "AUTH_MODE must be one of local, oidc, proxy (it is {mode!r}); see README.md, 'Sign-in (SSO)'."
LOCAL_IN_PRODUCTION_MESSAGE = (
    "AUTH_MODE is local (Django accounts with passwords) and DEBUG is off. Set AUTH_MODE to oidc or proxy, "
    "or, if local accounts in production are really intended, ALLOW_LOCAL_AUTH_IN_PRODUCTION=true; "
    "see README.md, 'Sign-in (SSO)'."
)
MISSING_MESSAGE = "{name} is not set. AUTH_MODE={mode} needs it; see README.md, 'Sign-in (SSO)'."
PROXY_KEY_MESSAGE = (
    "AUTH_MODE=proxy needs the proxy's signing key: set PROXY_JWKS_URL or PROXY_JWT_PUBLIC_KEY; "
    "see README.md, 'Sign-in (SSO)'."
)
SYMMETRIC_ALGORITHM_MESSAGE = (
    "PROXY_JWT_ALGORITHMS may only name public-key algorithms (RS*, PS*, ES*, EdDSA), not {algorithm!r}: "
    "with a shared secret anyone holding it could sign in as anybody."
)
PUBLIC_KEY_ALGORITHM_PREFIXES = ("RS", "PS", "ES", "EdDSA")
NOT_HTTPS_MESSAGE = (
    "{name} must be an https:// URL when DEBUG is off: over plain http anyone on the path could "
    "swap the identity provider's keys or answers; see README.md, 'Sign-in (SSO)'."
)
# The identity endpoints each SSO mode reaches; with DEBUG off every one that is set must be https.
IDENTITY_ENDPOINTS = {
    OIDC: (
        "OIDC_ISSUER",
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
    ),
    PROXY: ("PROXY_JWKS_URL",),
}


def backends_for(mode: str) -> list[str]:
    """Only the chosen mode's backend: in the SSO modes no password can sign anyone in."""
    return {LOCAL: [MODEL_BACKEND], OIDC: [OIDC_BACKEND], PROXY: [PROXY_BACKEND]}[mode]


def middleware_for(mode: str, middleware: Sequence[str]) -> list[str]:
    """``middleware`` with the proxy's assertion check right after AuthenticationMiddleware in proxy mode.

    It must run before LoginRequiredMiddleware, which would otherwise send a request without
    an assertion to a sign-in page the proxy mode does not have.
    """
    middleware = [name for name in middleware if name != PROXY_MIDDLEWARE]
    if mode == PROXY:
        middleware.insert(middleware.index(AUTHENTICATION_MIDDLEWARE) + 1, PROXY_MIDDLEWARE)
    return middleware


def check_sign_in_settings(*, mode: str, debug: bool, allow_local_in_production: bool, get: Callable) -> None:
    """Refuse to start with a sign-in configuration that cannot work or is unsafe.

    ``get(name)`` returns a setting's value. Raises ImproperlyConfigured naming what is wrong.
    """
    if mode not in MODES:
        raise ImproperlyConfigured(UNKNOWN_MODE_MESSAGE.format(mode=mode))
    if mode == LOCAL and not debug and not allow_local_in_production:
        raise ImproperlyConfigured(LOCAL_IN_PRODUCTION_MESSAGE)
    if mode == OIDC:
        for name in ("OIDC_ISSUER", "OIDC_RP_CLIENT_ID", "OIDC_RP_CLIENT_SECRET"):
            if not get(name):
                raise ImproperlyConfigured(MISSING_MESSAGE.format(name=name, mode=mode))
    if mode == PROXY:
        for name in ("PROXY_JWT_HEADER", "PROXY_JWT_ISSUER", "PROXY_JWT_AUDIENCE"):
            if not get(name):
                raise ImproperlyConfigured(MISSING_MESSAGE.format(name=name, mode=mode))
        if not get("PROXY_JWKS_URL") and not get("PROXY_JWT_PUBLIC_KEY"):
            raise ImproperlyConfigured(PROXY_KEY_MESSAGE)
        for algorithm in get("PROXY_JWT_ALGORITHMS"):
            if not algorithm.startswith(PUBLIC_KEY_ALGORITHM_PREFIXES):
                raise ImproperlyConfigured(SYMMETRIC_ALGORITHM_MESSAGE.format(algorithm=algorithm))
    if not debug:
        for name in IDENTITY_ENDPOINTS.get(mode, ()):
            value = get(name)
            if value and not value.lower().startswith("https://"):
                # The value is not repeated: a URL may carry credentials.
                raise ImproperlyConfigured(NOT_HTTPS_MESSAGE.format(name=name))
