"""The PostgreSQL and Redis servers tests may use beside the run's own database and cache.

Some tests need a server whatever the run is configured with: the two-instance test makes a
PostgreSQL database of its own even when the suite runs on SQLite, and the Redis health test
points a cache at Redis even when the run uses the memory cache. They find the servers here:

- PostgreSQL: the server of ``DATABASE_URL`` when it is PostgreSQL, else ``TEST_POSTGRES_URL``,
  else ``postgres://postgres@127.0.0.1:5432/postgres`` (the database named there is only
  connected to, to create and drop others).
- Redis: ``REDIS_URL``, else ``TEST_REDIS_URL``, else ``redis://127.0.0.1:6379/14``.

A test that finds no server skips, saying so; ``REQUIRE_GROUPS`` (tests/conftest.py) turns
that skip into a failure where the server must be there (CI).
"""

from __future__ import annotations

import os
from urllib.parse import quote

import environ

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
CONNECT_TIMEOUT_SECONDS = 3


def postgres_server() -> dict[str, str]:
    """Django-style settings (NAME, USER, PASSWORD, HOST, PORT) for a PostgreSQL server's
    maintenance database."""
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        config = environ.Env.db_url_config(database_url)
        config["NAME"] = "postgres"
    else:
        config = environ.Env.db_url_config(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    return {key: str(config.get(key) or "") for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}


def postgres_url(server: dict[str, str], name: str) -> str:
    """A ``DATABASE_URL`` for database ``name`` on ``server``."""
    credentials = quote(server["USER"], safe="")
    if server["PASSWORD"]:
        credentials += ":" + quote(server["PASSWORD"], safe="")
    host = server["HOST"] or "127.0.0.1"
    port = server["PORT"] or "5432"
    return f"postgres://{credentials}@{host}:{port}/{quote(name, safe='')}"


def postgres_connect(server: dict[str, str], *, dbname: str | None = None):
    """An autocommit psycopg connection (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg

    return psycopg.connect(
        dbname=dbname or server["NAME"],
        user=server["USER"] or None,
        password=server["PASSWORD"] or None,
        host=server["HOST"] or "127.0.0.1",
        port=server["PORT"] or "5432",
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        autocommit=True,
    )


def postgres_unavailable(server: dict[str, str]) -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        with postgres_connect(server):
            return None
    except Exception as error:
        where = f"{server['HOST'] or '127.0.0.1'}:{server['PORT'] or '5432'}"
        return f"PostgreSQL at {where} is unreachable ({type(error).__name__}); set TEST_POSTGRES_URL"


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL


def redis_unavailable(url: str) -> str | None:
    """Why Redis cannot be used, or None when it can."""
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=CONNECT_TIMEOUT_SECONDS
    )
    try:
        client.ping()
        return None
    except Exception as error:
        return f"Redis is unreachable ({type(error).__name__}); set TEST_REDIS_URL"
    finally:
        client.close()
