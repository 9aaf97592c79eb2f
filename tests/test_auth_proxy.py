"""Proxy mode (AUTH_MODE=proxy): only a signed JWT assertion from the proxy signs anyone in.

A valid assertion signs in (once per session) and maps its groups to roles. Everything else
is refused with the "no access" page and an audit row saying why: a forged signature, the
wrong audience or issuer, an expired or not-yet-valid token, a missing claim, an unsigned or
HMAC-signed token, a missing header, and any bare user-name header, with or without
underscore variants (oauth2-proxy CVE-2025-64484), including through a real WSGI server that
passes underscore headers on. The proxy's keys are served as a JWKS over loopback HTTP.
"""

from __future__ import annotations

import http.client
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler as PlainWSGIRequestHandler
from wsgiref.simple_server import WSGIServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler as DjangoWSGIRequestHandler
from django.test import Client
from django.utils.html import escape

from keypairs import audit_refusals
from keypairs.models import AuditEvent
from portal.auth import modes, proxy, refusals
from portal.auth.models import Identity
from portal.auth.roles import Role, roles_of
from tests.jwks_server import JwksServer, ec_key, public_jwk, rsa_key

ISSUER = "https://proxy.example.com"
AUDIENCE = "bcc-keypair-portal"
HEADER = "X-Jwt-Assertion"
META_KEY = "HTTP_X_JWT_ASSERTION"
KID = "proxy-key-1"

PROXY_KEY = rsa_key()
EC_PROXY_KEY = ec_key()
ATTACKER_KEY = rsa_key()


def assertion(key=PROXY_KEY, *, alg="RS256", kid=KID, drop=(), **claims) -> str:
    """A token as the proxy signs it for Alice, with ``claims`` overriding and ``drop`` removing some."""
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "accounts:1001",
        "iat": now,
        "exp": now + 300,
        "email": "alice@example.com",
        "preferred_username": "alice",
        "groups": ["developers", "everyone"],
        **claims,
    }
    for name in drop:
        payload.pop(name)
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def jwks():
    keys = [public_jwk(PROXY_KEY, kid=KID, alg="RS256"), public_jwk(EC_PROXY_KEY, kid="proxy-key-ec", alg="ES256")]
    with JwksServer(keys) as server:
        yield server


@pytest.fixture
def proxy_mode(settings, jwks, db):
    settings.AUTH_MODE = modes.PROXY
    settings.AUTHENTICATION_BACKENDS = modes.backends_for(modes.PROXY)
    settings.MIDDLEWARE = modes.middleware_for(modes.PROXY, settings.MIDDLEWARE)
    settings.PROXY_JWT_HEADER = HEADER
    settings.PROXY_JWT_ISSUER = ISSUER
    settings.PROXY_JWT_AUDIENCE = AUDIENCE
    settings.PROXY_JWKS_URL = jwks.url
    settings.PROXY_JWT_PUBLIC_KEY = ""
    settings.PROXY_LOGOUT_URL = "/oauth2/sign_out"
    proxy.forget_keys()
    yield jwks
    proxy.forget_keys()


def get(client: Client, path: str = "/", token: str | None = None, **meta):
    if token is not None:
        meta[META_KEY] = token
    return client.get(path, **meta)


def refusals_audited() -> list[str]:
    return list(AuditEvent.objects.filter(action="sign_in_refused").order_by("id").values_list("detail", flat=True))


def assert_refused(response, reason: str) -> None:
    assert response.status_code == 403
    assert escape(reason) in response.content.decode()
    assert refusals_audited()[-1] == reason
    assert not AuditEvent.objects.filter(action="signed_in").exists()
    assert not get_user_model().objects.exists()


# --- A valid assertion ------------------------------------------------------------------------------


def test_a_valid_assertion_signs_in_and_is_audited(client, proxy_mode):
    response = get(client, "/", assertion(), HTTP_USER_AGENT="Firefox/140")

    assert response.status_code == 200
    user = get_user_model().objects.get()
    assert (user.username, user.email) == ("alice", "alice@example.com")
    assert roles_of(user) == {Role.DEVELOPER}
    assert Identity.objects.get(user=user).subject == "accounts:1001"
    event = AuditEvent.objects.get(action="signed_in")
    assert (event.actor_username, event.actor_subject, event.user_agent) == ("alice", "accounts:1001", "Firefox/140")
    assert event.detail == "Signed in (proxy) as developer."


def test_the_session_is_kept_while_the_assertion_names_the_same_person(client, proxy_mode):
    get(client, "/", assertion())

    for _ in range(3):
        assert get(client, "/keypairs/", assertion()).status_code == 200

    assert AuditEvent.objects.filter(action="signed_in").count() == 1
    assert proxy_mode.fetches == 1, "the proxy's key set is cached"


def test_an_ec_signed_assertion_is_accepted_too(client, proxy_mode):
    response = get(client, "/", assertion(EC_PROXY_KEY, alg="ES256", kid="proxy-key-ec"))

    assert response.status_code == 200


def test_a_pem_public_key_can_replace_the_key_set(client, proxy_mode, settings):
    settings.PROXY_JWKS_URL = ""
    settings.PROXY_JWT_PUBLIC_KEY = (
        PROXY_KEY.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )

    assert get(client, "/", assertion()).status_code == 200
    assert get(Client(), "/", assertion(ATTACKER_KEY)).status_code == 403
    assert proxy_mode.fetches == 0


def test_an_auditor_from_the_assertion_reaches_the_admin_but_not_the_key_pairs(client, proxy_mode):
    token = assertion(groups=["auditors"])

    assert get(client, "/admin/keypairs/auditevent/", token).status_code == 200
    assert get(client, "/keypairs/new", token).status_code == 403
    assert roles_of(get_user_model().objects.get()) == {Role.AUDITOR}


def test_someone_without_a_role_gets_no_access_and_no_account(client, proxy_mode):
    response = get(client, "/", assertion(groups=["everyone"]))

    assert_refused(response, refusals.NO_ROLE)
    assert AuditEvent.objects.get(action="sign_in_refused").actor_username == "alice"


def test_a_new_persons_assertion_ends_the_previous_session(client, proxy_mode):
    get(client, "/", assertion())

    response = get(client, "/", assertion(sub="accounts:1002", preferred_username="bob", email="bob@example.com"))

    assert response.status_code == 200
    assert response.context["user"].username == "bob"
    sessions = AuditEvent.objects.filter(action__in=["signed_in", "signed_out"]).order_by("id")
    assert list(sessions.values_list("action", "actor_username")) == [
        ("signed_in", "alice"),
        ("signed_out", "alice"),
        ("signed_in", "bob"),
    ]


def test_signing_out_goes_to_the_proxys_sign_out(client, proxy_mode):
    get(client, "/", assertion())

    response = client.post("/accounts/logout/", **{META_KEY: assertion()})

    assert response.status_code == 302
    assert response["Location"] == "/oauth2/sign_out"
    assert AuditEvent.objects.filter(action="signed_out").count() == 1
    # The proxy's page is not the portal's: no "signed out" message waits to greet the next sign-in.
    assert "You are signed out." not in get(client, "/", assertion()).content.decode()


def test_the_health_check_needs_no_assertion(client, proxy_mode):
    assert client.get("/healthz").status_code == 200


# --- Refused assertions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: assertion(ATTACKER_KEY), proxy.BAD_SIGNATURE),
        (lambda: assertion(aud="another-app"), proxy.WRONG_AUDIENCE),
        (lambda: assertion(iss="https://evil.example.com"), proxy.WRONG_ISSUER),
        (lambda: assertion(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), proxy.EXPIRED),
        (lambda: assertion(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200), proxy.NOT_YET_VALID),
        (lambda: assertion(drop=["exp"]), proxy.MISSING_CLAIM),
        (lambda: assertion(drop=["aud"]), proxy.MISSING_CLAIM),
        (lambda: assertion(kid="rotated-away"), proxy.UNKNOWN_KEY),
        (lambda: assertion(alg="none", key=None), proxy.MALFORMED),
        (lambda: assertion(alg="PS256"), proxy.BAD_ALGORITHM),
        (lambda: assertion() + "," + assertion(), proxy.MALFORMED),
        (lambda: "alice", proxy.MALFORMED),
    ],
    ids=[
        "forged-signature",
        "wrong-audience",
        "wrong-issuer",
        "expired",
        "not-yet-valid",
        "no-expiry",
        "no-audience",
        "unknown-key",
        "unsigned",
        "algorithm-not-allowed",
        "header-sent-twice",
        "a-user-name",
    ],
)
def test_an_invalid_assertion_is_refused_and_audited(client, proxy_mode, token, reason):
    response = get(client, "/", token())

    assert_refused(response, reason)


def test_an_hmac_token_keyed_with_the_public_key_is_refused(client, proxy_mode, settings):
    # Algorithm confusion: with the public key as an HMAC secret, anyone could sign.
    public_pem = PROXY_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings.PROXY_JWKS_URL = ""
    settings.PROXY_JWT_PUBLIC_KEY = public_pem.decode()
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
    now = int(time.time())
    body = jwt.utils.base64url_encode(
        f'{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"x","iat":{now},"exp":{now + 60}}}'.encode()
    ).decode()
    import hashlib
    import hmac

    signature = jwt.utils.base64url_encode(
        hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    ).decode()

    response = get(client, "/", f"{header}.{body}.{signature}")

    assert_refused(response, proxy.BAD_ALGORITHM)


def test_a_missing_header_is_refused_and_audited(client, proxy_mode):
    response = client.get("/keypairs/")

    assert_refused(response, proxy.MISSING.format(header=HEADER))


USER_NAME_HEADERS = [
    "HTTP_X_FORWARDED_USER",
    "HTTP_X_FORWARDED_EMAIL",
    "HTTP_X_FORWARDED_PREFERRED_USERNAME",
    "HTTP_X_AUTH_REQUEST_USER",
    "HTTP_X_AUTH_REQUEST_EMAIL",
    "HTTP_REMOTE_USER",
    "REMOTE_USER",
]


@pytest.mark.parametrize("meta_key", USER_NAME_HEADERS)
def test_a_bare_user_name_header_signs_nobody_in(client, proxy_mode, meta_key):
    response = client.get("/", **{meta_key: "alice"})

    assert_refused(response, proxy.MISSING.format(header=HEADER))


def test_a_user_name_header_does_not_keep_a_session_without_the_assertion(client, proxy_mode):
    get(client, "/", assertion())

    response = client.get("/", HTTP_X_FORWARDED_USER="alice")

    assert response.status_code == 403
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("id")) == [
        "signed_in",
        "signed_out",
        "sign_in_refused",
    ]
    assert "_auth_user_id" not in client.session


def test_the_token_never_reaches_the_audit_log_or_the_page(client, proxy_mode):
    token = assertion(aud="another-app")

    response = get(client, "/", token)

    signature = token.rsplit(".", 1)[1]
    assert signature not in response.content.decode()
    assert signature not in str(list(AuditEvent.objects.values_list()))


# --- Through a real WSGI server ---------------------------------------------------------------------


class _QuietPlainHandler(PlainWSGIRequestHandler):
    def log_message(self, *args):
        pass


class _QuietDjangoHandler(DjangoWSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def wsgi_server(request, proxy_mode, transactional_db):
    """The portal behind a real WSGI server on loopback: ``plain`` (wsgiref: passes header names
    with underscores on, joining duplicates, as some servers do) or ``django`` (runserver's
    handler: drops them, as gunicorn does by default)."""
    yield from _serve({"plain": _QuietPlainHandler, "django": _QuietDjangoHandler}[request.param])


def _serve(handler):
    server = WSGIServer(("127.0.0.1", 0), handler)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def wsgi_server_django(proxy_mode, transactional_db):
    yield from _serve(_QuietDjangoHandler)


def raw_get(port: int, headers: list[tuple[str, str]]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", "/keypairs/")
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.parametrize("wsgi_server", ["plain", "django"], indirect=True)
def test_over_real_http_a_valid_assertion_signs_in(wsgi_server):
    assert raw_get(wsgi_server, [(HEADER, assertion())]) == 200


USER_NAMES_AND_UNDERSCORE_VARIANTS = {
    "user-name": [("X-Forwarded-User", "alice")],
    "user-name-underscored": [("X_Forwarded_User", "alice")],
    "user-name-both-spellings": [("X-Forwarded-User", "alice"), ("X_Forwarded_User", "alice")],
    "auth-request-headers": [("X-Auth-Request-User", "alice"), ("X_Auth_Request_Email", "alice@example.com")],
    "user-name-in-underscored-assertion-header": [("X_Jwt_Assertion", "alice")],
    "forged-assertion-underscored": [("X_Jwt_Assertion", "<forged>")],
}


@pytest.mark.parametrize("wsgi_server", ["plain", "django"], indirect=True)
def test_over_real_http_user_names_and_underscore_variants_are_refused(wsgi_server, monkeypatch):
    forged = assertion(ATTACKER_KEY)
    minute = [0]
    # Refusals are aggregated per source, reason and minute: one minute per case keeps one row each.
    monkeypatch.setattr(audit_refusals, "clock", lambda: minute[0] * 60.0)
    for number, (case, headers) in enumerate(USER_NAMES_AND_UNDERSCORE_VARIANTS.items(), start=1):
        minute[0] = number
        headers = [(name, forged if value == "<forged>" else value) for name, value in headers]

        assert raw_get(wsgi_server, headers) == 403, case
        assert not AuditEvent.objects.filter(action="signed_in").exists(), case
        assert AuditEvent.objects.filter(action="sign_in_refused").count() == number, case


@pytest.mark.parametrize(("wsgi_server", "status"), [("plain", 403), ("django", 200)], indirect=["wsgi_server"])
def test_over_real_http_an_underscored_copy_of_the_assertion_never_replaces_the_proxys(wsgi_server, status):
    """A client adds ``X_Jwt_Assertion: <Bob's>`` beside the proxy's ``X-Jwt-Assertion: <Alice's>``.

    A server that passes both on joins them, and the joined value is refused; a server that
    drops underscored names (runserver here; gunicorn by default) hands over the proxy's.
    Either way nobody becomes Bob.
    """
    headers = [(HEADER, assertion()), ("X_Jwt_Assertion", assertion(sub="accounts:1002", preferred_username="bob"))]

    assert raw_get(wsgi_server, headers) == status
    assert not get_user_model().objects.filter(username="bob").exists()
    if status == 403:
        assert refusals_audited() == [proxy.MALFORMED]


def test_over_real_http_a_server_that_drops_underscored_names_never_sees_them(wsgi_server_django):
    assert raw_get(wsgi_server_django, [("X_Jwt_Assertion", assertion())]) == 403
    assert refusals_audited() == [proxy.MISSING.format(header=HEADER)]


# --- Settings ------------------------------------------------------------------------------------------

VALID = {
    "PROXY_JWT_HEADER": HEADER,
    "PROXY_JWT_ISSUER": ISSUER,
    "PROXY_JWT_AUDIENCE": AUDIENCE,
    "PROXY_JWKS_URL": "https://proxy.example.com/jwks",
    "PROXY_JWT_PUBLIC_KEY": "",
    "PROXY_JWT_ALGORITHMS": ["RS256"],
}


def check(**changes) -> None:
    values = {**VALID, **changes}
    modes.check_sign_in_settings(mode=modes.PROXY, debug=False, allow_local_in_production=False, get=values.get)


def test_the_proxy_settings_are_accepted_when_complete():
    check()


@pytest.mark.parametrize("name", ["PROXY_JWT_ISSUER", "PROXY_JWT_AUDIENCE", "PROXY_JWT_HEADER"])
def test_a_missing_proxy_setting_stops_the_start_and_is_named(name):
    with pytest.raises(ImproperlyConfigured, match=name):
        check(**{name: ""})


def test_the_proxy_mode_needs_a_key():
    with pytest.raises(ImproperlyConfigured, match="PROXY_JWKS_URL or PROXY_JWT_PUBLIC_KEY"):
        check(PROXY_JWKS_URL="")


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_shared_secret_and_unsigned_algorithms_are_refused_in_the_settings(algorithm):
    with pytest.raises(ImproperlyConfigured, match="public-key algorithms"):
        check(PROXY_JWT_ALGORITHMS=["RS256", algorithm])
