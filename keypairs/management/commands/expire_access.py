"""``manage.py expire_access``: time limits on access. Run it from cron every 5 minutes.

Three steps (``keypairs.access_expiry``), each idempotent, one line printed per thing done:
pending access requests past their decide-by time expire; owners of time-limited bindings
near their end are warned once; bindings past their end are unbound, and their owners told.
When the run leaves bindings it could not remove and at least one of them failed for the
first time in this run, ONE summary listing all of them is mailed to the portal admins
(undelivered: a ``mail_failed`` audit row, said on stderr). Bindings that stay stuck run after
run are not mailed again every 5 minutes: the admin page "Bindings that could not be removed"
lists them, and the stdout line of each run says how many remain.

Exit status: 0 when the work is done or recorded for the next run, a BCC refusal included
(the binding stays listed and is retried); 1 only when BCC could not be asked at all for an
unbind (no connection, or the portal's own BCC settings missing or refused), so that cron's
mail reaches the operators: nothing will improve by itself until they act.

Every instance's cron may run it: a ``single_run`` lease lets one run work, and a run that
finds the lease held says so and exits 0. ``--now`` (hidden) sets the clock, for tests.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone

from keypairs.access_expiry import end_bindings, expire_requests, warn_ending
from keypairs.admin_mail import mail_portal_admins
from keypairs.audit import Origin
from keypairs.single_runner import AnotherRunHolds, single_run

JOB = "expire_access"
# Longer than a run with many unbinds takes, and a run that died blocks the next few at most.
LEASE_SECONDS = 15 * 60
NOTHING_TO_DO = "Nothing to do: no request past its decide-by time, no binding ending or over."
STUCK_SUMMARY = "stuck_bindings_summary"
SUMMARY_SENT = "{count} binding(s) could not be removed: summary mailed to the portal admins."
SUMMARY_NOT_SENT = (
    "{count} binding(s) could not be removed, and the summary could not be mailed to the portal admins "
    "(recorded in the audit log as mail_failed)."
)
STILL_STUCK = (
    "{count} binding(s) still could not be removed (already in a summary to the portal admins; "
    "listed on the admin page Bindings that could not be removed)."
)
COULD_NOT_ASK = "BCC could not be asked to unbind (no connection, or the portal's BCC settings); see above."


class Command(BaseCommand):
    help = "Expire undecided access requests and end time-limited bindings (for cron, every 5 minutes)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--now", type=datetime.fromisoformat, default=None, help=argparse.SUPPRESS)

    def handle(self, *args, **options) -> None:
        now = options["now"] or timezone.now()
        try:
            with single_run(JOB, lease_seconds=LEASE_SECONDS):
                could_not_ask = self._run(now)
        except AnotherRunHolds as held:
            self.stdout.write(str(held))
            return
        if could_not_ask:
            raise CommandError(COULD_NOT_ASK)

    def _run(self, now: datetime) -> bool:
        origin = Origin()
        lines = expire_requests(now=now, origin=origin) + warn_ending(now=now, origin=origin)
        ended = end_bindings(now=now, origin=origin)
        lines += ended.lines
        for line in lines:
            self.stdout.write(line)
        if not lines and not ended.stuck:
            self.stdout.write(NOTHING_TO_DO)
        if ended.stuck and not ended.newly_stuck:
            self.stdout.write(STILL_STUCK.format(count=len(ended.stuck)))
        elif ended.stuck:
            context = {
                "ran_at": now,
                "bindings": ended.stuck,
                "page_path": reverse("admin:keypairs_stuck_bindings"),
            }
            count = len(ended.stuck)
            about = "expire_access: bindings that could not be removed"
            if mail_portal_admins(template=STUCK_SUMMARY, context=context, about=about, origin=origin):
                self.stdout.write(SUMMARY_SENT.format(count=count))
            else:
                self.stderr.write(SUMMARY_NOT_SENT.format(count=count))
        return ended.could_not_ask
