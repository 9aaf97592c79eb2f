"""People with roles, for the sign-in, permission and admin tests (issue 4).

Alice and Bob are developers (tests/conftest.py); these add the others the permission
matrix names: an auditor, a portal admin, a superuser, and someone without any role.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from portal.auth.roles import Role, assign_roles

PASSWORD = "correct horse battery staple"


def person(username: str, *roles: Role, superuser: bool = False):
    """A user holding exactly ``roles`` (and staff if a role needs it), with PASSWORD."""
    user_model = get_user_model()
    if superuser:
        user = user_model.objects.create_superuser(
            username=username, password=PASSWORD, email=f"{username}@example.com"
        )
    else:
        user = user_model.objects.create_user(username=username, password=PASSWORD)
    assign_roles(user, set(roles))
    user.refresh_from_db()
    return user
