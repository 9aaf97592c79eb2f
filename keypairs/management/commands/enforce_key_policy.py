"""``manage.py enforce_key_policy``: the operators' policies on key pairs. Run it from cron, hourly.

Two jobs, each idempotent: the key pairs of people who left once their departure is due
(``keypairs.offboarding.enforce_departures``), and key pairs older than their maximum age
(``keypairs.key_age.enforce_key_age``: reminders, then the policy). One line is printed per
step, and when anything happened ONE summary is mailed to the portal admins; a summary that
cannot be delivered is audited (``mail_failed``), said on stderr, and the command still exits 0:
the work is done and recorded.

Every instance's cron may run it: a ``keypairs.single_runner`` lease lets one run work, and a
run that finds the lease held says so and exits 0. A second run right after the first finds
nothing to do and mails nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from keypairs.admin_mail import mail_portal_admins
from keypairs.audit import Origin
from keypairs.key_age import enforce_key_age
from keypairs.offboarding import enforce_departures, offboarding_policy
from keypairs.services.policy import PolicyOutcome, PolicyStep
from keypairs.single_runner import AnotherRunHolds, single_run

JOB = "enforce_key_policy"
# Longer than a run with many BCC deletes takes, shorter than the hourly cron interval: a run
# that died blocks at most the next one.
LEASE_SECONDS = 30 * 60
# Steps that changed something; "already flagged" and "not in BCC" are only reported on stdout.
ACTED = frozenset(
    {
        PolicyOutcome.FLAGGED,
        PolicyOutcome.FLAGGED_UNBIND_FAILED,
        PolicyOutcome.FLAGGED_DELETE_FAILED,
        PolicyOutcome.DELETED,
        PolicyOutcome.UNBOUND_DELETED,
    }
)
NOTHING_TO_DO = "Nothing to do: no departure due, no key pair past its age, no reminder to send."
SUMMARY_SENT = "Summary mailed to the portal admins."
SUMMARY_NOT_SENT = (
    "The summary could not be mailed to the portal admins (recorded in the audit log as mail_failed); "
    "the work above is done."
)
MAIL_ABOUT = "enforce_key_policy summary"


class Command(BaseCommand):
    help = "Apply the offboarding and key age policies (for cron, hourly); mail the portal admins a summary."

    def handle(self, *args, **options) -> None:
        try:
            with single_run(JOB, lease_seconds=LEASE_SECONDS):
                self._run()
        except AnotherRunHolds as held:
            self.stdout.write(str(held))

    def _run(self) -> None:
        now, origin = timezone.now(), Origin()
        departures = enforce_departures(now=now, origin=origin)
        key_age = enforce_key_age(now=now, origin=origin)
        for step in [*departures, *key_age.steps]:
            self.stdout.write(step.line)
        for line in key_age.reminded:
            self.stdout.write(line)
        acted = _acted(departures), _acted(key_age.steps)
        count = len(acted[0]) + len(acted[1]) + len(key_age.reminded)
        if not count:
            self.stdout.write(NOTHING_TO_DO)
            return
        context = {
            "count": count,
            "ran_at": now,
            "offboarding_policy": offboarding_policy(),
            # Lazy lines: the summary is written in each portal admin's language.
            "departures": [step.mail_line for step in acted[0]],
            "expired": [step.mail_line for step in acted[1]],
            "reminded": list(key_age.reminded_for_mail),
        }
        if mail_portal_admins(template="policy_summary", context=context, about=MAIL_ABOUT, origin=origin):
            self.stdout.write(SUMMARY_SENT)
        else:
            self.stderr.write(SUMMARY_NOT_SENT)


def _acted(steps: list[PolicyStep]) -> list[PolicyStep]:
    return [step for step in steps if step.outcome in ACTED]
