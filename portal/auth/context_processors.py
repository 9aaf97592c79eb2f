"""What the page layout needs to know about the signed-in person's roles."""

from __future__ import annotations

from django.http import HttpRequest

from portal.auth import roles


def portal_roles(request: HttpRequest) -> dict[str, bool]:
    """``may_create_keypairs`` for the navigation: ``perms`` would say yes to every superuser."""
    user = getattr(request, "user", None)
    return {
        "may_create_keypairs": roles.may_create_keypairs(user),
        "may_approve_access": roles.may_approve_access(user),
    }
