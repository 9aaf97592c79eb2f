"""View guards: the key pair pages are for developers only, the access request queue for approvers.

A refused person gets the "no access" page (status 403) saying which role they lack, never
a redirect to a sign-in page they would pass straight through again. Signed-out visitors
never reach these guards: LoginRequiredMiddleware sends them to sign in first.
"""

from __future__ import annotations

from functools import wraps

from django.utils.translation import gettext_noop

from portal.auth import audit_hooks, roles
from portal.auth.views import NO_DEVELOPER_ROLE, no_access_response


def developer_required(view):
    """Only people holding the developer role get through; a superuser without it does not.

    ``roles.may_create_keypairs`` decides, not ``has_perm``, which says yes to every superuser.
    """

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not roles.may_create_keypairs(request.user):
            audit_hooks.record_access_refused(request, NO_DEVELOPER_ROLE)
            return no_access_response(request, NO_DEVELOPER_ROLE)
        return view(request, *args, **kwargs)

    return guarded


# English for the audit row; the page translates it (refusals.for_people).
NO_APPROVER_ROLE = gettext_noop("Deciding access requests is for approvers, and you do not hold the approver role.")


def approver_required(view):
    """Only people holding the approver role get through (``roles.may_approve_access``); others get "no access"."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not roles.may_approve_access(request.user):
            audit_hooks.record_access_refused(request, NO_APPROVER_ROLE)
            return no_access_response(request, NO_APPROVER_ROLE)
        return view(request, *args, **kwargs)

    return guarded
