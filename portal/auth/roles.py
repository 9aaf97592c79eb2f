"""The portal's four roles, the Django groups that carry them, and how SSO claims map to them.

- **developer**: creates key pairs and downloads their own private keys. Never sees the admin.
- **auditor**: reviews the audit log and the BCC inventory in the admin (view only) and nothing else.
- **portal admin**: sees every record the admin shows (audit log, create attempts, users and
  groups, the BCC inventory), view only, except that they assign or delete an unowned key pair
  from the BCC inventory. Changing users would include making someone a superuser, so it stays
  with the break-glass superuser accounts made by ``createsuperuser``.
- **approver**: approves or denies other people's access requests (binding a key pair to
  instances under a rule that requires approval) on the portal's own pages, never their own.
  Not staff: approving needs no admin page.

Roles are independent: a developer who also audits holds both. Each role is one Django group
(``GROUP_NAMES``) with exactly the permissions in ``PERMISSIONS``; ``sync_role_groups`` makes
the database agree after every migrate, so a permission added here reaches every member.

In the SSO modes the identity provider is the source of truth: at every sign-in the claim
named by ``SSO_ROLES_CLAIM`` (``groups`` by default) decides the person's roles, and role
groups they no longer hold are taken away (groups that are not roles are left alone). Which
claim values mean which role is configurable (``SSO_DEVELOPER_GROUPS`` and friends), because
every company names its groups differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.dispatch import Signal


class Role(StrEnum):
    DEVELOPER = "developer"
    AUDITOR = "auditor"
    PORTAL_ADMIN = "portal_admin"
    APPROVER = "approver"


GROUP_NAMES = {
    Role.DEVELOPER: "developers",
    Role.AUDITOR: "auditors",
    Role.PORTAL_ADMIN: "portal admins",
    Role.APPROVER: "approvers",
}

# The one permission every key pair page asks for.
CREATE_KEYPAIRS = "keypairs.add_keypairrequest"
# The BCC inventory: auditors and portal admins see it; portal admins alone act on it.
VIEW_INVENTORY = "keypairs.view_bccinventoryentry"
CHANGE_INVENTORY = "keypairs.change_bccinventoryentry"
# Deciding access requests (keypairs/services/access_decisions.py).
APPROVE_ACCESS = "keypairs.approve_accessrequest"
# Access to instances: the rules, and the bindings and access requests recorded (read only).
VIEW_ACCESS = ("keypairs.view_accessrule", "keypairs.view_instancebinding", "keypairs.view_accessrequest")

PERMISSIONS: Mapping[Role, tuple[str, ...]] = {
    Role.DEVELOPER: (CREATE_KEYPAIRS,),
    Role.AUDITOR: ("keypairs.view_auditevent", VIEW_INVENTORY, *VIEW_ACCESS),
    Role.PORTAL_ADMIN: (
        "keypairs.view_auditevent",
        "keypairs.view_keypairrequest",
        VIEW_INVENTORY,
        # Assigning or deleting an unowned key pair from the BCC inventory (keypairs/admin_inventory.py):
        # the model's own change permission, so no migration; the admin never offers a change form.
        CHANGE_INVENTORY,
        "auth.view_user",
        "auth.view_group",
        # Access to instances (keypairs/admin_access.py): portal admins manage the rules.
        *VIEW_ACCESS,
        "keypairs.add_accessrule",
        "keypairs.change_accessrule",
        "keypairs.delete_accessrule",
    ),
    Role.APPROVER: (APPROVE_ACCESS,),
}

# Sent once the transaction that changed a person's roles has committed, with ``user``,
# ``previous`` and ``granted`` (sets of Role). ``keypairs.offboarding_hooks`` listens: losing the
# developer role is leaving, getting it back is coming back, whichever sign-in mode applied it.
roles_assigned = Signal()

# Roles that work in the admin, and so need Django's is_staff.
STAFF_ROLES = frozenset({Role.AUDITOR, Role.PORTAL_ADMIN})

# The settings naming the claim values that grant each role.
CLAIM_SETTINGS = {
    Role.DEVELOPER: "SSO_DEVELOPER_GROUPS",
    Role.AUDITOR: "SSO_AUDITOR_GROUPS",
    Role.PORTAL_ADMIN: "SSO_ADMIN_GROUPS",
    Role.APPROVER: "SSO_APPROVER_GROUPS",
}


def sync_role_groups(*, using: str = "default") -> dict[Role, Group]:
    """Create the role groups if needed and give each exactly its permissions (a few queries)."""
    wanted = {role: {_natural_key(name) for name in names} for role, names in PERMISSIONS.items()}
    needed = set().union(*wanted.values())
    permissions = {
        (permission.content_type.app_label, permission.codename): permission
        for permission in Permission.objects.using(using)
        .select_related("content_type")
        .filter(codename__in={codename for _, codename in needed})
        if (permission.content_type.app_label, permission.codename) in needed
    }
    existing = {group.name: group for group in Group.objects.using(using).filter(name__in=GROUP_NAMES.values())}
    through = Group.permissions.through.objects.using(using)
    held = set(through.filter(group__in=existing.values()).values_list("group_id", "permission_id"))
    groups = {}
    for role, group_name in GROUP_NAMES.items():
        group = existing.get(group_name) or Group.objects.using(using).create(name=group_name)
        target = [permissions[key] for key in wanted[role]]
        if {(group.pk, permission.pk) for permission in target} != {pair for pair in held if pair[0] == group.pk}:
            group.permissions.set(target)
        groups[role] = group
    return groups


def _natural_key(name: str) -> tuple[str, str]:
    app_label, codename = name.split(".")
    return app_label, codename


def may_create_keypairs(user) -> bool:
    """Whether ``user`` may create key pairs and download their own: the developer role, and only it.

    The superuser flag alone grants no developer action. Django's ``User.has_perm`` answers
    True for an active superuser before any backend is asked, so for superusers the role is
    read from their groups instead: a break-glass account that also creates key pairs must
    hold the developer role like anyone else (and then appears in the audit as one).
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return Role.DEVELOPER in roles_of(user)
    return user.has_perm(CREATE_KEYPAIRS)


def may_approve_access(user) -> bool:
    """Whether ``user`` may decide access requests: the approver role, and only it.

    Like ``may_create_keypairs``, a superuser's flag alone does not approve: binding a key pair
    to someone else's instances is a decision a named approver makes and answers for.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return Role.APPROVER in roles_of(user)
    return user.has_perm(APPROVE_ACCESS)


def roles_of(user) -> set[Role]:
    """The roles ``user`` holds through their groups."""
    if not getattr(user, "is_authenticated", False):
        return set()
    by_group = {name: role for role, name in GROUP_NAMES.items()}
    return {by_group[name] for name in user.groups.values_list("name", flat=True) if name in by_group}


@transaction.atomic
def assign_roles(user, roles: Iterable[Role]) -> None:
    """Make ``user`` hold exactly ``roles``; their other groups are untouched.

    ``is_staff`` follows: set for auditors and portal admins, cleared otherwise (superusers
    keep it: their access comes from ``createsuperuser``, not from a role).
    """
    roles = set(roles)
    groups = sync_role_groups()
    role_group_ids = {group.pk for group in groups.values()}
    held = list(user.groups.all())
    by_group = {group.pk: role for role, group in groups.items()}
    previous = {by_group[group.pk] for group in held if group.pk in by_group}
    others = [group for group in held if group.pk not in role_group_ids]
    user.groups.set(others + [groups[role] for role in roles])
    is_staff = bool(roles & STAFF_ROLES) or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    if previous != roles:
        # After the commit: the listeners write audit rows, which must not share a transaction
        # that may still roll back. Robust: a listener's failure never fails the sign-in.
        transaction.on_commit(
            lambda: roles_assigned.send(sender=assign_roles, user=user, previous=previous, granted=roles), robust=True
        )


def roles_from_claims(claims: Mapping[str, Any]) -> set[Role]:
    """The roles the provider's claims grant, through ``SSO_ROLES_CLAIM`` and the SSO_*_GROUPS settings.

    The claim may be a list of strings (``["developers", "staff"]``) or one string of values
    separated by commas or spaces (``"developers staff"``); anything else grants nothing.
    """
    held = claim_values(claims.get(settings.SSO_ROLES_CLAIM))
    return {role for role, setting in CLAIM_SETTINGS.items() if held & set(getattr(settings, setting))}


def claim_values(value: Any) -> set[str]:
    if isinstance(value, str):
        return {part for part in value.replace(",", " ").split() if part}
    if isinstance(value, list | tuple):
        return {item for item in value if isinstance(item, str) and item}
    return set()


def describe(roles: Iterable[Role]) -> str:
    """``"auditor, developer"``, or ``"no role"``: for audit details and pages."""
    names = sorted(role.value.replace("_", " ") for role in roles)
    return ", ".join(names) or "no role"
