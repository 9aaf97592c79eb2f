"""``manage.py offboard <username> [--reason ...]``: a person left; for HR scripts.

Deactivates the account (their session ends on its next request and they cannot sign in
again) and applies the offboarding policy to their key pairs (``keypairs.offboarding``).
Exit 0 when done, or when they had already been offboarded; non-zero, with a sentence, for a
user name the portal does not know. Run it again safely: nothing is done twice.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from keypairs.audit import Origin
from keypairs.models import Departure
from keypairs.offboarding import live_keypairs_of, pending_deletion_date, person_left

UNKNOWN_USER = "No portal account is named {username!r}: nobody was offboarded."
ALREADY = "{username} was already offboarded (left {left:%Y-%m-%d %H:%M} UTC, {route}); nothing more to do."
DONE = "{username} offboarded: account deactivated; {count} key pair(s) {fate}."
FATE_FLAGGED = "flagged for the portal admins' decision"
FATE_DELETE = "to be deleted on {when:%Y-%m-%d %H:%M} UTC unless they come back"
REASON_SHOWN = 120


class Command(BaseCommand):
    help = "Offboard a person: deactivate their account and apply the offboarding policy to their key pairs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reason", default="", help="Why (kept in the audit log; no personal details, please).")

    def handle(self, *args, username: str, reason: str, **options) -> None:
        person = get_user_model().objects.filter(username=username).first()
        if person is None:
            raise CommandError(UNKNOWN_USER.format(username=username))
        departure = Departure.objects.filter(person=person, returned_at__isnull=True).first()
        if departure is not None and not person.is_active:
            self.stdout.write(ALREADY.format(username=username, left=departure.left_at, route=departure.route))
            return
        count = live_keypairs_of(person).count()
        # First the departure, with its route; then the deactivation, whose hook finds it recorded.
        departure = person_left(
            person=person, route=Departure.Route.OFFBOARDED, origin=Origin(), reason=reason[:REASON_SHOWN]
        )
        if person.is_active:
            person.is_active = False
            person.save(update_fields=["is_active"])
        when = pending_deletion_date(departure)
        fate = FATE_DELETE.format(when=when) if when else FATE_FLAGGED
        self.stdout.write(DONE.format(username=username, count=count, fate=fate))
