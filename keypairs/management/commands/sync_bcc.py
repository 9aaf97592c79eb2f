"""Brings the BCC inventory in line with every configured region (keypairs.services.inventory_sync). For cron.

Run it on every instance (every 15 minutes, say): one run does the work under the "sync_bcc"
lease (keypairs.single_runner) and the others print that another run holds it and exit 0.

Exit codes: 0 when at least one region was read (a region BCC could not be read is named on
stderr and its entries are left as they were; the next run tries again), and when another run
holds the lease; 1 when no region could be read at all, so that cron's mail or the operators'
monitoring hears of an outage or a wrong configuration instead of a silent run.
"""

from django.core.management.base import BaseCommand, CommandError

from keypairs.audit import Origin
from keypairs.services.inventory_sync import inventory_sync
from keypairs.single_runner import AnotherRunHolds, single_run

# Longer than a run can take: six walks in parallel, each one attempt of one page.
LEASE_SECONDS = 600
UNREACHABLE_MESSAGE = "BCC could not be read in {region}: its inventory entries are left as they were."
NOTHING_READ_MESSAGE = "BCC could not be read in any region ({regions}); the inventory is unchanged."


class Command(BaseCommand):
    help = "Walk every configured region's key pairs in BCC and update the BCC inventory (one run at a time)."

    def handle(self, *args, **options):
        try:
            with single_run("sync_bcc", lease_seconds=LEASE_SECONDS):
                result = inventory_sync(origin=Origin())
        except AnotherRunHolds as error:
            self.stdout.write(str(error))
            return
        for region in result.unreachable:
            self.stderr.write(UNREACHABLE_MESSAGE.format(region=region))
        if not result.reached:
            raise CommandError(NOTHING_READ_MESSAGE.format(regions=", ".join(result.regions)))
        self.stdout.write(result.summary)
