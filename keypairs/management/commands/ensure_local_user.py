"""Creates the local accounts that `make run` signs in with, once: a developer, an auditor, a portal admin.

Development only: with DEBUG off it refuses, so a production database never gets an
account with a password that was printed on a terminal.

- ``developer`` holds the developer role: creates key pairs and downloads them.
- ``auditor`` holds the auditor role: reviews the audit log in the admin, and nothing else.
- ``portal-admin`` holds the portal admin role: the BCC inventory, flagged key pairs, and the
  admin's records (it has an address at ``example.com``, so policy summaries show under
  ``make run``'s console mail).

Roles are granted on every run, so an account made before roles existed gets its role too.
The passwords are kept, one ``name password`` pair a line, in ``var/local-sign-in.txt``
(or ``LOCAL_SIGN_IN_FILE``), readable by the owner only.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.auth.roles import Role, assign_roles

USERNAME = "developer"
AUDITOR_USERNAME = "auditor"
ADMIN_USERNAME = "portal-admin"
ACCOUNTS = ((USERNAME, Role.DEVELOPER), (AUDITOR_USERNAME, Role.AUDITOR), (ADMIN_USERNAME, Role.PORTAL_ADMIN))
EMAILS = {ADMIN_USERNAME: "portal-admin@example.com", USERNAME: "developer@example.com"}


class Command(BaseCommand):
    help = (
        "Create the local developer, auditor and portal admin accounts for make run (DEBUG only); say how to sign in."
    )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_local_user is for local development only (DEBUG is off).")
        # LOCAL_SIGN_IN_FILE lets a second portal (another database, a test) keep its own.
        default_file = Path(settings.BASE_DIR) / "var" / "local-sign-in.txt"
        credentials_file = Path(os.environ.get("LOCAL_SIGN_IN_FILE") or default_file)
        passwords = _read_passwords(credentials_file)
        user_model = get_user_model()
        for username, role in ACCOUNTS:
            user, created = user_model.objects.get_or_create(
                username=username, defaults={"email": EMAILS.get(username, "")}
            )
            if created or username not in passwords:
                passwords[username] = secrets.token_urlsafe(12)
                user.set_password(passwords[username])
                user.save()
            assign_roles(user, {role})
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.touch(mode=0o600)
        credentials_file.write_text("".join(f"{name}\n{password}\n" for name, password in passwords.items()))

        developer, auditor = passwords[USERNAME], passwords[AUDITOR_USERNAME]
        self.stdout.write(f"\n  Sign in as '{USERNAME}' with password '{developer}' (local development account;")
        self.stdout.write(f"  kept in {credentials_file}).")
        self.stdout.write(f"  Review the audit log in the admin as auditor '{AUDITOR_USERNAME}', password '{auditor}'.")
        admin = passwords[ADMIN_USERNAME]
        self.stdout.write(f"  BCC inventory, flagged key pairs: portal admin '{ADMIN_USERNAME}', password '{admin}'.")


def _read_passwords(credentials_file: Path) -> dict[str, str]:
    """The file's ``name``/``password`` pairs (the first line pair is the developer's, as before)."""
    if not credentials_file.exists():
        return {}
    words = credentials_file.read_text().split()
    return dict(zip(words[0::2], words[1::2], strict=False))
