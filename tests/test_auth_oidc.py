"""OIDC mode end to end, against a real OpenID provider on loopback (tests/oidc_provider.py).

The whole flow runs for real: the portal's sign-in page, the redirect to the provider (found
through discovery), the person signing in there, the callback, the code exchange with PKCE
(the provider refuses a wrong verifier), the ID token's checks, user info, and the account
the portal makes. Accounts are matched on ``sub``: a changed email keeps the account, the
same email under another ``sub`` is someone else. Roles come from the ``groups`` claim; a
person without a role gets the "no access" page and no account. Every outcome is audited.

The ID token checks the library leaves out (audience, issuer) and the ones it has (expiry,
signature, nonce) are also tested one by one, on tokens this file signs with its own key.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.test import Client
from django.utils.html import escape

from keypairs.models import AuditEvent
from portal.auth import discovery, modes, refusals
from portal.auth.models import Identity
from portal.auth.oidc import NONCE_PROBLEM, PortalOIDCBackend
from portal.auth.roles import Role, roles_of
from portal.auth.views import PROVIDER_UNAVAILABLE
from tests.jwks_server import JwksServer, public_jwk, rsa_key
from tests.oidc_provider import Provider

CALLBACK = "http://testserver/oidc/callback/"
# Authlib, inside the provider, warns about its own legacy API while issuing tokens.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


@pytest.fixture(scope="module")
def provider():
    with Provider(redirect_uri=CALLBACK) as running:
        yield running


@pytest.fixture
def oidc_mode(settings, provider, db):
    settings.AUTH_MODE = modes.OIDC
    settings.AUTHENTICATION_BACKENDS = modes.backends_for(modes.OIDC)
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = provider.client_id
    settings.OIDC_RP_CLIENT_SECRET = provider.client_secret
    discovery.forget()
    provider.recorder.requests.clear()
    yield provider
    discovery.forget()


def start(client: Client, next_url: str = "") -> str:
    """The portal's sign-in page, its button, and the redirect to the provider; returns that URL."""
    page = client.get("/accounts/login/" + (f"?next={next_url}" if next_url else ""))
    assert page.status_code == 200
    button = page.content.decode().split('id="sso-sign-in" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = client.get(button)
    assert response.status_code == 302
    return response["Location"]


def finish(client: Client, redirect_from_provider: str):
    """Follow the provider's redirect back to the portal's callback."""
    parts = urlsplit(redirect_from_provider)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return client.get(parts.path, parse_qs(parts.query))


def sign_in(client: Client, provider: Provider, sub: str, next_url: str = ""):
    return finish(client, provider.approve(start(client, next_url), sub))


def actions() -> list[tuple[str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("action", "detail"))


# --- The flow ----------------------------------------------------------------------------------


def test_the_sign_in_page_offers_the_company_account(client, oidc_mode):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert b'id="sso-sign-in"' in response.content
    assert b'name="password"' not in response.content


def test_the_portal_sends_the_browser_to_the_discovered_provider_with_pkce(client, oidc_mode):
    url = start(client)

    parts = urlsplit(url)
    params = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{oidc_mode.issuer}/oauth2/authorize"
    assert params["response_type"] == "code"
    assert params["client_id"] == oidc_mode.client_id
    assert params["redirect_uri"] == CALLBACK
    assert params["scope"] == "openid email profile"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"]
    assert "code_verifier" not in url
    assert oidc_mode.recorder.fetches("/.well-known/openid-configuration") == 1


def test_a_developer_signs_in_and_gets_an_account_with_the_developer_role(client, oidc_mode):
    oidc_mode.set_user(
        "sub-alice", email="alice@example.com", preferred_username="alice", name="Alice Liddell", groups=["developers"]
    )

    response = sign_in(client, oidc_mode, "sub-alice")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/keypairs/new").status_code == 200
    user = get_user_model().objects.get()
    assert (user.username, user.email, user.first_name) == ("alice", "alice@example.com", "Alice Liddell")
    assert roles_of(user) == {Role.DEVELOPER}
    assert not user.has_usable_password()
    assert Identity.objects.get(user=user).issuer == oidc_mode.issuer
    event = AuditEvent.objects.get(action="signed_in")
    assert (event.actor_username, event.actor_subject) == ("alice", "sub-alice")
    assert event.detail == "Signed in (oidc) as developer."


def test_the_code_exchange_proves_the_pkce_verifier(client, oidc_mode):
    oidc_mode.set_user("sub-pkce", email="pkce@example.com", groups=["developers"])

    sign_in(client, oidc_mode, "sub-pkce")

    [exchange] = [r for r in oidc_mode.recorder.requests if r.path == "/oauth2/token"]
    assert len(exchange.form["code_verifier"][0]) == 64
    assert exchange.form["grant_type"] == ["authorization_code"]


def test_a_wrong_pkce_verifier_is_refused_by_the_provider_and_the_portal(client, oidc_mode):
    oidc_mode.set_user("sub-mallory", email="m@example.com", groups=["developers"])
    url = start(client)
    session = client.session
    state = parse_qs(urlsplit(url).query)["state"][0]
    states = session["oidc_states"]
    states[state]["code_verifier"] = "x" * 64  # as if the code were replayed from elsewhere
    session["oidc_states"] = states
    session.save()

    response = finish(client, oidc_mode.approve(url, "sub-mallory"))

    assert response["Location"] == "/accounts/no-access/"
    assert not get_user_model().objects.exists()
    assert actions() == [("sign_in_refused", refusals.PROVIDER_REFUSED.format(status=400))]


def test_a_second_sign_in_with_a_changed_email_keeps_the_same_account(client, oidc_mode):
    oidc_mode.set_user("sub-carol", email="carol@old.example.com", preferred_username="carol", groups=["developers"])
    sign_in(client, oidc_mode, "sub-carol")
    first = get_user_model().objects.get()
    client.post("/accounts/logout/")

    oidc_mode.set_user(
        "sub-carol", email="carol@new.example.com", preferred_username="carol.renamed", groups=["developers"]
    )
    sign_in(Client(), oidc_mode, "sub-carol")

    second = get_user_model().objects.get()
    assert second.pk == first.pk
    assert (second.username, second.email) == ("carol", "carol@new.example.com")
    assert [action for action, _ in actions()] == ["signed_in", "signed_out", "signed_in"]


def test_signing_out_lands_on_the_sign_in_page_saying_so(client, oidc_mode):
    oidc_mode.set_user("sub-carol", email="carol@example.com", preferred_username="carol", groups=["developers"])
    sign_in(client, oidc_mode, "sub-carol")

    page = client.post("/accounts/logout/", follow=True)

    assert page.request["PATH_INFO"] == "/accounts/login/"
    assert "You are signed out." in page.content.decode()
    assert 'id="sso-sign-in"' in page.content.decode()


def test_the_same_email_under_another_subject_is_another_person(client, oidc_mode):
    oidc_mode.set_user("sub-dave", email="shared@example.com", preferred_username="dave", groups=["developers"])
    oidc_mode.set_user("sub-erin", email="shared@example.com", preferred_username="dave", groups=["developers"])

    sign_in(Client(), oidc_mode, "sub-dave")
    sign_in(Client(), oidc_mode, "sub-erin")

    assert sorted(get_user_model().objects.values_list("username", flat=True)) == ["dave", "dave-2"]


def test_roles_follow_the_groups_claim_at_every_sign_in(client, oidc_mode):
    oidc_mode.set_user("sub-frank", email="frank@example.com", groups=["developers", "auditors"])
    response = sign_in(Client(), oidc_mode, "sub-frank")
    assert response["Location"] == "/"
    frank = get_user_model().objects.get()
    assert roles_of(frank) == {Role.DEVELOPER, Role.AUDITOR} and frank.is_staff

    oidc_mode.set_user("sub-frank", email="frank@example.com", groups=["auditors"])
    reviewer = Client()
    response = sign_in(reviewer, oidc_mode, "sub-frank")

    frank.refresh_from_db()
    assert roles_of(frank) == {Role.AUDITOR}
    assert response["Location"] == "/admin/keypairs/auditevent/"
    assert reviewer.get("/admin/keypairs/auditevent/").status_code == 200
    assert reviewer.get("/keypairs/new").status_code == 403


def test_the_approvers_group_grants_the_approver_role_without_staff(client, oidc_mode, settings):
    settings.SSO_APPROVER_GROUPS = ["bcc-approvers"]
    oidc_mode.set_user("sub-hana", email="hana@example.com", groups=["bcc-approvers"])

    response = sign_in(client, oidc_mode, "sub-hana")

    hana = get_user_model().objects.get()
    assert roles_of(hana) == {Role.APPROVER} and not hana.is_staff
    assert hana.has_perm("keypairs.approve_accessrequest")
    assert response["Location"] == "/access/requests/"
    assert client.get("/access/requests/").status_code == 200
    assert client.get("/keypairs/").status_code == 403
    assert client.get("/admin/").status_code == 302


def test_the_identity_keeps_the_groups_claim_of_every_sign_in(client, oidc_mode):
    oidc_mode.set_user("sub-gina", email="gina@example.com", groups=["developers", "team-web"])
    sign_in(Client(), oidc_mode, "sub-gina")
    assert Identity.objects.get(subject="sub-gina").groups == ["developers", "team-web"]

    oidc_mode.set_user("sub-gina", email="gina@example.com", groups=["developers", "team-db"])
    sign_in(Client(), oidc_mode, "sub-gina")

    assert Identity.objects.get(subject="sub-gina").groups == ["developers", "team-db"]


def test_the_role_claim_and_its_values_are_configurable(client, oidc_mode, settings):
    settings.SSO_ROLES_CLAIM = "portal_roles"
    settings.SSO_ADMIN_GROUPS = ["bcc-portal-admins"]
    oidc_mode.set_user("sub-grace", email="grace@example.com", portal_roles="staff bcc-portal-admins")

    sign_in(client, oidc_mode, "sub-grace")

    assert roles_of(get_user_model().objects.get()) == {Role.PORTAL_ADMIN}
    assert client.get("/admin/keypairs/keypairrequest/").status_code == 200


def test_someone_without_a_role_sees_no_access_and_gets_no_account(client, oidc_mode):
    oidc_mode.set_user("sub-heidi", email="heidi@example.com", preferred_username="heidi", groups=["everyone"])

    response = sign_in(client, oidc_mode, "sub-heidi", next_url="/keypairs/new")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/no-access/"
    page = client.get(response["Location"])
    assert page.status_code == 403
    assert escape(refusals.NO_ROLE) in page.content.decode()
    assert "developers" in page.content.decode()
    assert not get_user_model().objects.exists()
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_username, event.actor_subject) == ("sign_in_refused", "heidi", "sub-heidi")
    assert event.is_security_event
    assert client.get("/keypairs/new").status_code == 302


def test_losing_the_last_role_takes_the_permissions_away_and_refuses(client, oidc_mode):
    oidc_mode.set_user("sub-ivan", email="ivan@example.com", groups=["developers"])
    sign_in(Client(), oidc_mode, "sub-ivan")
    oidc_mode.set_user("sub-ivan", email="ivan@example.com", groups=[])

    response = sign_in(client, oidc_mode, "sub-ivan")

    assert response["Location"] == "/accounts/no-access/"
    assert roles_of(get_user_model().objects.get()) == set()


def test_a_session_ends_session_cookie_age_after_sign_in_whatever_is_written_to_it_later(client, oidc_mode):
    """Roles are read at sign-in only: the session's age is how long a removed role lasts (README)."""
    oidc_mode.set_user("sub-judy", email="judy@example.com", groups=["developers"])
    sign_in(client, oidc_mode, "sub-judy")
    session = Session.objects.get(session_key=client.session.session_key)
    expires = session.expire_date

    # Starting another sign-in writes to the session (state, nonce, PKCE verifier).
    assert client.get("/oidc/authenticate/").status_code == 302

    session.refresh_from_db()
    assert "oidc_states" in session.get_decoded()
    assert session.expire_date == expires


def test_a_denied_consent_is_refused_and_audited(client, oidc_mode):
    response = finish(client, oidc_mode.deny(start(client)))

    assert response["Location"] == "/accounts/no-access/"
    assert actions() == [("sign_in_refused", refusals.PROVIDER_ERROR.format(error="access_denied"))]


def test_a_replayed_callback_is_refused(client, oidc_mode):
    oidc_mode.set_user("sub-judy", email="judy@example.com", groups=["developers"])
    redirect_back = oidc_mode.approve(start(client), "sub-judy")
    finish(client, redirect_back)

    replayed = finish(Client(), redirect_back)

    assert replayed["Location"] == "/accounts/no-access/"
    assert actions()[-1] == ("sign_in_refused", refusals.STALE_CALLBACK)


def test_the_discovery_document_is_fetched_once(client, oidc_mode):
    oidc_mode.set_user("sub-kim", email="kim@example.com", groups=["developers"])

    sign_in(Client(), oidc_mode, "sub-kim")
    sign_in(Client(), oidc_mode, "sub-kim")

    assert oidc_mode.recorder.fetches("/.well-known/openid-configuration") == 1


def test_an_unreachable_provider_gives_a_page_that_says_so(client, oidc_mode, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # nothing listens on the discard port

    response = client.get("/oidc/authenticate/")

    assert response.status_code == 503
    assert escape(PROVIDER_UNAVAILABLE) in response.content.decode()


def test_a_discovery_document_naming_another_issuer_is_refused(settings, db):
    with JwksServer([]) as server:  # answers every path with a document that is not the issuer's
        settings.OIDC_ISSUER = server.url.rsplit("/", 1)[0]
        discovery.forget()
        with pytest.raises(discovery.DiscoveryError, match="names the issuer"):
            discovery.metadata()
    discovery.forget()


# --- The ID token's checks, one by one --------------------------------------------------------------

KEY = rsa_key()
OTHER_KEY = rsa_key()
ISSUER = "https://login.example.com"
CLIENT_ID = "bcc-keypair-portal"


@pytest.fixture
def backend(settings):
    with JwksServer([public_jwk(KEY, kid="k1", alg="RS256")]) as jwks:
        settings.OIDC_ISSUER = ISSUER
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = "client-secret"
        settings.OIDC_OP_JWKS_ENDPOINT = jwks.url
        yield PortalOIDCBackend()


def id_token(key=KEY, drop=(), **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "sub-1", "iat": now, "exp": now + 300, "nonce": "n-1", **claims}
    for name in drop:
        payload.pop(name)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


def test_a_valid_id_token_gives_its_claims(backend):
    assert backend.verify_token(id_token(), nonce="n-1")["sub"] == "sub-1"


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (lambda: id_token(aud="another-client"), "it is meant for another client"),
        (lambda: id_token(iss="https://evil.example.com"), "it comes from another issuer"),
        (lambda: id_token(exp=int(time.time()) - 600, iat=int(time.time()) - 900), "it has expired"),
        (lambda: id_token(OTHER_KEY), "its signature is wrong"),
        (lambda: id_token(drop=["sub"]), "a required claim is missing"),
        (lambda: id_token(drop=["exp"]), "a required claim is missing"),
        (lambda: id_token(nonce="n-replayed"), NONCE_PROBLEM),
        (lambda: id_token(aud=[CLIENT_ID, "another-client"]), "authorized party"),
    ],
    ids=["audience", "issuer", "expired", "signature", "no-subject", "no-expiry", "nonce", "several-audiences"],
)
def test_an_id_token_is_refused_when(backend, token, problem):
    with pytest.raises(SuspiciousOperation, match=problem):
        backend.verify_token(token(), nonce="n-1")


def test_several_audiences_are_accepted_when_the_portal_is_the_authorized_party(backend):
    token = id_token(aud=[CLIENT_ID, "another-client"], azp=CLIENT_ID)

    assert backend.verify_token(token, nonce="n-1")["azp"] == CLIENT_ID


# --- Settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["OIDC_ISSUER", "OIDC_RP_CLIENT_ID", "OIDC_RP_CLIENT_SECRET"])
def test_a_missing_oidc_setting_stops_the_start_and_is_named(name):
    values = {"OIDC_ISSUER": ISSUER, "OIDC_RP_CLIENT_ID": CLIENT_ID, "OIDC_RP_CLIENT_SECRET": "s", name: ""}

    with pytest.raises(ImproperlyConfigured, match=name):
        modes.check_sign_in_settings(mode=modes.OIDC, debug=False, allow_local_in_production=False, get=values.get)
