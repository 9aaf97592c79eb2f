"""Every sign-in, sign-out and refused sign-in goes to the audit log, in every mode.

- **Refused sign-ins and sign-outs** come from Django's ``user_login_failed`` and
  ``user_logged_out`` signals, which local passwords, the OIDC callback and the proxy's
  assertions all send; one receiver each covers the three modes. The SSO backends note why
  they refused (``refusals.note``) on the request; the receiver turns that into the row.
- **Sign-ins** are recorded by the three views that sign people in (``views.PortalLoginView``,
  ``oidc.SignInCallbackView``, ``proxy.ProxyAssertionMiddleware``) calling ``record_sign_in``,
  not by the ``user_logged_in`` signal: that signal also fires for the test client's
  ``force_login``, which is not someone signing in to the portal. A new way to sign in must
  call ``record_sign_in`` too.

- **Refusals by role** (an auditor opening a developer's page, a developer opening the admin)
  are recorded by the guards that refuse them calling ``record_access_refused``.

Refusals of both kinds are aggregated (``keypairs.audit_refusals``): per source address and
reason (and person, when signed in) the first of each minute is written at once, the rest
become one "N more" row, so that nobody can flood the log or the chain lock with them.

The rows are written by ``audit_record`` outside any transaction: no sign-in code here runs
inside ``transaction.atomic``, and a refused sign-in must be recorded even though nothing
else is.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.http import HttpRequest

from keypairs import audit_refusals
from keypairs.audit import audit_record
from keypairs.models import AuditEvent
from portal.auth import identities, refusals, roles

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome

SIGNED_IN_DETAIL = "Signed in ({mode}) as {roles}."
SIGNED_OUT_DETAIL = "Signed out ({mode})."
ACCESS_REFUSED_DETAIL = "{reason} ({method} {path})"
PATH_SHOWN = 100
# Receivers are connected with these ids, so that connecting twice cannot double the rows.
DISPATCH_UID = "portal.auth.audit_hooks.{}"


def connect() -> None:
    user_logged_out.connect(on_signed_out, dispatch_uid=DISPATCH_UID.format("out"))
    user_login_failed.connect(on_sign_in_refused, dispatch_uid=DISPATCH_UID.format("refused"))


def record_sign_in(request: HttpRequest, user) -> None:
    held = getattr(request, identities.ROLES_ATTRIBUTE, None)
    if held is None:
        held = roles.roles_of(user)
    audit_record(
        action=Action.SIGNED_IN,
        outcome=Outcome.SUCCESS,
        actor=user,
        request=request,
        actor_subject=getattr(request, identities.SUBJECT_ATTRIBUTE, ""),
        detail=SIGNED_IN_DETAIL.format(mode=settings.AUTH_MODE, roles=roles.describe(held)),
    )


def on_signed_out(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if user is None:
        # The session held nobody: nothing ended.
        return
    audit_record(
        action=Action.SIGNED_OUT,
        outcome=Outcome.SUCCESS,
        actor=user,
        request=request,
        detail=SIGNED_OUT_DETAIL.format(mode=settings.AUTH_MODE),
    )


def on_sign_in_refused(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    refusal = refusals.noted(request) or refusals.Refusal(
        # Local mode: Django cannot tell a wrong password from an unknown or inactive account,
        # and should not; the name tried is kept, the password never reaches this receiver.
        reason=refusals.WRONG_PASSWORD,
        username=str(credentials.get("username") or ""),
    )
    record_refusal(request, refusal)


def record_refusal(request: HttpRequest | None, refusal: refusals.Refusal) -> None:
    """Write the refused sign-in row once per request, however many code paths report it."""
    if request is not None and getattr(request, refusals.AUDITED_ATTRIBUTE, False):
        return
    # Nobody is signed in yet: aggregated per source and reason, whatever user name was typed.
    audit_refusals.record_refusal(
        action=Action.SIGN_IN_REFUSED,
        reason=refusal.reason,
        request=request,
        actor_username=refusal.username,
        actor_subject=refusal.subject,
    )
    if request is not None:
        setattr(request, refusals.AUDITED_ATTRIBUTE, True)


def record_access_refused(request: HttpRequest, reason: str) -> None:
    """A signed-in person was refused a page their roles do not allow (403); aggregated like sign-in refusals."""
    audit_refusals.record_refusal(
        action=Action.ACCESS_REFUSED,
        reason=ACCESS_REFUSED_DETAIL.format(reason=reason, method=request.method, path=request.path[:PATH_SHOWN]),
        request=request,
        who=request.user.get_username() if request.user.is_authenticated else "",
        actor=request.user,
    )
