"""Refusals are audited without letting anyone flood the log: per source address and reason (and
person, when signed in) the first of each minute is written at once, the rest become one "N more"
row once the minute is over. Refusals by role (an auditor on a developer's page, a developer in the
admin) are recorded the same way."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from keypairs import audit_refusals
from keypairs.audit import audit_verify
from keypairs.models import AuditEvent
from portal.auth import discovery, modes, refusals
from portal.auth.roles import Role
from portal.auth.views import NO_ADMIN_ROLE, NO_DEVELOPER_ROLE
from tests.auth_people import person
from tests.oidc_provider import Provider
from tests.test_auth_oidc import CALLBACK, sign_in

MINUTE_ONE = 29_000_000  # 2025-02-19 21:20 UTC, in minutes since the epoch
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


@pytest.fixture
def clock(monkeypatch):
    """The aggregation's minute, moved by the test (``clock.minute += 1``)."""

    class Clock:
        minute = MINUTE_ONE

    monkeypatch.setattr(audit_refusals, "clock", lambda: Clock.minute * 60.0 + 1.5)
    return Clock


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
    yield provider
    discovery.forget()


def refused(action: str = "sign_in_refused") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def forged_callback(client: Client, source: str = "127.0.0.1"):
    return client.get("/oidc/callback/", {"code": "x", "state": "forged"}, REMOTE_ADDR=source)


# --- Signed-out refusals --------------------------------------------------------------------------------


def test_a_flood_of_refused_callbacks_writes_a_few_rows_and_real_sign_ins_keep_working(oidc_mode, clock):
    oidc_mode.set_user("sub-alice", email="alice@example.com", preferred_username="alice", groups=["developers"])
    attacker = Client()

    for _ in range(10_000):
        assert forged_callback(attacker)["Location"] == "/accounts/no-access/"
    response = sign_in(Client(), oidc_mode, "sub-alice")
    clock.minute += 1
    forged_callback(attacker)

    assert response.status_code == 302 and response["Location"] == "/"
    assert AuditEvent.objects.filter(action="signed_in", actor_username="alice").count() == 1
    assert AuditEvent.objects.count() <= 30
    first, summary, next_minute = refused()
    assert first.detail == refusals.STALE_CALLBACK
    assert summary.detail == (
        f"9999 more refused sign-ins from 127.0.0.1 in the minute from 2025-02-19 21:20 UTC: {refusals.STALE_CALLBACK}"
    )
    assert (summary.source_ip, summary.is_security_event, summary.outcome) == ("127.0.0.1", True, "denied")
    assert next_minute.detail == refusals.STALE_CALLBACK
    assert audit_verify().ok


def test_each_source_gets_its_own_first_row(oidc_mode, clock):
    for source in ("192.0.2.1", "192.0.2.2", "192.0.2.1"):
        forged_callback(Client(), source)

    assert [event.source_ip for event in refused()] == ["192.0.2.1", "192.0.2.2"]


def test_a_tail_nobody_follows_is_written_by_the_nightly_verification(oidc_mode, clock):
    for _ in range(5):
        forged_callback(Client())
    clock.minute += 1

    call_command("verify_audit", stdout=StringIO())

    assert [event.detail.split(" from ")[0] for event in refused()] == [
        refusals.STALE_CALLBACK,
        "4 more refused sign-ins",
    ]
    call_command("verify_audit", stdout=StringIO())
    assert len(refused()) == 2  # flushed once only


def test_a_tail_is_flushed_by_the_next_refusal_from_anyone(oidc_mode, clock):
    for _ in range(3):
        forged_callback(Client(), "192.0.2.7")
    clock.minute += 3

    forged_callback(Client(), "198.51.100.9")

    assert [(event.source_ip, event.detail.split(" in the ")[0]) for event in refused()] == [
        ("192.0.2.7", refusals.STALE_CALLBACK),
        ("192.0.2.7", "2 more refused sign-ins from 192.0.2.7"),
        ("198.51.100.9", refusals.STALE_CALLBACK),
    ]


# --- Refusals by role ---------------------------------------------------------------------------------


@pytest.fixture
def auditor(db):
    client = Client()
    client.force_login(person("audrey", Role.AUDITOR))
    return client


def test_an_auditor_opening_a_key_pair_page_is_refused_and_audited(auditor, clock):
    response = auditor.get(f"/keypairs/{uuid.uuid4()}/", HTTP_USER_AGENT="Firefox/140")

    assert response.status_code == 403
    (event,) = refused("access_refused")
    assert (event.actor_username, event.outcome, event.is_security_event) == ("audrey", "denied", True)
    assert event.detail.startswith(NO_DEVELOPER_ROLE + " (GET /keypairs/")
    assert event.user_agent == "Firefox/140"


def test_an_auditor_posting_to_a_download_url_is_refused_and_audited(auditor, clock):
    response = auditor.post(f"/keypairs/{uuid.uuid4()}/download")

    assert response.status_code == 403
    (event,) = refused("access_refused")
    assert event.detail.startswith(NO_DEVELOPER_ROLE + " (POST /keypairs/")


def test_a_developer_opening_the_admin_is_refused_and_audited(db, clock):
    developer = Client()
    developer.force_login(person("dana", Role.DEVELOPER))

    response = developer.get("/admin/", follow=True)

    assert response.status_code == 403
    (event,) = refused("access_refused")
    assert (event.actor_username, event.detail) == ("dana", f"{NO_ADMIN_ROLE} (GET /admin/login/)")


def test_refusals_by_role_are_aggregated_per_person_and_minute(auditor, clock):
    page = f"/keypairs/{uuid.uuid4()}/"
    for _ in range(20):
        assert auditor.get(page).status_code == 403
    clock.minute += 1
    auditor.get(page)

    _, summary, _ = refused("access_refused")
    assert summary.detail.startswith("19 more refused requests by audrey from 127.0.0.1 in the minute from ")
    assert summary.actor_username == "audrey"
