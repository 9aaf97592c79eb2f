"""The sign-in pages every mode shares: sign in, sign out, "no access", and the admin's sign-in.

- ``sign_in`` (``/accounts/login/``): a user name and password form in ``local`` mode; a
  "Sign in with your company account" button in ``oidc`` mode (a page, not an automatic
  redirect, so that signing out does not bounce straight back in through the provider's
  still-open session); in ``proxy`` mode the proxy has already signed the person in.
- ``admin_sign_in`` (``/admin/login/``): the admin has no password form of its own; people
  are sent to ``sign_in``, and a signed-in person without admin access gets "no access"
  (never the admin's own form, which would offer a password sign-in in the SSO modes).
- ``no_access``: the polite refusal, with the reason, status 403.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_lazy, gettext_noop, pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.auth import audit_hooks, modes, refusals, roles

NO_ACCESS_SESSION_KEY = "portal_auth_no_access_reason"

# Reasons stay English (the audit row records them); the page translates them (refusals.for_people).
NO_DEVELOPER_ROLE = gettext_noop(
    "Creating and downloading key pairs is for developers, and you do not hold the developer role."
)
NO_ADMIN_ROLE = gettext_noop("The admin is for auditors and portal admins, and you hold neither role.")
NOT_THROUGH_PROXY = gettext_noop(
    "This portal is reached through the company's sign-in proxy, and this request did not come through it."
)
NOT_SIGNED_IN = gettext_noop("You are not signed in to the portal.")
AUDIT_REVIEW_PERMISSION = "keypairs.view_auditevent"
PROVIDER_UNAVAILABLE = gettext_noop(
    "The company's sign-in service cannot be reached right now. Please try again in a few minutes."
)
# The roles' names on the page (roles.describe's English names stay for the audit rows).
ROLE_NAMES = {
    roles.Role.DEVELOPER: gettext_lazy("developer"),
    roles.Role.AUDITOR: gettext_lazy("auditor"),
    roles.Role.PORTAL_ADMIN: gettext_lazy("portal admin"),
    roles.Role.APPROVER: gettext_lazy("approver"),
}


def landing_url(user) -> str:
    """Where a sign-in lands without a ``next``: the key pairs for developers, the review for reviewers.

    A reviewer (staff without the developer role) who may read the audit log lands on its
    list, the page they came for; other staff land on the admin's index. A developer who
    also reviews lands on the portal, and reaches the admin from its top bar.
    """
    if user is not None and is_reviewer_only(user):
        if user.has_perm(AUDIT_REVIEW_PERMISSION):
            return reverse("admin:keypairs_auditevent_changelist")
        return reverse("admin:index")
    if is_approver_only(user):
        return reverse("access_request_queue")
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def is_approver_only(user) -> bool:
    """Approvers who are neither developers nor staff: their page is the queue of access requests."""
    return bool(
        getattr(user, "is_authenticated", False)
        and not user.is_staff
        and not roles.may_create_keypairs(user)
        and roles.may_approve_access(user)
    )


def is_reviewer_only(user) -> bool:
    """Staff who do not hold the developer role: the portal's own pages would only refuse them."""
    return bool(getattr(user, "is_authenticated", False) and user.is_staff and not roles.may_create_keypairs(user))


def no_access_response(request: HttpRequest, reason: str, *, status: int = 403) -> HttpResponse:
    """The refusal page. Which provider groups grant which role is shown only to someone the
    identity provider vouched for (signed in, or refused for holding no role): the group names
    tell an anonymous visitor which accounts are worth attacking, and help only the people
    who can ask their team lead for one."""
    vouched_for = request.user.is_authenticated or reason == refusals.NO_ROLE
    context = {
        "reason": refusals.for_people(reason),
        "held_roles": _roles_for_people(roles.roles_of(request.user)) if request.user.is_authenticated else "",
        "role_groups": _role_groups_for_people() if vouched_for else [],
        "auth_mode": settings.AUTH_MODE,
    }
    return render(request, "no_access.html", context, status=status)


def provider_unavailable_response(request: HttpRequest) -> HttpResponse:
    return no_access_response(request, PROVIDER_UNAVAILABLE, status=503)


def _roles_for_people(held) -> str:
    names = sorted(str(ROLE_NAMES[role]) for role in held)
    # Chinese lists its items with "、", not a comma.
    return pgettext("list separator", ", ").join(names) or gettext("no role")


def _role_groups_for_people() -> list[tuple[str, str]]:
    """Which provider groups grant which role, to tell a refused person whom to ask for what."""
    if settings.AUTH_MODE == modes.LOCAL:
        return []
    return [
        (gettext("to create key pairs"), ", ".join(settings.SSO_DEVELOPER_GROUPS)),
        (gettext("to review the audit log"), ", ".join(settings.SSO_AUDITOR_GROUPS)),
        (gettext("to administer the portal"), ", ".join(settings.SSO_ADMIN_GROUPS)),
        (gettext("to approve access to instances"), ", ".join(settings.SSO_APPROVER_GROUPS)),
    ]


@login_not_required
@never_cache
def sign_in(request: HttpRequest) -> HttpResponse:
    if settings.AUTH_MODE == modes.LOCAL:
        return PortalLoginView.as_view()(request)
    if request.user.is_authenticated:
        return redirect(_safe_next(request) or landing_url(request.user))
    if settings.AUTH_MODE == modes.PROXY:
        return no_access_response(request, NOT_THROUGH_PROXY)
    return render(request, "registration/sign_in_sso.html", {"next": _safe_next(request) or ""})


class PortalLoginView(auth_views.LoginView):
    """Django's password sign-in (local mode), landing reviewers in the admin."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_hooks.record_sign_in(self.request, form.get_user())
        return response

    def get_default_redirect_url(self) -> str:
        return landing_url(self.request.user)


class PortalLogoutView(auth_views.LogoutView):
    """Ends the session (POST only). Behind a proxy, then ends the proxy's session too, if configured.

    Without ``PROXY_LOGOUT_URL`` the proxy would sign the person straight back in on the
    next page, so the README asks for it in proxy mode.
    """

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        # The session is gone by now; the message waits in the messages cookie and is shown
        # on the portal's sign-in page the sign-out lands on. Not when it leaves for the
        # proxy's own sign-out: the portal does not render that page, and the message would
        # wait and greet the next sign-in instead.
        if response.url != settings.PROXY_LOGOUT_URL:
            messages.success(request, gettext("You are signed out."))
        return response

    def get_default_redirect_url(self) -> str:
        if settings.AUTH_MODE == modes.PROXY and settings.PROXY_LOGOUT_URL:
            return settings.PROXY_LOGOUT_URL
        return super().get_default_redirect_url()


@login_not_required
@never_cache
@require_GET
def no_access(request: HttpRequest) -> HttpResponse:
    """The refusal page a failed SSO callback redirects to; the reason waits in the session."""
    reason = request.session.pop(NO_ACCESS_SESSION_KEY, None)
    if reason is None:
        reason = NO_DEVELOPER_ROLE if request.user.is_authenticated else NOT_SIGNED_IN
    return no_access_response(request, reason)


@login_not_required
@never_cache
def admin_sign_in(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(_safe_next(request) or reverse("admin:index"), settings.LOGIN_URL)
    if request.user.is_active and request.user.is_staff:
        return redirect(_safe_next(request) or reverse("admin:index"))
    audit_hooks.record_access_refused(request, NO_ADMIN_ROLE)
    return no_access_response(request, NO_ADMIN_ROLE)


def _safe_next(request: HttpRequest) -> str | None:
    target = request.GET.get(REDIRECT_FIELD_NAME)
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None
