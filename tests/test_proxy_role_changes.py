"""Proxy mode: roles follow the assertion on every request, not only at sign-in (issue 9).

The proxy sends the person's groups with every request. A group removed at the identity
provider must take effect on the very next request (a developer whose group was removed is
refused on that request), be audited as "roles changed" with from and to, and cost nothing
while the groups stay the same.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from keypairs.models import AuditEvent
from portal.auth import refusals
from portal.auth.models import Identity
from portal.auth.roles import Role, roles_of
from tests.test_auth_proxy import assertion, get, jwks, proxy_mode  # noqa: F401 - fixtures used below

pytestmark = pytest.mark.usefixtures("proxy_mode")


def alice():
    return get_user_model().objects.get(username="alice")


def audited() -> list[tuple[str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("action", "detail"))


def test_a_developer_whose_group_was_removed_is_refused_on_that_very_request(client):
    assert get(client, "/keypairs/new", assertion(groups=["developers", "auditors"])).status_code == 200

    response = get(client, "/keypairs/new", assertion(groups=["auditors"]))

    assert response.status_code == 403
    assert roles_of(alice()) == {Role.AUDITOR}
    roles_changed, refused = audited()[-2:]
    assert roles_changed == (
        "roles_changed",
        "Roles changed at the identity provider: from auditor, developer to auditor.",
    )
    assert refused[0] == "access_refused"


def test_a_role_change_keeps_the_session_and_writes_one_row(client):
    get(client, "/", assertion(groups=["developers"]))

    assert get(client, "/admin/keypairs/auditevent/", assertion(groups=["developers", "auditors"])).status_code == 200
    assert get(client, "/admin/keypairs/auditevent/", assertion(groups=["developers", "auditors"])).status_code == 200

    assert [action for action, _ in audited()] == ["signed_in", "roles_changed"]
    assert roles_of(alice()) == {Role.DEVELOPER, Role.AUDITOR}
    assert alice().is_staff


def test_unchanged_groups_touch_no_role_table(client):
    get(client, "/", assertion(groups=["developers", "everyone", "newsletter"]))

    with CaptureQueriesContext(connection) as queries:
        assert get(client, "/keypairs/", assertion(groups=["everyone", "developers", "newsletter"])).status_code == 200

    writes = [query["sql"] for query in queries if not query["sql"].lstrip().upper().startswith("SELECT")]
    group_reads = [query["sql"] for query in queries if "auth_user_groups" in query["sql"] and "FROM" in query["sql"]]
    assert writes == []
    assert len(group_reads) == 1, "only the page's own permission check reads the groups"
    assert [action for action, _ in audited()] == ["signed_in"]


def test_losing_every_role_signs_out_and_gets_no_access(client):
    get(client, "/", assertion(groups=["developers"]))

    response = get(client, "/keypairs/", assertion(groups=["everyone"]))

    assert response.status_code == 403
    assert refusals.NO_ROLE in response.content.decode()
    assert roles_of(alice()) == set()
    assert [action for action, _ in audited()] == ["signed_in", "roles_changed", "signed_out", "sign_in_refused"]
    assert "_auth_user_id" not in client.session


def test_someone_else_signed_in_with_the_same_groups_is_not_affected(client):
    get(client, "/", assertion(groups=["developers"]))
    other = Client()
    get(other, "/", assertion(groups=["developers"], sub="accounts:1002", preferred_username="bob"))

    get(client, "/", assertion(groups=["auditors"]))

    assert get(other, "/keypairs/new", assertion(groups=["developers"], sub="accounts:1002")).status_code == 200


def test_the_identity_keeps_the_groups_of_the_latest_assertion_and_writes_only_when_they_change(client):
    get(client, "/", assertion(groups=["developers", "everyone"]))
    assert Identity.objects.get().groups == ["developers", "everyone"]

    with CaptureQueriesContext(connection) as queries:
        assert get(client, "/keypairs/", assertion(groups=["developers", "everyone", "team-web"])).status_code == 200

    assert Identity.objects.get().groups == ["developers", "everyone", "team-web"]
    role_writes = [q["sql"] for q in queries if "auth_user_groups" in q["sql"] and not q["sql"].startswith("SELECT")]
    assert role_writes == [], "a group that grants no role leaves the roles alone"
    assert [action for action, _ in audited()] == ["signed_in"]

    with CaptureQueriesContext(connection) as queries:
        get(client, "/keypairs/", assertion(groups=["team-web", "everyone", "developers"]))
    assert not [q for q in queries if "portal_auth_identity" in q["sql"]], "unchanged groups cost nothing"
