"""The database cache's table, created after every ``migrate``.

Without ``REDIS_URL`` the portal's cache is Django's database cache (portal/settings.py), whose
table no migration makes: Django leaves it to ``manage.py createcachetable``. Running that
command after every migrate, rather than in a migration of our own, means that every database
``migrate`` prepares has it (``make run``'s, a production deploy's, and the test databases
pytest-django migrates), and that it follows the settings of the day: a portal moved from Redis
to the database cache gets its table at the next migrate, which a migration already applied
would never give it. The command does nothing when the table exists or the cache is Redis.
"""

from __future__ import annotations

from django.core.management import call_command


def create_cache_table(*, using: str, **_signal_arguments) -> None:
    """post_migrate receiver: create the database cache's table on the database just migrated."""
    call_command("createcachetable", database=using, verbosity=0)
