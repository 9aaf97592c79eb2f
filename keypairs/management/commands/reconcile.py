"""Settles creates whose outcome is unknown. Run it from cron every few minutes.

It reconciles every ``unknown`` request, and every ``pending`` one older than
``KEYPAIR_RECONCILE_AFTER_SECONDS`` (its worker died mid-create): a key pair the create made in
BCC is deleted (its private key is lost), a create that made nothing is recorded as failed. An
import's key pair is kept instead (no private key was ever in play) and the request marked created.
See ``keypairs/reconcile.py`` for how the key pair is recognised and why it is safe to run
alongside users and alongside another run of itself.

It prints one line per request and a summary, and exits non-zero when some could not be
reconciled (BCC unreachable, a delete refused): those stay open for the next run, and the
log says why.
"""

from django.core.management.base import BaseCommand, CommandError

from keypairs.reconcile import Reconciliation, Verdict, reconcile_open

_SAYS = {
    Verdict.DELETED: "created key pair {keypair_id}, whose private key was lost: deleted it",
    Verdict.KEPT: "imported key pair {keypair_id} found in BCC: kept (no private key was lost)",
    Verdict.NOT_CREATED: "created nothing in BCC: marked failed",
    Verdict.NOT_CREATED_YET: "nothing in BCC so far: checked again by a later run",
    Verdict.WAITING: "another create of this name is in flight: checked again by a later run",
    Verdict.FAILED: "could not be reconciled ({reason}): tried again by the next run",
    Verdict.SETTLED: "already settled by someone else",
}


class Command(BaseCommand):
    help = "Reconcile creates whose outcome is unknown: delete the key pairs they left in BCC, record the rest."

    def handle(self, *args, **options):
        results = reconcile_open()
        for result in results:
            self.stdout.write(_line(result))
        self.stdout.write(_summary(results))
        failed = sum(result.verdict == Verdict.FAILED for result in results)
        if failed:
            raise CommandError(f"{failed} of {len(results)} open creates could not be reconciled; see the log.")


def _line(result: Reconciliation) -> str:
    request = result.keypair_request
    says = _SAYS[result.verdict].format(keypair_id=result.keypair_id, reason=result.reason)
    return f"{request.public_id} ({request.region}, {request.name}, {request.owner.get_username()}): {says}"


def _summary(results: list[Reconciliation]) -> str:
    if not results:
        return "No open creates to reconcile."
    count = {verdict: sum(result.verdict == verdict for result in results) for verdict in Verdict}
    deleted = count[Verdict.DELETED]
    later = count[Verdict.NOT_CREATED_YET] + count[Verdict.WAITING]
    return (
        f"{len(results)} open create{'' if len(results) == 1 else 's'}: "
        f"{deleted} key pair{'' if deleted == 1 else 's'} deleted, {count[Verdict.KEPT]} imported kept, "
        f"{count[Verdict.NOT_CREATED]} not created, "
        f"{later} left for a later run, {count[Verdict.FAILED]} could not be reconciled, "
        f"{count[Verdict.SETTLED]} settled meanwhile."
    )
