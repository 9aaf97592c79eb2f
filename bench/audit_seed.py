"""Seeding the audit log with up to millions of realistic rows, fast, on a valid chain.

    .venv/bin/python -m bench.audit_seed --database sqlite --rows 1000000 [--fresh] [--verify]

``audit_record`` appends one row per transaction under the chain-head lock: right for the
portal, far too slow for a million rows. This helper computes the same chain itself (each
row's ``row_hash`` from ``keypairs.audit.row_hash`` over the previous hash and its signed
fields, exactly as ``audit_record`` does) and inserts in batches: ``executemany`` on SQLite,
``COPY`` on PostgreSQL. After each batch it moves the chain head in the same transaction, so
an interrupted seed still leaves a chain that ``manage.py verify_audit`` accepts, and a later
call appends where it stopped. Benchmark databases only: the model refuses bulk inserts on
purpose, and this goes around it.

The rows follow what the portal writes: create stories (requested, created, then downloaded
or expired), failures, sign-ins, refused downloads and reports (security events), for 500
users over six regions, each key pair id unique.
"""

from __future__ import annotations

import argparse
import random
import string
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

BATCH_ROWS = 20_000
USERS = 500
REGIONS = ("bj", "gz", "su", "bd", "fwh", "hkg")
_BASE62 = string.ascii_letters + string.digits
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


class RowMaker:
    """Realistic audit rows, in chain order, with their hashes."""

    def __init__(self, *, first_id: int, prev_hash: str, start: datetime, seed: int) -> None:
        from keypairs.audit import SIGNED_FIELDS, row_hash

        self.signed_fields = SIGNED_FIELDS
        self.row_hash = row_hash
        self.next_id = first_id
        self.prev_hash = prev_hash
        self.moment = start
        self.rng = random.Random(seed)

    def rows(self, count: int) -> Iterator[dict]:
        made = 0
        while made < count:
            for row in self._story():
                if made == count:
                    return
                yield self._chained(row)
                made += 1

    def _chained(self, content: dict) -> dict:
        # A few seconds to a minute apart: a million rows span about half a year.
        self.moment += timedelta(seconds=self.rng.randint(1, 30), microseconds=self.rng.randrange(1_000_000))
        row = {"id": self.next_id, "created_at": self.moment, **content}
        row["row_hash"] = self.row_hash(prev_hash=self.prev_hash, values=row)
        row["prev_hash"] = self.prev_hash
        self.prev_hash, self.next_id = row["row_hash"], self.next_id + 1
        return row

    def _story(self) -> list[dict]:
        rng = self.rng
        user = f"dev{rng.randrange(USERS):03d}"
        base = {
            "actor_username": user,
            "actor_subject": "",
            "source_ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "user_agent": USER_AGENT,
            "action": "",
            "outcome": "success",
            "is_security_event": False,
            "region": rng.choice(REGIONS),
            "keypair_name": f"{user}-{rng.choice(['web', 'db', 'ci', 'bastion', 'batch'])}-{rng.randrange(1000)}",
            "keypair_id": "",
            "bcc_request_id": "",
            "bcc_error_code": "",
            "latency_ms": None,
            "portal_request_id": "",
            "detail": "",
        }

        def new_request() -> str:
            return uuid.UUID(int=rng.getrandbits(128)).hex

        def event(*, request_id: str = "", **changes) -> dict:
            # One HTTP request, one portal request id: a create's "requested" and its outcome
            # share one (as services/create.py writes them), a later download has its own.
            return {**base, "portal_request_id": request_id or new_request(), **changes}

        draw = rng.random()
        if draw < 0.10:
            return [event(action="signed_in", region="", keypair_name="")]
        create_request = new_request()
        if draw < 0.15:
            return [
                event(action="requested", request_id=create_request),
                event(
                    action="failed",
                    request_id=create_request,
                    outcome="failure",
                    bcc_error_code=rng.choice(["Keypair.QuotaExceeded", "Keypair.NameInvalid", "unreachable"]),
                    bcc_request_id=str(uuid.UUID(int=rng.getrandbits(128))),
                    latency_ms=rng.randint(30, 3000),
                    detail="BCC refused the create.",
                ),
            ]
        keypair_id = "k-" + "".join(rng.choice(_BASE62) for _ in range(8))
        created = {
            "keypair_id": keypair_id,
            "bcc_request_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "latency_ms": rng.randint(40, 900),
        }
        story = [
            event(action="requested", request_id=create_request),
            event(action="created", request_id=create_request, **created),
        ]
        after = {"keypair_id": keypair_id}
        if draw < 0.80:
            story.append(event(action="downloaded", **after))
        elif draw < 0.93:
            story.append(event(action="expired", actor_username="", source_ip=None, user_agent="", **after))
        elif draw < 0.97:
            story += [
                event(action="downloaded", **after),
                event(action="download_refused", outcome="denied", is_security_event=True, **after),
            ]
        else:
            story.append(event(action="reported", is_security_event=True, detail="I did not download this.", **after))
        return story


def ensure_rows(target: int, *, seed: int = 6, batch_rows: int = BATCH_ROWS, progress: bool = True) -> int:
    """Append rows until the audit log holds ``target`` events; returns how many were added."""
    from django.db import connection, transaction

    from keypairs.audit import GENESIS_HASH
    from keypairs.models import AuditChainHead, AuditEvent

    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
    have = AuditEvent.objects.count()
    if have >= target:
        return 0
    last = AuditEvent.objects.order_by("-id").values("id", "row_hash", "created_at").first()
    if last and (head is None or head.last_event_id != last["id"]):
        raise SystemExit("The audit chain head does not match the newest event; refusing to extend this chain.")
    start = last["created_at"] if last else datetime.now(UTC) - timedelta(days=200)
    maker = RowMaker(
        first_id=(last["id"] + 1) if last else 1,
        prev_hash=last["row_hash"] if last else GENESIS_HASH,
        start=start,
        seed=seed + have,
    )
    fields = list(AuditEvent._meta.concrete_fields)
    insert = _inserter(connection, fields)
    added, started = 0, time.monotonic()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA cache_size = -262144")  # 256 MB for this connection's index inserts
    while have + added < target:
        batch = list(maker.rows(min(batch_rows, target - have - added)))
        with transaction.atomic():
            insert(batch)
            AuditChainHead.objects.update_or_create(
                pk=AuditChainHead.SINGLETON_ID,
                defaults={
                    "last_event_id": batch[-1]["id"],
                    "last_hash": batch[-1]["row_hash"],
                    "updated_at": batch[-1]["created_at"],
                },
            )
        added += len(batch)
        if progress:
            rate = added / max(time.monotonic() - started, 1e-9)
            print(f"    seeded {have + added:>9,} / {target:,} audit rows ({rate:,.0f} rows/s)", flush=True)
    settle(connection)
    return added


def settle(connection) -> None:
    """On PostgreSQL, VACUUM ANALYZE the log, as autovacuum would soon after in production.

    Right after a bulk COPY the table has no statistics and no visibility map: the planner
    guesses, and a COUNT over an id range reads the heap (a sequential scan, 0.5 s at a
    million rows, where an index-only scan takes a fraction of that once vacuumed).
    """
    if connection.vendor != "postgresql":
        return
    from keypairs.models import AuditEvent

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {AuditEvent._meta.db_table}")


def _inserter(connection, fields):
    """A function that writes a batch of row dicts with one statement (SQLite) or one COPY (PostgreSQL)."""
    columns = [field.column for field in fields]
    names = [field.attname for field in fields]
    table = fields[0].model._meta.db_table
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    defaults = {field.attname: field.get_default() for field in fields}

    def values_of(row: dict) -> list:
        return [row.get(name, defaults[name]) for name in names]

    if connection.vendor == "postgresql":

        def copy(batch: list[dict]) -> None:
            with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copying:
                for row in batch:
                    copying.write_row(values_of(row))

        return copy

    created_at = next(field for field in fields if field.attname == "created_at")
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})"  # noqa: S608 - names from the model's metadata

    def execute_many(batch: list[dict]) -> None:
        prepared = []
        for row in batch:
            row = {**row, "created_at": created_at.get_db_prep_value(row["created_at"], connection)}
            prepared.append(values_of(row))
        with connection.cursor() as cursor:
            cursor.executemany(sql, prepared)

    return execute_many


def prepare_database(kind: str, *, fresh: bool, settings: dict[str, str] | None = None) -> str:
    """Configure Django on the benchmark database ``kind`` (sqlite or postgres), migrated; returns its URL.

    ``settings`` are more environment settings for the portal (e.g. a BCC sandbox's keys).
    """
    from bench import django_env

    if kind == "postgres":
        # Without --fresh the rows of an earlier run are reused, but a server that never held
        # the database (a new machine) must get it: connecting would fail otherwise.
        fresh = fresh or not django_env.postgres_database_exists(django_env.POSTGRES_DATABASE)
        url = django_env.recreate_postgres_database() if fresh else django_env.postgres_url()
    else:
        if fresh and django_env.SQLITE_PATH.exists():
            for suffix in ("", "-wal", "-shm"):
                django_env.SQLITE_PATH.with_name(django_env.SQLITE_PATH.name + suffix).unlink(missing_ok=True)
        django_env.SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        url = django_env.sqlite_url()
    django_env.configure_in_process(url, **(settings or {}))
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Seed the benchmark database's audit log.")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="start from an empty database")
    parser.add_argument("--verify", action="store_true", help="check the whole chain afterwards (slow)")
    args = parser.parse_args(argv)

    prepare_database(args.database, fresh=args.fresh)
    started = time.monotonic()
    added = ensure_rows(args.rows)
    seconds = time.monotonic() - started
    print(f"    added {added:,} rows in {seconds:.1f} s ({added / max(seconds, 1e-9):,.0f} rows/s)")
    if args.verify:
        from keypairs.audit import audit_verify

        started = time.monotonic()
        result = audit_verify()
        print(f"    verify_audit: {result.message} ({time.monotonic() - started:.1f} s)")
        if not result.ok:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
