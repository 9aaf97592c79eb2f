"""Checks the audit log's hash chain from the first event to the newest.

Exits 0 and prints "Audit chain verified: N events." when every event is intact and in
place; otherwise names the first broken event and why, and exits 1. Either way the result is
recorded for the admin's "verified when last checked" line (keypairs.audit_review). Before
checking, it writes the counts of aggregated refusals that no later refusal flushed. Cheap
enough for a nightly cron job: it reads the log in keyset batches, so memory stays flat at
any size.
"""

from django.core.management.base import BaseCommand, CommandError

from keypairs import audit_refusals, audit_review
from keypairs.audit import DEFAULT_BATCH_SIZE, audit_verify
from keypairs.audit_checkpoints import verify_checkpoints


class Command(BaseCommand):
    help = "Verify the audit log's HMAC chain; exit 1 naming the first edited, missing or reordered event."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Events read per query (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--checkpoints",
            metavar="FILE",
            help="The stream ship_audit delivered (JSON lines, or the syslog server's file): compare its "
            "signed checkpoints with the database, which finds a rewind the chain alone cannot.",
        )

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        checkpoints = self._read_checkpoints(options["checkpoints"]) if options["checkpoints"] else None
        # Counts of aggregated refusals whose minute nobody followed are written first, so
        # that they are in the log and in the verified chain (keypairs.audit_refusals).
        try:
            audit_refusals.flush_refusal_tails()
        except Exception as error:  # the check must still run; the counts wait for the next refusal
            self.stderr.write(f"Could not write the pending refusal counts ({error.__class__.__name__}).")
        result = audit_verify(batch_size=options["batch_size"])
        # What the admin shows auditors ("verified when last checked"): a nightly run, and a
        # broken chain above all, must reach it. With REDIS_URL the cache is the portal's own.
        try:
            audit_review.remember(result)
        except Exception as error:  # the check itself stands; only the admin's copy is missing
            self.stderr.write(f"Could not record the result for the admin ({error.__class__.__name__}).")
        if not result.ok:
            raise CommandError(f"Audit chain broken: {result.message}")
        self.stdout.write(result.message)
        if checkpoints is not None:
            compared = verify_checkpoints(checkpoints)
            if not compared.ok:
                raise CommandError(f"Audit log does not match its shipped checkpoints: {compared.message}")
            self.stdout.write(compared.message)
        if options["verbosity"] >= 2:
            # Copy this somewhere the database's administrators cannot write: it pins the
            # log's current end, which the chain alone cannot protect.
            self.stdout.write(f"Chain head hash: {result.head_hash}")

    def _read_checkpoints(self, path: str) -> list[str]:
        try:
            with open(path, encoding="utf-8", errors="replace") as stream:
                return stream.readlines()
        except OSError as error:
            raise CommandError(f"Could not read the checkpoint file {path} ({error.strerror}).") from None
