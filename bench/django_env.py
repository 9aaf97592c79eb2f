"""The portal's settings for a benchmark: production-like, on a database of the benchmark's own.

``DEBUG`` stays off (as in production: no SQL query log, no debug templates), so every
secret is given explicitly. The values here are throwaway benchmark values; nothing real is
ever used. Only what cannot work on loopback HTTP is relaxed: the HTTPS redirect and HSTS.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.common import REPO, RESULTS_DIR

SQLITE_PATH = RESULTS_DIR / "audit.sqlite3"
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_SERVER", "postgres://postgres@127.0.0.1:5432")
# Another name keeps two people's seeded logs apart on one shared server.
POSTGRES_DATABASE = os.environ.get("BENCH_POSTGRES_DATABASE", "portal_bench")


def sqlite_url(path: Path = SQLITE_PATH) -> str:
    return f"sqlite:///{path}"


def postgres_url(database: str = POSTGRES_DATABASE) -> str:
    return f"{POSTGRES_SERVER}/{database}"


def environment(database_url: str, **extra: str) -> dict[str, str]:
    """The process environment for the portal (gunicorn, manage.py or an in-process Django)."""
    env = dict(os.environ)
    for name in ("BCC_ACCESS_KEY_ID", "BCC_SECRET_ACCESS_KEY", "BCC_ENDPOINT", "REDIS_URL"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-not-used-anywhere-else-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "AUDIT_HMAC_KEY": "bench-only-audit-hmac-key-0123456789abcdef",
            "DOWNLOAD_TOKEN_KEY": "bench-only-download-token-key-0123456789abcdef",
            "BCC_ACCESS_KEY_ID": "bench-placeholder",
            "BCC_SECRET_ACCESS_KEY": "bench-placeholder",
            "BCC_REGIONS": "bj,gz,su,bd,fwh,hkg",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            # The benchmark signs in as local accounts it creates itself.
            "ALLOW_LOCAL_AUTH_IN_PRODUCTION": "true",
            # Per-user caps and rate limits would stop a load test after a few creates; the
            # sandbox's quota is lifted too (its own default is BCC's 500 per region).
            "KEYPAIR_MAX_PER_USER_PER_REGION": "0",
            "KEYPAIR_CREATE_RATE_LIMIT": "0",
            "BCC_QUOTA_PER_REGION": "1000000",
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
        }
    )
    env.update(extra)
    return env


def configure_in_process(database_url: str, **extra: str) -> None:
    """Set up Django in this process on ``database_url`` (call once, before importing models)."""
    os.environ.update(environment(database_url, **extra))
    import django

    django.setup()


def manage(database_url: str, *args: str, **extra: str) -> None:
    """Run ``manage.py`` with the benchmark's settings; raise if it fails."""
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=environment(database_url, **extra), check=True)


def recreate_postgres_database(database: str = POSTGRES_DATABASE) -> str:
    """Drop and create ``database`` on the benchmark's PostgreSQL server; returns its URL."""
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{database}"')
    return postgres_url(database)


def postgres_database_exists(database: str) -> bool:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone() is not None


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", connect_timeout=3):
            return True
    except Exception:
        return False
