"""portal.auth.permissions: the same permissions as Django's ModelBackend, in one query.

Every key pair page checks the developer role with ``has_perm``. The portal's backends load a
person's permissions with one SQL statement instead of ModelBackend's two; these tests hold
the answer to ModelBackend's for every kind of person the portal has, on whichever database
the run uses (SQLite, and PostgreSQL in CI's second pass).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.auth import roles
from portal.auth.oidc import PortalOIDCBackend
from portal.auth.permissions import PortalModelBackend
from portal.auth.proxy import ProxyAssertionBackend

User = get_user_model()


def person(name: str, *, role_set=(), direct=(), groups=(), active=True, superuser=False):
    user = User.objects.create_user(username=name, password="x", is_active=active, is_superuser=superuser)
    roles.assign_roles(user, set(role_set))
    for codename in direct:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    for group in groups:
        user.groups.add(group)
    return User.objects.get(pk=user.pk)  # fresh: no permission cache from the set-up


@pytest.fixture
def people(db):
    other_group = Group.objects.create(name="not a role")
    other_group.permissions.add(Permission.objects.get(codename="view_group"))
    return {
        "nobody": person("nobody"),
        "developer": person("dev", role_set={roles.Role.DEVELOPER}),
        "auditor": person("aud", role_set={roles.Role.AUDITOR}),
        "portal admin": person("adm", role_set={roles.Role.PORTAL_ADMIN}),
        "developer and auditor": person("both", role_set={roles.Role.DEVELOPER, roles.Role.AUDITOR}),
        "direct permission only": person("direct", direct=["add_keypairrequest"]),
        "direct and through a group": person(
            "overlap", role_set={roles.Role.DEVELOPER}, direct=["add_keypairrequest", "view_user"]
        ),
        "in a group that is no role": person("grouped", groups=[other_group]),
        "inactive developer": person("gone", role_set={roles.Role.DEVELOPER}, active=False),
        "superuser": person("root", superuser=True),
    }


@pytest.mark.parametrize("backend_class", [PortalModelBackend, PortalOIDCBackend, ProxyAssertionBackend])
def test_every_kind_of_person_has_exactly_modelbackends_permissions(people, backend_class):
    ours, django = backend_class(), ModelBackend()

    for kind, user in people.items():
        expected = django.get_all_permissions(User.objects.get(pk=user.pk))
        assert ours.get_all_permissions(User.objects.get(pk=user.pk)) == expected, kind
        for perm in (roles.CREATE_KEYPAIRS, "keypairs.view_auditevent", "auth.view_group"):
            assert ours.has_perm(User.objects.get(pk=user.pk), perm) == (perm in expected), (kind, perm)


def test_the_roles_come_out_as_the_portal_means_them(people):
    backend = PortalModelBackend()

    def can_create(kind):
        return backend.has_perm(User.objects.get(pk=people[kind].pk), roles.CREATE_KEYPAIRS)

    assert [kind for kind in people if can_create(kind)] == [
        "developer",
        "developer and auditor",
        "direct permission only",
        "direct and through a group",
        "superuser",
    ]


def test_one_query_and_then_none_for_the_rest_of_the_request(people):
    backend = PortalModelBackend()
    user = User.objects.get(pk=people["developer and auditor"].pk)

    with CaptureQueriesContext(connection) as queries:
        first = backend.has_perm(user, roles.CREATE_KEYPAIRS)
        again = backend.has_perm(user, "keypairs.view_auditevent")
        missing = backend.has_perm(user, "auth.view_user")

    assert (first, again, missing) == (True, True, False)
    assert len(queries) == 1
    # Django's own backend asks twice for the same answer.
    fresh = User.objects.get(pk=user.pk)
    with CaptureQueriesContext(connection) as django_queries:
        ModelBackend().has_perm(fresh, roles.CREATE_KEYPAIRS)
    assert len(django_queries) == 2


def test_anonymous_and_object_permissions_get_nothing_without_a_query(people):
    backend = PortalModelBackend()

    with CaptureQueriesContext(connection) as queries:
        anonymous = backend.get_all_permissions(AnonymousUser())
        for_an_object = backend.get_all_permissions(people["developer"], obj=object())

    assert (anonymous, for_an_object, len(queries)) == (set(), set(), 0)


def test_a_role_taken_away_is_gone_at_the_next_request(people):
    # Nothing is kept between requests: each request loads a fresh user, and so asks again.
    backend = PortalModelBackend()
    developer = people["developer"]
    assert backend.has_perm(User.objects.get(pk=developer.pk), roles.CREATE_KEYPAIRS)

    roles.assign_roles(developer, set())

    assert not backend.has_perm(User.objects.get(pk=developer.pk), roles.CREATE_KEYPAIRS)
