"""Ships the audit events written since the last run to ``AUDIT_SHIP_TO`` (keypairs.audit_shipping).

A bounded batch for cron, not a long-running follower: cron already restarts a run that died,
a run that ends holds no lock and no connection between batches, and the cursor makes each run
resume exactly where the last one stopped. Run it every minute; ``--max-events`` bounds one
run, and a backlog drains over the next runs (the output says when more are waiting).

Exit codes: 0 when the batch was delivered, when there was nothing to ship, when shipping is
off, and when another run holds the cursor (that run ships); 1 when ``AUDIT_SHIP_TO`` is not
understood or the receiver did not take the batch (the cursor then stays where it was).
"""

from django.core.management.base import BaseCommand, CommandError

from keypairs.audit_checkpoints import DEFAULT_CHECKPOINT_EVERY
from keypairs.audit_shipping import (
    DEFAULT_MAX_EVENTS,
    SHIPPING_OFF_MESSAGE,
    AnotherShipperRunning,
    ShippingError,
    configured_destination,
    ship_audit_events,
)


class Command(BaseCommand):
    help = "Ship the audit events written since the last run to AUDIT_SHIP_TO, oldest first, at least once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-events",
            type=int,
            default=DEFAULT_MAX_EVENTS,
            help=f"Most events shipped in this run (default {DEFAULT_MAX_EVENTS}).",
        )

        parser.add_argument(
            "--checkpoint-every",
            type=int,
            default=DEFAULT_CHECKPOINT_EVERY,
            help=f"A signed checkpoint after this many events and at a run's end (default {DEFAULT_CHECKPOINT_EVERY}).",
        )

    def handle(self, *args, **options):
        if options["max_events"] < 1:
            raise CommandError("--max-events must be at least 1.")
        if options["checkpoint_every"] < 1:
            raise CommandError("--checkpoint-every must be at least 1.")
        try:
            destination = configured_destination()
        except ValueError as error:
            raise CommandError(str(error)) from None
        if destination is None:
            self.stdout.write(SHIPPING_OFF_MESSAGE)
            return
        try:
            result = ship_audit_events(
                destination=destination, max_events=options["max_events"], checkpoint_every=options["checkpoint_every"]
            )
        except AnotherShipperRunning as error:
            self.stdout.write(str(error))
            return
        except ShippingError as error:
            raise CommandError(str(error)) from None
        # stdout may be the destination itself: the summary goes to stderr then, off the stream.
        summary = self.stderr if destination.kind == "stdout" else self.stdout
        summary.write(result.message)
        if result.count == options["max_events"]:
            summary.write("More events may be waiting; the next run continues from here.")
