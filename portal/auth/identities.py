"""From a verified set of SSO claims to a portal account: find, create, update, grant roles.

Used by both SSO modes once they have verified who the provider vouches for. The caller
guarantees the claims are authentic (signature, issuer, audience, expiry all checked);
this module decides what they mean for the portal.

- The account is found by (issuer, ``sub``) through ``Identity``, never by email or name.
- Name and email are refreshed from the claims at every sign-in.
- The roles claim decides the roles, every time (``roles.assign_roles``).
- Nobody without a role gets an account: the refusal is noted and ``None`` returned. An
  existing account whose last role was taken away loses its role groups (and so every
  permission) before being refused.
- Between sign-ins (proxy mode, where every request carries the claims), ``roles_resync``
  makes the account's roles follow the claims at once and audits the change.
- The groups claim's values are kept on the identity (``Identity.groups``) at every sign-in
  and, in proxy mode, whenever they change (``groups_resync``): access rules name these groups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keypairs.audit import audit_record
from keypairs.models import AuditEvent
from portal.auth import refusals, roles
from portal.auth.models import Identity

# Set on the request for the sign-in audit row and the proxy's session: who signed in, with what roles.
SUBJECT_ATTRIBUTE = "portal_sign_in_subject"
ISSUER_ATTRIBUTE = "portal_sign_in_issuer"
ROLES_ATTRIBUTE = "portal_sign_in_roles"
GROUPS_ATTRIBUTE = "portal_sign_in_groups"

ROLES_CHANGED_DETAIL = "Roles changed at the identity provider: from {previous} to {granted}."
# Django's per-request permission caches on the user object (ModelBackend's and ours).
_PERMISSION_CACHES = ("_perm_cache", "_user_perm_cache", "_group_perm_cache")

_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")
USERNAME_MAX_LENGTH = 150


def sign_in_user(*, request: HttpRequest | None, issuer: str, claims: Mapping[str, Any]):
    """The portal account for these verified claims, or None (with the reason noted on ``request``)."""
    subject = claims.get("sub")
    label = _display_name(claims)
    if not isinstance(subject, str) or not subject:
        refusals.note(request, refusals.NO_SUBJECT, username=label)
        return None
    granted = roles.roles_from_claims(claims)
    groups = groups_from_claims(claims)

    with transaction.atomic():
        identity = (
            Identity.objects.select_for_update().select_related("user").filter(issuer=issuer, subject=subject).first()
        )
        if identity is None and not granted:
            # No account for someone who may not use the portal.
            user = None
        elif identity is None:
            user = get_user_model().objects.create_user(username=_free_username(claims, subject))
            identity = Identity.objects.create(issuer=issuer, subject=subject, user=user)
        else:
            user = identity.user
        if user is not None:
            _update_profile(user, claims)
            roles.assign_roles(user, granted)
            identity.last_sign_in_at = timezone.now()
            changed = ["last_sign_in_at"]
            if identity.groups != groups:
                identity.groups = groups
                changed.append("groups")
            identity.save(update_fields=changed)

    username = user.get_username() if user is not None else label
    if not granted:
        refusals.note(request, refusals.NO_ROLE, username=username, subject=subject)
        return None
    if not user.is_active:
        refusals.note(request, refusals.ACCOUNT_DISABLED, username=username, subject=subject)
        return None
    if request is not None:
        setattr(request, SUBJECT_ATTRIBUTE, subject)
        setattr(request, ISSUER_ATTRIBUTE, issuer)
        setattr(request, ROLES_ATTRIBUTE, granted)
        setattr(request, GROUPS_ATTRIBUTE, groups)
    return user


def roles_resync(*, request: HttpRequest, user, granted: set[roles.Role]) -> bool:
    """Make ``user`` hold exactly ``granted`` now, for this very request; True when anything changed.

    A role taken away must not outlive the request that first shows it gone: the groups are
    rewritten, and the permissions Django may already have cached on the user object for this
    request are dropped, so the next ``has_perm`` reads the new ones. The change is audited
    (``roles_changed``: from, to), outside any transaction, after it is made.
    """
    previous = roles.roles_of(user)
    if previous == granted:
        return False
    roles.assign_roles(user, granted)
    for cache in _PERMISSION_CACHES:
        if hasattr(user, cache):
            delattr(user, cache)
    audit_record(
        action=AuditEvent.Action.ROLES_CHANGED,
        outcome=AuditEvent.Outcome.SUCCESS,
        actor=user,
        request=request,
        detail=ROLES_CHANGED_DETAIL.format(previous=roles.describe(previous), granted=roles.describe(granted)),
    )
    return True


def groups_from_claims(claims: Mapping[str, Any]) -> list[str]:
    """The groups claim's values (``SSO_ROLES_CLAIM``), sorted: what ``Identity.groups`` keeps."""
    return sorted(roles.claim_values(claims.get(settings.SSO_ROLES_CLAIM)))


def groups_resync(*, issuer: str, subject: str, groups: list[str]) -> bool:
    """Keep ``groups`` on the identity (issuer, subject); True when the row changed.

    One UPDATE that writes only when the stored groups differ: JSON equality is not portable
    across databases, so the row is read first; the proxy calls this only when the session's
    copy of the groups differs, so unchanged groups cost nothing at all.
    """
    identity = Identity.objects.filter(issuer=issuer, subject=subject).only("pk", "groups").first()
    if identity is None or identity.groups == groups:
        return False
    Identity.objects.filter(pk=identity.pk).update(groups=groups)
    return True


def _update_profile(user, claims: Mapping[str, Any]) -> None:
    email = _text(claims.get("email"), 254)
    first_name = _text(claims.get("given_name") or claims.get("name"), 150)
    last_name = _text(claims.get("family_name"), 150) if claims.get("given_name") else ""
    changed = []
    for field, value in (("email", email), ("first_name", first_name), ("last_name", last_name)):
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    if changed:
        user.save(update_fields=changed)


def _display_name(claims: Mapping[str, Any]) -> str:
    """Who the claims name, for an audit row about someone without an account."""
    for name in ("preferred_username", "email", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value[:USERNAME_MAX_LENGTH]
    return ""


def _free_username(claims: Mapping[str, Any], subject: str) -> str:
    """A readable, unused user name: the preferred user name, else the email's local part.

    Only ever chosen once, when the account is made; it is a label in pages and audit rows,
    never how the person is recognised. A clash (a local account, or two people with the
    same preferred name at different times) gets a number: ``alice-2``.
    """
    candidates = [claims.get("preferred_username"), str(claims.get("email") or "").split("@")[0], subject]
    base = next((_clean(value) for value in candidates if isinstance(value, str) and _clean(value)), "user")
    user_model = get_user_model()
    username, number = base, 1
    while user_model.objects.filter(username=username).exists():
        number += 1
        suffix = f"-{number}"
        username = base[: USERNAME_MAX_LENGTH - len(suffix)] + suffix
    return username


def _clean(value: str) -> str:
    return _USERNAME_UNSAFE.sub("", value)[: USERNAME_MAX_LENGTH - 8]


def _text(value: Any, max_length: int) -> str:
    return value[:max_length] if isinstance(value, str) else ""
