"""Where people leave and come back without anyone calling ``keypairs.offboarding``: two hooks.

- **The account's ``is_active``** (any save of the user model: a superuser's change form in the
  admin, a script, ``manage.py offboard``): active to inactive is leaving (route
  ``deactivated``), inactive to active is coming back. The stored value is read before the save
  and compared after it, and only for saves that may change ``is_active`` (``last_login``'s
  update at every sign-in costs nothing).
- **The developer role** (``portal.auth.roles.roles_assigned``, sent by ``assign_roles``, the one
  place every SSO mode applies the provider's roles: the OIDC sign-in and the proxy's
  assertion on every request): losing it is leaving (``role_lost``, or ``sign_in_refused``
  when no role is left, so the sign-in itself is refused); getting it back is coming back.

Both act after the commit of the change (``transaction.on_commit``): the services write audit
rows, which must not sit in a transaction that may still roll back. Leaving is recorded only
for someone with a key pair in BCC: a departure is about key pairs, and the roles_changed or
sign-in rows already tell the rest.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save, pre_save

from keypairs.audit import Origin
from keypairs.models import Departure
from keypairs.offboarding import live_keypairs_of, person_left, person_returned
from portal.auth.roles import Role, roles_assigned

WAS_ACTIVE_ATTRIBUTE = "_offboarding_was_active"
DISPATCH_UID = "keypairs.offboarding_hooks.{}"


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(remember_is_active, sender=user_model, dispatch_uid=DISPATCH_UID.format("pre"))
    post_save.connect(follow_is_active, sender=user_model, dispatch_uid=DISPATCH_UID.format("post"))
    roles_assigned.connect(follow_developer_role, dispatch_uid=DISPATCH_UID.format("roles"))


def remember_is_active(sender, instance, update_fields=None, raw=False, **kwargs) -> None:
    if raw or instance.pk is None or (update_fields is not None and "is_active" not in update_fields):
        return
    stored = sender.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    setattr(instance, WAS_ACTIVE_ATTRIBUTE, stored)


def follow_is_active(sender, instance, created=False, raw=False, **kwargs) -> None:
    was_active = instance.__dict__.pop(WAS_ACTIVE_ATTRIBUTE, None)
    if raw or created or was_active is None or was_active == instance.is_active:
        return
    person = instance
    if instance.is_active:
        transaction.on_commit(lambda: _returned(person), robust=True)
    else:
        transaction.on_commit(lambda: _left(person, Departure.Route.DEACTIVATED), robust=True)


def follow_developer_role(sender, user, previous, granted, **kwargs) -> None:
    """Runs after the commit already (``assign_roles`` sends it from ``on_commit``)."""
    if Role.DEVELOPER in previous and Role.DEVELOPER not in granted:
        _left(user, Departure.Route.ROLE_LOST if granted else Departure.Route.SIGN_IN_REFUSED)
    elif Role.DEVELOPER in granted and Role.DEVELOPER not in previous:
        _returned(user)


def _left(person, route: str) -> None:
    if live_keypairs_of(person).exists():
        person_left(person=person, route=route, origin=Origin())


def _returned(person) -> None:
    person.refresh_from_db(fields=["is_active"])
    person_returned(person=person, origin=Origin())
