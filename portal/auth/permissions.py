"""A person's permissions in one query, instead of Django's ModelBackend's two.

Every key pair page asks whether the person holds the developer role (``has_perm``), and
ModelBackend answers with two ORM queries on every request: the user's own permissions, then
their groups'. Building those joins was a fifth of a download's time in the portal's profile
(docs/benchmarks.md, sections 0.3 and 0.4). ``OneQueryPermissions`` loads both sets with one SQL
statement, written once per process from the models' own table and column names.

The answer is ModelBackend's in every case, and tests/test_permissions_one_query.py compares
the two for every kind of person: nothing for an inactive or anonymous user or for an object
permission, every permission for a superuser, and the set kept on the user object for the rest
of the request in Django's own ``_perm_cache``, which ``has_perm``, the templates' ``perms``
and the admin all read. Only ``get_all_permissions`` is replaced: ``get_user_permissions``
and ``get_group_permissions`` stay ModelBackend's.
"""

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections, router


class OneQueryPermissions:
    """Mix in before a ModelBackend: the same permissions, in one query per request."""

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = _load_permissions(user_obj)
        return user_obj._perm_cache


class PortalModelBackend(OneQueryPermissions, ModelBackend):
    """Django's password backend (AUTH_MODE=local) with the one-query permissions."""


def _load_permissions(user) -> set[str]:
    if user.is_superuser:
        rows = Permission.objects.values_list("content_type__app_label", "codename")
    else:
        with connections[router.db_for_read(Permission)].cursor() as cursor:
            cursor.execute(_permissions_sql(cursor.db.vendor), [user.pk, user.pk])
            rows = cursor.fetchall()
    return {f"{app_label}.{codename}" for app_label, codename in rows}


@functools.cache
def _permissions_sql(vendor: str) -> str:
    # One statement per kind of database (``vendor`` is the cache key). Names come from the
    # models, so a custom user model or table name is followed too.
    quote = connections[router.db_for_read(Permission)].ops.quote_name
    user_model = get_user_model()
    user_permissions = user_model._meta.get_field("user_permissions").remote_field.through._meta
    user_groups = user_model._meta.get_field("groups").remote_field.through._meta
    group_permissions = Group._meta.get_field("permissions").remote_field.through._meta

    def column(meta, field: str) -> str:
        return quote(meta.get_field(field).column)

    def table(meta) -> str:
        return quote(meta.db_table)

    user_field = user_model._meta.model_name  # "user": the through tables' field naming the user
    # Only quoted identifiers from the models are formatted in (S608); the user's id is a parameter.
    own = (
        f"SELECT up.{column(user_permissions, 'permission')} FROM {table(user_permissions)} up"  # noqa: S608
        f" WHERE up.{column(user_permissions, user_field)} = %s"
    )
    through_groups = (
        f"SELECT gp.{column(group_permissions, 'permission')} FROM {table(group_permissions)} gp"  # noqa: S608
        f" INNER JOIN {table(user_groups)} ug"
        f" ON gp.{column(group_permissions, 'group')} = ug.{column(user_groups, 'group')}"
        f" WHERE ug.{column(user_groups, user_field)} = %s"
    )
    return (
        f"SELECT ct.{quote('app_label')}, p.{quote('codename')} FROM {table(Permission._meta)} p"  # noqa: S608
        f" INNER JOIN {table(ContentType._meta)} ct ON p.{column(Permission._meta, 'content_type')} = ct.{quote('id')}"
        f" WHERE p.{quote('id')} IN ({own} UNION {through_groups})"
    )
