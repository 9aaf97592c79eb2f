"""Local mode (AUTH_MODE=local): Django accounts for `make run` and development.

A developer signs in with a password and lands on the portal, a reviewer lands in the admin;
a wrong password is refused and audited; signing out ends the session and is audited; a
session ends on its own after SESSION_COOKIE_AGE. With DEBUG off the portal refuses to
start in local mode unless ALLOW_LOCAL_AUTH_IN_PRODUCTION says so.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from keypairs.models import AuditEvent
from portal.auth import modes, refusals
from portal.auth.roles import Role, roles_of
from portal.auth.views import NO_ADMIN_ROLE
from tests.auth_people import PASSWORD, person

ROOT = Path(__file__).resolve().parent.parent
SIGN_IN = "/accounts/login/"
SIGN_OUT = "/accounts/logout/"


def sign_in(client: Client, username: str, password: str = PASSWORD, *, next: str = "", **meta):
    form = {"username": username, "password": password, **({"next": next} if next else {})}
    return client.post(SIGN_IN, form, **meta)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.fixture
def developer(db):
    return person("dana", Role.DEVELOPER)


def test_it_is_the_default_mode(settings):
    assert settings.AUTH_MODE == modes.LOCAL
    assert settings.AUTHENTICATION_BACKENDS == [modes.MODEL_BACKEND]


def test_a_developer_signs_in_with_a_password_and_the_sign_in_is_audited(client, developer):
    response = sign_in(client, "dana", HTTP_USER_AGENT="Firefox/140")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    [event] = events(AuditEvent.Action.SIGNED_IN)
    assert (event.actor_username, event.outcome, event.user_agent) == ("dana", "success", "Firefox/140")
    assert event.detail == "Signed in (local) as developer."
    assert event.portal_request_id


def test_a_sign_in_goes_where_the_visitor_was_going(client, developer):
    response = sign_in(client, "dana", next="/keypairs/")

    assert response["Location"] == "/keypairs/"


def test_an_auditor_lands_on_the_audit_review(client, db):
    person("audrey", Role.AUDITOR)

    response = sign_in(client, "audrey")

    assert response["Location"] == "/admin/keypairs/auditevent/"
    assert client.get("/admin/keypairs/auditevent/").status_code == 200


def test_a_wrong_password_is_refused_and_audited_without_the_password(client, developer):
    response = sign_in(client, "dana", password="guessed-Password-1")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    [event] = events(AuditEvent.Action.SIGN_IN_REFUSED)
    assert (event.actor_username, event.outcome, event.detail) == ("dana", "denied", refusals.WRONG_PASSWORD)
    assert event.is_security_event
    assert "guessed-Password-1" not in str(AuditEvent.objects.values_list())
    assert not events(AuditEvent.Action.SIGNED_IN)


def test_an_unknown_user_name_is_refused_the_same_way(client, db):
    response = sign_in(client, "mallory")

    assert response.status_code == 200
    [event] = events(AuditEvent.Action.SIGN_IN_REFUSED)
    assert (event.actor_username, event.detail) == ("mallory", refusals.WRONG_PASSWORD)


def test_signing_out_ends_the_session_and_is_audited(client, developer):
    sign_in(client, "dana")
    session_key = client.session.session_key

    response = client.post(SIGN_OUT)

    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert not Session.objects.filter(session_key=session_key).exists()
    assert client.get("/").status_code == 302
    [event] = events(AuditEvent.Action.SIGNED_OUT)
    assert (event.actor_username, event.detail) == ("dana", "Signed out (local).")


def test_the_sign_in_page_says_the_person_is_signed_out(client, developer):
    sign_in(client, "dana")

    page = client.post(SIGN_OUT, follow=True)

    assert page.request["PATH_INFO"] == SIGN_IN
    assert "You are signed out." in page.content.decode()
    # Once only: the next visit to the sign-in page is plain again.
    assert "You are signed out." not in client.get(SIGN_IN).content.decode()


def test_signing_out_needs_a_post(client, developer):
    sign_in(client, "dana")

    assert client.get(SIGN_OUT).status_code == 405
    assert client.get("/").status_code == 200


def test_a_session_lasts_eight_hours_by_default(client, developer, settings):
    sign_in(client, "dana")

    assert settings.SESSION_COOKIE_AGE == 8 * 60 * 60
    assert client.session.get_expiry_age() == 8 * 60 * 60
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == 8 * 60 * 60
    assert cookie["httponly"]


def test_an_expired_session_is_signed_out(client, developer):
    sign_in(client, "dana")
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    response = client.get("/keypairs/")

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next=/keypairs/"


def test_the_admin_signs_people_in_through_the_portal(client, db):
    response = client.get("/admin/login/?next=/admin/keypairs/auditevent/")

    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next=/admin/keypairs/auditevent/"


def test_a_developer_at_the_admin_sign_in_gets_no_access(client, developer):
    client.force_login(developer)

    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 403
    assert NO_ADMIN_ROLE in response.content.decode()


def test_the_openid_pages_do_not_exist_in_local_mode(client, developer):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


# --- The local accounts of `make run` -------------------------------------------------------------


def test_make_runs_local_accounts_are_a_developer_and_an_auditor(db, tmp_path, monkeypatch, settings):
    settings.DEBUG = True
    monkeypatch.setenv("LOCAL_SIGN_IN_FILE", str(tmp_path / "sign-in.txt"))
    out = StringIO()

    call_command("ensure_local_user", stdout=out)
    call_command("ensure_local_user", stdout=StringIO())

    users = get_user_model().objects
    developer, auditor = users.get(username="developer"), users.get(username="auditor")
    assert roles_of(developer) == {Role.DEVELOPER} and not developer.is_staff
    assert roles_of(auditor) == {Role.AUDITOR} and auditor.is_staff
    words = (tmp_path / "sign-in.txt").read_text().split()
    admin = users.get(username="portal-admin")
    assert roles_of(admin) == {Role.PORTAL_ADMIN} and admin.is_staff and admin.email == "portal-admin@example.com"
    assert words[0::2] == ["developer", "auditor", "portal-admin"]
    assert f"Sign in as 'developer' with password '{words[1]}'" in out.getvalue()
    assert f"as auditor 'auditor', password '{words[3]}'" in out.getvalue()
    assert f"portal admin 'portal-admin', password '{words[5]}'" in out.getvalue()
    assert developer.check_password(words[1]) and auditor.check_password(words[3]) and admin.check_password(words[5])


def test_a_developer_account_from_before_roles_gets_its_role_and_keeps_its_password(
    db, tmp_path, monkeypatch, settings
):
    settings.DEBUG = True
    get_user_model().objects.create_user(username="developer", password="kept-password")
    (tmp_path / "sign-in.txt").write_text("developer\nkept-password\n")
    monkeypatch.setenv("LOCAL_SIGN_IN_FILE", str(tmp_path / "sign-in.txt"))

    call_command("ensure_local_user", stdout=StringIO())

    developer = get_user_model().objects.get(username="developer")
    assert developer.check_password("kept-password")
    assert roles_of(developer) == {Role.DEVELOPER}


# --- Start-up with DEBUG off -------------------------------------------------------------------------

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "portal.example.com",
    "AUDIT_HMAC_KEY": "y" * 40,
    "DOWNLOAD_TOKEN_KEY": "z" * 40,
    "BCC_ACCESS_KEY_ID": "a" * 32,
    "BCC_SECRET_ACCESS_KEY": "b" * 32,
}


def run_check(environment: dict[str, str]) -> subprocess.CompletedProcess:
    names = {*PRODUCTION, "DATABASE_URL", "AUTH_MODE", "ALLOW_LOCAL_AUTH_IN_PRODUCTION"}
    clean = {key: value for key, value in os.environ.items() if key not in names and not key.startswith("OIDC_")}
    clean["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_local_mode_refuses_to_start_with_debug_off():
    result = run_check({**PRODUCTION, "AUTH_MODE": "local"})

    assert result.returncode != 0
    assert modes.LOCAL_IN_PRODUCTION_MESSAGE in result.stderr


def test_local_mode_starts_with_debug_off_when_explicitly_allowed():
    result = run_check({**PRODUCTION, "AUTH_MODE": "local", "ALLOW_LOCAL_AUTH_IN_PRODUCTION": "true"})

    assert result.returncode == 0, result.stderr


def test_an_unknown_mode_refuses_to_start():
    result = run_check({**PRODUCTION, "AUTH_MODE": "ldap"})

    assert result.returncode != 0
    assert modes.UNKNOWN_MODE_MESSAGE.format(mode="ldap") in result.stderr
