"""Creates the local developer account that `make run` signs in with, once.

Development only: with DEBUG off it refuses, so a production database never gets an
account with a password that was printed on a terminal.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "developer"


class Command(BaseCommand):
    help = "Create the local 'developer' account for make run (DEBUG only) and print how to sign in."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_local_user is for local development only (DEBUG is off).")
        # LOCAL_SIGN_IN_FILE lets a second portal (another database, a test) keep its own.
        default_file = Path(settings.BASE_DIR) / "var" / "local-sign-in.txt"
        credentials_file = Path(os.environ.get("LOCAL_SIGN_IN_FILE") or default_file)
        user_model = get_user_model()
        if not user_model.objects.filter(username=USERNAME).exists() or not credentials_file.exists():
            password = secrets.token_urlsafe(12)
            user, _ = user_model.objects.get_or_create(username=USERNAME)
            user.set_password(password)
            user.save()
            credentials_file.parent.mkdir(exist_ok=True)
            credentials_file.touch(mode=0o600)
            credentials_file.write_text(f"{USERNAME}\n{password}\n")
        username, password = credentials_file.read_text().split()[:2]
        self.stdout.write(f"\n  Sign in as '{username}' with password '{password}' (local development account;")
        self.stdout.write(f"  kept in {credentials_file}).")
