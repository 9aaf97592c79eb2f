"""Erases the private keys nobody downloaded in time. Run it from cron every few minutes.

A key past its expiry is already refused at download time; this makes sure its ciphertext
does not stay in the database (and its backups) until someone happens to try.
"""

from django.core.management.base import BaseCommand

from keypairs.delivery import delivery_purge_expired


class Command(BaseCommand):
    help = "Erase the ciphertext of every expired, undownloaded private key and print how many."

    def handle(self, *args, **options):
        purged = delivery_purge_expired()
        self.stdout.write(f"Purged {purged} expired {'delivery' if purged == 1 else 'deliveries'}.")
