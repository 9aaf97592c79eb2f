"""People who leave: what becomes of their key pairs, and of them when they come back.

A person leaves, or loses the developer role, by one of ``Departure.Route``: a portal admin
deactivates them, the identity provider no longer grants the developer role (or no role at
all: their sign-in is refused), or an HR script runs ``manage.py offboard``. The routes'
hooks are in ``keypairs.offboarding_hooks``; this module is what they all call.

The operators' policy (``OFFBOARDING_POLICY``) decides the key pairs' fate:

- ``flag``: at once, each live key pair is flagged (reason ``owner_left``) and listed on the
  admin page "Key pairs of people who left" for a portal admin to keep or delete.
- ``delete``: flagged at once as well, and listed "pending deletion on <date>"; after
  ``OFFBOARDING_GRACE_DAYS`` (``Departure.delete_after``), ``manage.py enforce_key_policy``
  deletes those still flagged through ``keypairs.services.policy``, which first unbinds a bound
  key pair from its instances (the logins it grants are the departed person's), and leaves it
  flagged when an instance still holds it. A portal admin's
  "keep" (the flag cleared) spares a key pair from the deletion.

Each leaving is audited (``person_left``: route, policy, how many key pairs and when they go)
and mailed to the portal admins. A person who comes back before their key pairs are deleted
(reactivated, or granted the developer role again) keeps them: ``person_returned`` closes the
departure and clears their ``owner_left`` flags.

One ``Departure`` row per person: leaving twice writes no second row and does not move the
grace period; a person who came back and leaves again reuses the row for the new departure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from keypairs.admin_mail import mail_portal_admins
from keypairs.audit import Origin, audit_record, ensure_outside_transaction
from keypairs.models import AuditEvent, Departure, KeyPairRequest
from keypairs.services.policy import DELETE, FLAG, PolicyStep, keypair_apply_policy, keypair_clear_flag
from portal.auth.roles import Role, roles_of

OWNER_LEFT = KeyPairRequest.FlagReason.OWNER_LEFT
# Ends the audit rows the policy writes on their key pairs: who decided, and why.
WHY_LEFT = "owner left"
WHY_RETURNED = "owner came back"

LEFT_DETAIL = "{person} left ({route}); policy {policy}: {count} key pair(s) {fate}"
REASON_DETAIL = "; reason: {reason}"
FATE_FLAGGED = "flagged for a decision"
FATE_DELETE = "to be deleted after {when:%Y-%m-%d %H:%M} UTC"
RETURNED_DETAIL = "{person} came back; {cleared} owner_left flag(s) cleared, {live} key pair(s) kept"
MAIL_ABOUT = "summary of {person} leaving"


def offboarding_policy() -> str:
    return DELETE if settings.OFFBOARDING_POLICY == DELETE else FLAG


def live_keypairs_of(person):
    """The person's key pairs that exist in BCC (as far as the portal knows), oldest first."""
    return KeyPairRequest.objects.filter(owner=person, status=KeyPairRequest.Status.CREATED).exclude(keypair_id="")


def person_left(*, person, route: str, origin: Origin, actor=None, reason: str = "") -> Departure:
    """Record that ``person`` left by ``route`` and apply the policy's first step; see the module docstring.

    ``reason`` (``manage.py offboard --reason``) ends the audit row. Returns their departure.
    When they had already left (and not come back), nothing is written and the departure is
    returned as it was: the grace period is not reset.
    """
    ensure_outside_transaction()
    now = timezone.now()
    policy = offboarding_policy()
    delete_after = now + timedelta(days=settings.OFFBOARDING_GRACE_DAYS) if policy == DELETE else None
    departure, opened = _open_departure(person, route=route, left_at=now, delete_after=delete_after)
    if not opened:
        return departure

    keypairs = list(live_keypairs_of(person).order_by("created_at"))
    fate = FATE_DELETE.format(when=delete_after) if delete_after else FATE_FLAGGED
    audit_record(
        action=AuditEvent.Action.PERSON_LEFT,
        outcome=AuditEvent.Outcome.SUCCESS,
        origin=origin,
        # The row is about the person: on their timeline, unless an admin acted.
        **({"actor": actor} if actor is not None else {"actor_username": person.get_username()}),
        detail=LEFT_DETAIL.format(
            person=person.get_username(), route=route, policy=policy, count=len(keypairs), fate=fate
        )
        + (REASON_DETAIL.format(reason=reason) if reason else ""),
    )
    # Flagged at once under both policies: under ``delete`` the flag is what lists them as
    # "pending deletion" with "keep" and "delete now", and a portal admin's "keep" (the flag
    # cleared) is what spares one from the deletion after the grace period.
    for keypair_request in keypairs:
        keypair_apply_policy(
            keypair_request=keypair_request, reason=OWNER_LEFT, policy=FLAG, why=WHY_LEFT, origin=origin
        )
    if policy == FLAG:
        Departure.objects.filter(pk=departure.pk, settled_at__isnull=True).update(settled_at=now)
        departure.settled_at = now

    mail_portal_admins(
        template="person_left",
        context={
            "person": person.get_username(),
            "route": Departure.Route(route).label,
            "left_at": now,
            "policy": policy,
            "delete_after": delete_after,
            "keypairs": keypairs,
        },
        about=MAIL_ABOUT.format(person=person.get_username()),
        origin=origin,
    )
    return departure


def person_returned(*, person, origin: Origin, actor=None) -> Departure | None:
    """Close ``person``'s open departure when they are back: active and holding the developer role.

    Their key pairs that still exist are kept: the ``owner_left`` flags go (audited), and
    ``enforce_departures`` no longer touches them. None when there was nothing to close, or
    when they are not back yet (say, reactivated while the provider still withholds the role).
    """
    ensure_outside_transaction()
    if not person.is_active or Role.DEVELOPER not in roles_of(person):
        return None
    now = timezone.now()
    if not Departure.objects.filter(person=person, returned_at__isnull=True).update(returned_at=now):
        return None
    cleared = sum(
        keypair_clear_flag(keypair_request=keypair_request, actor=actor, why=WHY_RETURNED, origin=origin)
        for keypair_request in live_keypairs_of(person).filter(flagged_at__isnull=False, flag_reason=OWNER_LEFT)
    )
    audit_record(
        action=AuditEvent.Action.PERSON_RETURNED,
        outcome=AuditEvent.Outcome.SUCCESS,
        origin=origin,
        **({"actor": actor} if actor is not None else {"actor_username": person.get_username()}),
        detail=RETURNED_DETAIL.format(
            person=person.get_username(), cleared=cleared, live=live_keypairs_of(person).count()
        ),
    )
    return Departure.objects.get(person=person)


def enforce_departures(*, now: datetime, origin: Origin) -> list[PolicyStep]:
    """Apply the policy to the key pairs of every person whose departure is due; the steps taken.

    Due: under ``delete``, once ``delete_after`` (or, for a departure recorded without one,
    ``left_at`` plus the grace period) has passed; under ``flag``, at once (``person_left``
    already flagged them: this only catches a departure it did not finish). A departure is
    settled when done, so a second run finds nothing to do. The caller holds the
    ``enforce_key_policy`` lease: two runs never work on the same departure at once.
    """
    ensure_outside_transaction()
    policy = offboarding_policy()
    grace = timedelta(days=settings.OFFBOARDING_GRACE_DAYS)
    steps: list[PolicyStep] = []
    waiting = Departure.objects.filter(returned_at__isnull=True, settled_at__isnull=True).select_related("person")
    for departure in waiting.order_by("left_at"):
        if policy == DELETE and now < (departure.delete_after or departure.left_at + grace):
            continue
        keypairs = live_keypairs_of(departure.person)
        if policy == DELETE:
            # Only those still flagged: a portal admin may have kept one (its flag cleared).
            keypairs = keypairs.filter(flagged_at__isnull=False, flag_reason=OWNER_LEFT)
        for keypair_request in keypairs.order_by("created_at"):
            steps.append(
                keypair_apply_policy(
                    keypair_request=keypair_request, reason=OWNER_LEFT, policy=policy, why=WHY_LEFT, origin=origin
                )
            )
        # Conditional: a person who came back meanwhile keeps an open (returned) departure.
        Departure.objects.filter(pk=departure.pk, returned_at__isnull=True, settled_at__isnull=True).update(
            settled_at=now
        )
    return steps


def pending_deletion_date(departure: Departure | None) -> datetime | None:
    """When ``enforce_key_policy`` will delete the person's key pairs; None when it will not (flag, settled, back)."""
    if departure is None or departure.returned_at is not None or departure.settled_at is not None:
        return None
    if offboarding_policy() != DELETE:
        return None
    return departure.delete_after or departure.left_at + timedelta(days=settings.OFFBOARDING_GRACE_DAYS)


def _open_departure(person, *, route: str, left_at: datetime, delete_after: datetime | None) -> tuple[Departure, bool]:
    """The person's departure, and whether this call opened it (False: they had already left)."""
    fields = {"route": route, "left_at": left_at, "delete_after": delete_after, "returned_at": None, "settled_at": None}
    try:
        with transaction.atomic():
            departure, created = Departure.objects.get_or_create(person=person, defaults=fields)
    except IntegrityError:  # another process recorded the same departure a moment ago
        return Departure.objects.get(person=person), False
    if created:
        return departure, True
    # They came back once: this is a new departure, in the same row.
    if Departure.objects.filter(pk=departure.pk, returned_at__isnull=False).update(**fields):
        departure.refresh_from_db()
        return departure, True
    return departure, False
