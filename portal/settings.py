"""Settings for the BCC key pair portal.

Every value comes from the environment (or a ``.env`` file beside ``manage.py``) through
django-environ; README.md lists them all. With ``DEBUG`` on, safe local defaults let
``make run`` start with no configuration at all. With ``DEBUG`` off (production, and the
default), every secret must be given explicitly and a missing one stops the start with
a message naming it: a production portal must never run on a development key.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from portal import client_address
from portal import logging as portal_logging

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# Sensitive POST fields (a pasted private key) stay hidden from error pages even with DEBUG on.
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.error_reports.AlwaysSafeExceptionReporterFilter"


def _secret(name: str, development_default: str) -> str:
    """A secret setting: the development default is only ever used with DEBUG on."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return development_default
    raise ImproperlyConfigured(
        f"{name} is not set. It has no default when DEBUG is off; see README.md, 'Configuration'."
    )


SECRET_KEY = _secret("SECRET_KEY", "django-insecure-local-development-only-never-in-production")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set. It has no default when DEBUG is off; see README.md.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "keypairs",
]

MIDDLEWARE = [
    # First, so that every response gets a request id and the portal's security headers, the
    # HTTPS redirect and WhiteNoise's static files included (portal/middleware.py).
    "portal.middleware.RequestIdMiddleware",
    "portal.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session, before anything that renders: the language of every page and message.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The portal's 404 page even with DEBUG on (make run): no technical page listing URLs.
    "portal.error_pages.NotFoundPageMiddleware",
    # Every view needs a signed-in user unless it is marked @login_not_required
    # (the health check and the sign-in page): a new view is private by default.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.auth.context_processors.portal_roles",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections: a create commits four short transactions, and reconnecting for each
# request added to the portal's own overhead on every request (docs/benchmarks.md, R3).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the two gunicorn workers of `make run` write without
    # "database is locked"; IMMEDIATE makes every transaction take the write lock up front.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that silently drops packets must fail fast (rate limits fail open, the
            # health check answers 503), not hang a worker until gunicorn kills it.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="bcc-portal"),
        }
    }
else:
    # Without Redis, the cache is a table in the default database, so that every worker and
    # process on the machine (`make run`'s two gunicorn workers, cron's manage.py commands)
    # shares one rate limit, one quota count and one audit chain status; a per-process memory
    # cache made each of them per worker. Created by `manage.py createcachetable`, which runs
    # after every migrate (keypairs/cache_table.py). On SQLite its writes take the write lock
    # up front (transaction_mode IMMEDIATE below) and wait for it (timeout), never failing
    # with "database is locked". MAX_ENTRIES: Django's default of 300 would cull live
    # rate-limit slots once a few dozen people create at once.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "portal_cache",
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="bcc-portal"),
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# English and Simplified Chinese (locale/, glossary in docs/glossary-zh.md). A person's language
# comes from the switch in the page header (a cookie), else the browser's Accept-Language, else
# LANGUAGE_CODE, which is also the language of mails to people who never chose one
# (portal/languages.py).
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE must be one of {', '.join(dict(LANGUAGES))}, not {LANGUAGE_CODE!r}.")
LOCALE_PATHS = [BASE_DIR / "locale"]
# Each language's date and time formats, every one naming the zone (portal/formats/).
FORMAT_MODULE_PATH = ["portal.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# The switch's cookie: a year, never sent to scripts, nor over plain HTTP in production.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = not DEBUG

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed file names so that static files can be cached forever.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Sessions and cookies -------------------------------------------------------------
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True

# --- Transport security (production behind TLS) -----------------------------------------
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers check /healthz over plain HTTP, straight to the instance: a redirect to
# https:// would read as "unhealthy" (or be followed into a TLS handshake gunicorn cannot do).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
# The proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed, for the client's
# address in audit rows, the download page and the logs (portal/client_address.py). Empty: the
# peer is the client, and the header is never read.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
try:
    client_address.parse_trusted_proxies(TRUSTED_PROXIES)
except ValueError as invalid:
    raise ImproperlyConfigured(str(invalid)) from None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# --- BCC ------------------------------------------------------------------------------
# With DEBUG on and no credentials, `make run` starts the built-in sandbox and hands its
# endpoint and keys to the workers through these same variables (portal/gunicorn.conf.py).
BCC_ACCESS_KEY_ID = _secret("BCC_ACCESS_KEY_ID", "")
BCC_SECRET_ACCESS_KEY = _secret("BCC_SECRET_ACCESS_KEY", "")
# `{region}` is replaced by the region id; the sandbox takes the region as a path prefix.
BCC_ENDPOINT = env.str("BCC_ENDPOINT", default="https://bcc.{region}.baidubce.com")
BCC_REGIONS = env.list("BCC_REGIONS", default=["bj", "gz", "su", "bd", "fwh", "hkg"])
BCC_DEFAULT_REGION = env.str("BCC_DEFAULT_REGION", default="bj")
if BCC_DEFAULT_REGION not in BCC_REGIONS:
    raise ImproperlyConfigured(f"BCC_DEFAULT_REGION {BCC_DEFAULT_REGION!r} is not one of BCC_REGIONS.")
BCC_CONNECT_TIMEOUT = env.float("BCC_CONNECT_TIMEOUT", default=3.05)
BCC_READ_TIMEOUT = env.float("BCC_READ_TIMEOUT", default=20.0)
BCC_MAX_ATTEMPTS = env.int("BCC_MAX_ATTEMPTS", default=3)
# A path to a CA bundle for a TLS-intercepting proxy; TLS verification is never turned off.
BCC_CA_BUNDLE = env.str("BCC_CA_BUNDLE", default="") or True

# --- Logging --------------------------------------------------------------------------
# JSON lines (one object per line, with the portal's and BCC's request ids) unless DEBUG is
# on, where people read plain text; LOG_FORMAT=json|plain chooses. See portal/logging.py.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
try:
    LOG_FORMAT = portal_logging.log_format(env.str("LOG_FORMAT", default=""), debug=DEBUG)
except ValueError as invalid:
    raise ImproperlyConfigured(str(invalid)) from None
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "portal.logging.JsonFormatter"},
        "plain": {"()": "portal.logging.PlainFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}},
}

# --- Audit log and private key delivery (keypairs/audit.py, keypairs/delivery.py) -----
# Signs the audit chain. Whoever holds it can rewrite the log undetectably, so it is not
# SECRET_KEY (rotating one must not break the other) and lives apart from database backups.
AUDIT_HMAC_KEY = _secret("AUDIT_HMAC_KEY", "insecure-local-development-audit-key-never-in-production")
if not DEBUG and len(AUDIT_HMAC_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_HMAC_KEY must be at least 32 characters; see README.md, 'Configuration'.")
# Keys the download token (keypairs/delivery_crypto.py, download_token_for): without it, the
# create form's token (which is in the page) cannot be turned into a working download cookie.
# Not SECRET_KEY or AUDIT_HMAC_KEY: each can be rotated alone (rotating this one only spoils
# the downloads waiting at that moment), and like them it never goes into the database.
DOWNLOAD_TOKEN_KEY = _secret("DOWNLOAD_TOKEN_KEY", "insecure-local-development-download-key-never-in-production")
if not DEBUG and len(DOWNLOAD_TOKEN_KEY) < 32:
    raise ImproperlyConfigured("DOWNLOAD_TOKEN_KEY must be at least 32 characters; see README.md, 'Configuration'.")
# How long a freshly created private key waits for its single download before it is erased.
KEYPAIR_DOWNLOAD_TTL_SECONDS = env.int("KEYPAIR_DOWNLOAD_TTL_SECONDS", default=600)
# Where `manage.py ship_audit` sends the audit log (keypairs/audit_shipping.py), out of the
# database's reach: syslog+tcp://host:514, syslog+udp://host:514, syslog+tls://host:6514,
# file:///path/events.jsonl or stdout. Empty: shipping off.
AUDIT_SHIP_TO = env.str("AUDIT_SHIP_TO", default="")
# --- End of audit log and private key delivery ----------------------------------------

# --- Limits, shared quota and reconciliation (keypairs/limits.py, keypairs/reconcile.py) ---
# Every user shares the service account's BCC quota per region; the create form shows what is left,
# counted from BCC's own list and cached this many seconds (in CACHES, so every worker shares it).
BCC_QUOTA_PER_REGION = env.int("BCC_QUOTA_PER_REGION", default=500)
BCC_QUOTA_CACHE_SECONDS = env.int("BCC_QUOTA_CACHE_SECONDS", default=60)
# Key pairs one user may hold per region (0: no cap), and creates one user may start per window
# (0: no limit). Both are checked before BCC is called; the counters live in CACHES.
KEYPAIR_MAX_PER_USER_PER_REGION = env.int("KEYPAIR_MAX_PER_USER_PER_REGION", default=20)
KEYPAIR_CREATE_RATE_LIMIT = env.int("KEYPAIR_CREATE_RATE_LIMIT", default=5)
KEYPAIR_CREATE_RATE_WINDOW_SECONDS = env.int("KEYPAIR_CREATE_RATE_WINDOW_SECONDS", default=60)
for _name in (
    "BCC_QUOTA_PER_REGION",
    "BCC_QUOTA_CACHE_SECONDS",
    "KEYPAIR_MAX_PER_USER_PER_REGION",
    "KEYPAIR_CREATE_RATE_LIMIT",
):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} cannot be negative (0 turns a limit off).")
if KEYPAIR_CREATE_RATE_LIMIT > 1000:
    # Each create the limit allows is one cache key a create looks at (keypairs.limits).
    raise ImproperlyConfigured("KEYPAIR_CREATE_RATE_LIMIT can be at most 1000 creates per window.")
if KEYPAIR_CREATE_RATE_WINDOW_SECONDS < 1:
    raise ImproperlyConfigured("KEYPAIR_CREATE_RATE_WINDOW_SECONDS must be at least 1.")
# "My key pairs" shows what BCC holds (keypairs/bcc_state.py): BCC's list of a region is read at
# most once per this many seconds and shared through CACHES. At most 30: the page must not show
# a state older than that as current.
KEYPAIR_BCC_STATE_CACHE_SECONDS = env.int("KEYPAIR_BCC_STATE_CACHE_SECONDS", default=15)
if not 1 <= KEYPAIR_BCC_STATE_CACHE_SECONDS <= 30:
    raise ImproperlyConfigured(
        f"KEYPAIR_BCC_STATE_CACHE_SECONDS must be between 1 and 30 seconds, not {KEYPAIR_BCC_STATE_CACHE_SECONDS}."
    )
# A create still "pending" after this many seconds lost its worker; `manage.py reconcile` settles it.
# Unset: twice the longest a create can take (every connect attempt, then the read timeout).
KEYPAIR_RECONCILE_AFTER_SECONDS = env.int("KEYPAIR_RECONCILE_AFTER_SECONDS", default=None)
# --- End of limits, shared quota and reconciliation ----------------------------------------

# --- Governance: policies for people who leave and keys that age, and mail -----------------
# (keypairs/offboarding.py, keypairs/key_age.py, keypairs/policy_settings.py; README.md, "Governance")
# What happens to the key pairs of a person who left or lost the developer role, and to key
# pairs older than their maximum age: "flag" lists them for a person to decide; "delete" deletes
# them (after OFFBOARDING_GRACE_DAYS for people who left). Bound key pairs are flagged, never deleted.
OFFBOARDING_POLICY = env.str("OFFBOARDING_POLICY", default="flag").strip().lower()
OFFBOARDING_GRACE_DAYS = env.int("OFFBOARDING_GRACE_DAYS", default=14)
KEYPAIR_EXPIRY_POLICY = env.str("KEYPAIR_EXPIRY_POLICY", default="flag").strip().lower()
# Maximum age of a key pair in days (0: no maximum), and per-region overrides ("bj=90,gz=180").
KEYPAIR_MAX_AGE_DAYS = env.int("KEYPAIR_MAX_AGE_DAYS", default=365)
KEYPAIR_MAX_AGE_DAYS_BY_REGION = {}
for _item in env.list("KEYPAIR_MAX_AGE_DAYS_BY_REGION", default=[]):
    _region, _, _days = _item.partition("=")
    if not _days.strip().isdigit():
        raise ImproperlyConfigured(
            f"KEYPAIR_MAX_AGE_DAYS_BY_REGION: {_item!r} is not region=days (for example bj=90,gz=180)."
        )
    KEYPAIR_MAX_AGE_DAYS_BY_REGION[_region.strip()] = int(_days)
# Reminders mailed to the owner this many days before a key pair reaches its maximum age.
KEYPAIR_EXPIRY_REMINDER_DAYS = env.list("KEYPAIR_EXPIRY_REMINDER_DAYS", cast=int, default=[14, 3])
for _name in ("OFFBOARDING_POLICY", "KEYPAIR_EXPIRY_POLICY"):
    if globals()[_name] not in ("flag", "delete"):
        raise ImproperlyConfigured(f"{_name} must be flag or delete, not {globals()[_name]!r}.")
if OFFBOARDING_GRACE_DAYS < 0 or KEYPAIR_MAX_AGE_DAYS < 0:
    raise ImproperlyConfigured("OFFBOARDING_GRACE_DAYS and KEYPAIR_MAX_AGE_DAYS cannot be negative.")
if any(days < 1 for days in KEYPAIR_EXPIRY_REMINDER_DAYS):
    raise ImproperlyConfigured("KEYPAIR_EXPIRY_REMINDER_DAYS holds days before expiry, each at least 1.")
# Mail (reminders to owners, summaries to portal admins) through Django's email framework, from
# one URL: smtp+tls://user:password@smtp.example.com:587, smtps://...:465, smtp://host:25, or
# consolemail:// (printed on stdout: the default, and what `make run` uses; set it in production,
# or reminders and summaries only reach the workers' stdout). Read here and not kept: Django's
# error reports list every setting and hide only names that look secret (EMAIL_HOST_PASSWORD is
# one; EMAIL_URL, which holds the same password, is not).
vars().update(env.email_url_config(env.str("EMAIL_URL", default="consolemail://")))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="BCC key pair portal <bcc-portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Where people open the portal: the links in mails (a mail has no request to build them from).
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# --- End of governance -----------------------------------------------------------------------

# --- Access to instances: binding key pairs under the company's policy (issue 12) -------------
# (keypairs/access_policy.py, keypairs/services/binding.py; README.md, "Access to instances")
# An access request not approved or denied within this many hours expires.
ACCESS_REQUEST_DECIDE_WITHIN_HOURS = env.int("ACCESS_REQUEST_DECIDE_WITHIN_HOURS", default=72)
# The owner of a time-limited binding is mailed this many hours before it ends.
ACCESS_EXPIRY_WARNING_HOURS = env.int("ACCESS_EXPIRY_WARNING_HOURS", default=24)
# BCC's instance list of a region is read at most once per this many seconds for the bind page.
BCC_INSTANCE_LIST_CACHE_SECONDS = env.int("BCC_INSTANCE_LIST_CACHE_SECONDS", default=30)
if ACCESS_REQUEST_DECIDE_WITHIN_HOURS < 1 or ACCESS_EXPIRY_WARNING_HOURS < 0:
    raise ImproperlyConfigured(
        "ACCESS_REQUEST_DECIDE_WITHIN_HOURS must be at least 1 and ACCESS_EXPIRY_WARNING_HOURS not negative."
    )
if not 1 <= BCC_INSTANCE_LIST_CACHE_SECONDS <= 300:
    raise ImproperlyConfigured("BCC_INSTANCE_LIST_CACHE_SECONDS must be between 1 and 300.")
# --- End of access to instances --------------------------------------------------------------

# --- Sign-in: modes, SSO and roles (portal/auth/; README.md, "Sign-in (SSO)") ---------
from portal.auth import modes as sign_in_modes  # noqa: E402 - settings are read top to bottom

INSTALLED_APPS.append("portal.auth")
# local: Django accounts (development); oidc: OpenID Connect; proxy: identity-aware proxy.
AUTH_MODE = env.str("AUTH_MODE", default=sign_in_modes.LOCAL).strip().lower()
# Local accounts with DEBUG off must be asked for by name (see portal/auth/modes.py).
ALLOW_LOCAL_AUTH_IN_PRODUCTION = env.bool("ALLOW_LOCAL_AUTH_IN_PRODUCTION", default=False)

# Roles from the SSO claims: the claim holding the person's groups, and which of its values
# grant each role (comma-separated; several groups may grant the same role).
SSO_ROLES_CLAIM = env.str("SSO_ROLES_CLAIM", default="groups")
SSO_DEVELOPER_GROUPS = env.list("SSO_DEVELOPER_GROUPS", default=["developers"])
SSO_AUDITOR_GROUPS = env.list("SSO_AUDITOR_GROUPS", default=["auditors"])
SSO_ADMIN_GROUPS = env.list("SSO_ADMIN_GROUPS", default=["portal-admins"])
SSO_APPROVER_GROUPS = env.list("SSO_APPROVER_GROUPS", default=["approvers"])

# A token naming a key id the cached key set lacks refetches the set at most once per this
# many seconds per process (both SSO modes; portal/auth/jwks.py says why).
JWKS_REFETCH_COOLDOWN_SECONDS = env.float("JWKS_REFETCH_COOLDOWN_SECONDS", default=60.0)
if JWKS_REFETCH_COOLDOWN_SECONDS < 0:
    raise ImproperlyConfigured("JWKS_REFETCH_COOLDOWN_SECONDS cannot be negative.")

# OpenID Connect (mozilla-django-oidc; portal/auth/oidc.py). Only the issuer, client id and
# secret are needed: the endpoints come from the issuer's discovery document unless set here.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="")
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_IDP_SIGN_KEY = env.str("OIDC_RP_IDP_SIGN_KEY", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_DISCOVERY_CACHE_SECONDS = env.int("OIDC_DISCOVERY_CACHE_SECONDS", default=3600)
OIDC_JWKS_CACHE_SECONDS = env.int("OIDC_JWKS_CACHE_SECONDS", default=300)
OIDC_LEEWAY_SECONDS = env.int("OIDC_LEEWAY_SECONDS", default=30)
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)
# A CA bundle path for a TLS-inspecting proxy; TLS verification is never turned off.
OIDC_VERIFY_SSL = env.str("OIDC_CA_BUNDLE", default="") or True
# Forced on in portal/auth/oidc.py as well, whatever is set here.
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True

# Identity-aware proxy (portal/auth/proxy.py): the header carrying its signed JWT assertion,
# the key to verify it (a JWKS URL, or a PEM public key or a path to one), and its claims.
PROXY_JWT_HEADER = env.str("PROXY_JWT_HEADER", default="X-Jwt-Assertion")
PROXY_JWKS_URL = env.str("PROXY_JWKS_URL", default="")
PROXY_JWT_PUBLIC_KEY = env.str("PROXY_JWT_PUBLIC_KEY", default="", multiline=True)
PROXY_JWT_ISSUER = env.str("PROXY_JWT_ISSUER", default="")
PROXY_JWT_AUDIENCE = env.str("PROXY_JWT_AUDIENCE", default="")
PROXY_JWT_ALGORITHMS = env.list("PROXY_JWT_ALGORITHMS", default=["RS256", "ES256"])
PROXY_JWT_LEEWAY_SECONDS = env.int("PROXY_JWT_LEEWAY_SECONDS", default=30)
PROXY_JWKS_CACHE_SECONDS = env.int("PROXY_JWKS_CACHE_SECONDS", default=300)
PROXY_JWKS_TIMEOUT = env.float("PROXY_JWKS_TIMEOUT", default=5.0)
# The proxy's own sign-out (oauth2-proxy: /oauth2/sign_out; Pomerium: /.pomerium/sign_out).
PROXY_LOGOUT_URL = env.str("PROXY_LOGOUT_URL", default="")

sign_in_modes.check_sign_in_settings(
    mode=AUTH_MODE,
    debug=DEBUG,
    allow_local_in_production=ALLOW_LOCAL_AUTH_IN_PRODUCTION,
    get=lambda name: globals()[name],
)
AUTHENTICATION_BACKENDS = sign_in_modes.backends_for(AUTH_MODE)
MIDDLEWARE = sign_in_modes.middleware_for(AUTH_MODE, MIDDLEWARE)
# --- End of sign-in -----------------------------------------------------------------------
