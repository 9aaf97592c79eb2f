""" "My key pairs" with 200 key pairs over 3 regions: BCC calls per page view, and the page's cost.

    .venv/bin/python -m bench.keypair_list [--database sqlite|postgres] [--keypairs 200] [--rounds 30]

What runs, all on loopback:

- the BCC sandbox in its own process (so that its work is not counted as the portal's), which
  keeps its whole request log and tells this process which requests it served: the BCC calls
  of each page view are counted on BCC's side, by operation and region;
- the portal in this process, through Django's full middleware stack (test ``Client``, DEBUG
  off, no gunicorn), on a fresh database (SQLite ``var/bench/keypair_list.sqlite3``, or
  PostgreSQL ``portal_bench_keypair_list``) with the database cache (``REDIS_URL`` unset, the
  default; ``--cache redis`` for Redis, database ``BENCH_REDIS_URL``, emptied first), as
  ``bench.growth`` measures a page. In-process, and not through gunicorn as
  ``bench.portal`` does, because the figures wanted are per page view, not under load: one
  request at a time, its exact BCC calls and SQL queries, and the CPU the portal spent on it
  (this process's CPU, list walks' threads included);
- one developer with ``--keypairs`` key pairs spread evenly over ``--regions``, imported into
  the sandbox through the portal's BCC client (EC P-256 public keys: quick to make), with the
  portal's records: half imported, half created and downloaded (a delivery claimed and wiped).

Then ``--rounds`` rounds, each one view of each kind, in turn (so that noise from a neighbour
lands on every kind alike):

- the list page, cold: BCC's state of every region older than ``KEYPAIR_BCC_STATE_CACHE_SECONDS``
  (``keypairs.bcc_state.clock``, the module's hook for tests, is moved on past it), so the view
  walks BCC's list of each region;
- the list page, warm: right after, within the cache's window: no BCC call at all;
- the detail page of one key pair: one detail call, never cached.

Reported per kind: BCC calls per view (list and detail calls per region; exact, the same in
every view, or the differences are printed), p50/p90 of the wall time and of this process's CPU
per view, the time spent waiting for BCC (the union of the BCC calls' intervals, since the
regions are walked in parallel) and the overhead, wall time minus that wait; and the SQL
queries of one more view of each kind (``CaptureQueriesContext``, untimed).
"""

from __future__ import annotations

import argparse
import functools
import os
import secrets
import threading
import time
from collections import Counter
from datetime import timedelta

from bench import django_env
from bench.common import RESULTS_DIR, heading, line, percentile, write_results
from bench.sandbox_process import SandboxProcess

SQLITE_PATH = RESULTS_DIR / "keypair_list.sqlite3"
POSTGRES_DATABASE = "portal_bench_keypair_list"
LIST_URL = "/keypairs/"
KINDS = ("list_cold", "list_warm", "detail")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


# --- Where the time goes: BCC calls, timed from the portal's side ------------------------------


class BccWait:
    """The intervals this process spent in BCC calls (``Transport.call``, the client's one way out)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._intervals: list[tuple[float, float]] = []

    def install(self) -> None:
        from keypairs.bcc import transport

        original_call = transport.Transport.call

        @functools.wraps(original_call)
        def timed_call(transport_self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original_call(transport_self, *args, **kwargs)
            finally:
                with self._lock:
                    self._intervals.append((started, time.perf_counter()))

        transport.Transport.call = timed_call

    def take_ms(self) -> float:
        """Milliseconds of wall time covered by the calls since the last take (parallel calls count once)."""
        with self._lock:
            intervals, self._intervals = sorted(self._intervals), []
        covered, end = 0.0, float("-inf")
        for started, ended in intervals:
            if ended > end:
                covered += ended - max(started, end)
                end = ended
        return covered * 1000


# --- Setting up -----------------------------------------------------------------------------


def prepare_database(kind: str) -> str:
    if kind == "postgres":
        return django_env.recreate_postgres_database(POSTGRES_DATABASE)
    for suffix in ("", "-wal", "-shm"):
        SQLITE_PATH.with_name(SQLITE_PATH.name + suffix).unlink(missing_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    return django_env.sqlite_url(SQLITE_PATH)


def ec_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def held_in_bcc(owner, *, region: str, name: str, kind: str | None = None):
    """A key pair imported into BCC through the portal's client, and the portal's record of it
    (unsaved, ``kind`` an import by default), as the portal would have written it."""
    from django.utils import timezone

    from keypairs.bcc.factory import get_client
    from keypairs.models import KeyPairRequest
    from keypairs.public_keys import public_key_inspect

    public_key = ec_public_key()
    held = get_client(region).import_keypair(name=name, public_key=public_key, description="benchmark")
    return KeyPairRequest(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        kind=kind or KeyPairRequest.Kind.IMPORT,
        region=region,
        name=name,
        description="benchmark",
        status=KeyPairRequest.Status.CREATED,
        keypair_id=held.keypair_id,
        public_key=public_key,
        fingerprint_bcc=held.fingerprint,
        fingerprint_sha256=public_key_inspect(public_key).sha256_fingerprint,
        completed_at=timezone.now(),
    )


def seed(owner, *, count: int, regions: list[str]):
    """``count`` key pairs in BCC over ``regions``, and the portal's records of them; returns one of them."""
    from django.utils import timezone

    from keypairs.models import Delivery, KeyPairRequest

    now = timezone.now()
    records = [
        held_in_bcc(
            owner,
            region=regions[number % len(regions)],
            name=f"bench-{regions[number % len(regions)]}-{number:03d}",
            kind=KeyPairRequest.Kind.CREATE if number % 2 == 1 else KeyPairRequest.Kind.IMPORT,
        )
        for number in range(count)
    ]
    KeyPairRequest.objects.bulk_create(records)
    saved = list(KeyPairRequest.objects.filter(owner=owner).order_by("id"))
    Delivery.objects.bulk_create(
        Delivery(
            request=record,
            owner=owner,
            token_hash=secrets.token_hex(32),
            salt=b"",
            nonce=b"",
            ciphertext=None,  # downloaded: the ciphertext is wiped
            expires_at=now + timedelta(hours=1),
            claimed_at=now,
            wiped_at=now,
        )
        for record in saved
        if record.kind == KeyPairRequest.Kind.CREATE
    )
    return saved[len(saved) // 2]


# --- Measuring ------------------------------------------------------------------------------


class Clock:
    """``keypairs.bcc_state.clock`` moved on past the cache's window whenever a cold view is wanted."""

    def __init__(self, window_seconds: int) -> None:
        from datetime import UTC, datetime

        self._now = lambda: datetime.now(UTC)
        self._step = timedelta(seconds=window_seconds + 1)
        self._offset = timedelta(0)

    def __call__(self):
        return self._now() + self._offset

    def expire_cached_state(self) -> None:
        self._offset += self._step


def bcc_calls(served) -> dict[str, int]:
    """Calls of one view, as ``operation region`` -> count (the region is the path's first part)."""
    return dict(sorted(Counter(f"{operation} {path.split('/')[1]}" for _, path, operation, _ in served).items()))


def view(client, url: str, sandbox: SandboxProcess, mark: int, wait: BccWait) -> tuple[dict, int]:
    wait.take_ms()  # nothing before this view counts
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    response = client.get(url)
    cpu_ms = (time.process_time() - cpu_started) * 1000
    wall_ms = (time.perf_counter() - wall_started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}.")
    bcc_ms = wait.take_ms()
    served, mark = sandbox.requests_since(mark)
    sample = {"wall_ms": wall_ms, "cpu_ms": cpu_ms, "bcc_ms": bcc_ms, "calls": bcc_calls(served)}
    return sample, mark


def count_queries(client, url: str) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return [query["sql"] for query in captured.captured_queries]


def figures(samples: list[dict]) -> dict:
    def p(key: str) -> dict[str, float]:
        values = [sample[key] for sample in samples]
        return {"p50": percentile(values, 0.5), "p90": percentile(values, 0.9), "max": max(values)}

    overhead = [sample["wall_ms"] - sample["bcc_ms"] for sample in samples]
    seen = Counter(tuple(sample["calls"].items()) for sample in samples)
    return {
        "views": len(samples),
        "wall_ms": p("wall_ms"),
        "cpu_ms": p("cpu_ms"),
        "bcc_wait_ms": p("bcc_ms"),
        "overhead_ms": {"p50": percentile(overhead, 0.5), "p90": percentile(overhead, 0.9), "max": max(overhead)},
        # Every distinct set of calls seen, with how many views made it: one entry when exact.
        "bcc_calls_per_view": [{"calls": dict(calls), "views": views} for calls, views in seen.most_common()],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--keypairs", type=int, default=200)
    parser.add_argument("--regions", default="bj,gz,su")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of one view of each kind")
    parser.add_argument(
        "--cache", choices=("database", "redis"), default="database", help=f"redis: {REDIS_URL} (emptied first)"
    )
    args = parser.parse_args(argv)
    regions = args.regions.split(",")

    if args.database == "postgres" and not django_env.postgres_available():
        raise SystemExit("PostgreSQL is not reachable.")
    database_url = prepare_database(args.database)
    with SandboxProcess(request_log=True) as sandbox:
        django_env.configure_in_process(
            database_url,
            BCC_ENDPOINT=sandbox.endpoint_template,
            BCC_ACCESS_KEY_ID=sandbox.access_key_id,
            BCC_SECRET_ACCESS_KEY=sandbox.secret_access_key,
            **({"REDIS_URL": REDIS_URL} if args.cache == "redis" else {}),
        )
        from django.conf import settings
        from django.core.management import call_command
        from django.test import Client

        from bench.growth import developer
        from keypairs import bcc_state

        call_command("migrate", verbosity=0, interactive=False)
        if args.cache == "redis":
            from django.core.cache import cache

            cache.clear()
        call_command("collectstatic", verbosity=0, interactive=False)  # DEBUG off: the manifest
        owner = developer()
        detail_record = seed(owner, count=args.keypairs, regions=regions)
        detail_url = f"/keypairs/{detail_record.public_id}/"
        clock = Clock(settings.KEYPAIR_BCC_STATE_CACHE_SECONDS)
        bcc_state.clock = clock
        wait = BccWait()
        wait.install()
        client = Client()
        client.force_login(owner)
        urls = {"list_cold": LIST_URL, "list_warm": LIST_URL, "detail": detail_url}

        _, mark = sandbox.requests_since(0)
        for kind in KINDS:  # warm-up, and a check that every page works
            if kind == "list_cold":
                clock.expire_cached_state()
            _, mark = view(client, urls[kind], sandbox, mark, wait)
        samples: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        for _ in range(args.rounds):
            for kind in KINDS:
                if kind == "list_cold":
                    clock.expire_cached_state()
                sample, mark = view(client, urls[kind], sandbox, mark, wait)
                samples[kind].append(sample)
        queries = {}
        for kind in KINDS:
            if kind == "list_cold":
                clock.expire_cached_state()
            queries[kind] = count_queries(client, urls[kind])
        page_rows = client.get(LIST_URL).content.decode().count('class="in-bcc"')

    results: dict = {
        "database": args.database,
        "cache": "redis" if args.cache == "redis" else "database (REDIS_URL unset)",
        "keypairs": args.keypairs,
        "regions": regions,
        "rounds": args.rounds,
        "cache_seconds": settings.KEYPAIR_BCC_STATE_CACHE_SECONDS,
        "kinds": {kind: figures(samples[kind]) for kind in KINDS},
        "queries_per_view": {kind: len(sql) for kind, sql in queries.items()},
        "queries": {kind: [sql[:300] for sql in found] for kind, found in queries.items()},
        "list_rows_on_first_page": page_rows,
    }
    cold, detail = results["kinds"]["list_cold"], results["kinds"]["detail"]
    results["list_cold_over_detail_overhead_p50"] = cold["overhead_ms"]["p50"] / detail["overhead_ms"]["p50"]
    warm = results["kinds"]["list_warm"]
    results["list_warm_over_detail_overhead_p50"] = warm["overhead_ms"]["p50"] / detail["overhead_ms"]["p50"]
    results["list_cold_over_detail_cpu_p50"] = cold["cpu_ms"]["p50"] / detail["cpu_ms"]["p50"]
    results["list_warm_over_detail_cpu_p50"] = warm["cpu_ms"]["p50"] / detail["cpu_ms"]["p50"]

    heading(
        f"My key pairs: {args.keypairs} key pairs over {len(regions)} regions ({', '.join(regions)}),"
        f" {args.database}, {args.cache} cache, in-process"
    )
    labels = {"list_cold": "list, cold cache", "list_warm": "list, warm cache", "detail": "detail of one key pair"}
    for kind in KINDS:
        found = results["kinds"][kind]
        print(f"    -- {labels[kind]} ({found['views']} views)")
        for seen in found["bcc_calls_per_view"]:
            calls = ", ".join(f"{count} {call}" for call, count in seen["calls"].items()) or "none"
            line(f"BCC calls per view ({seen['views']} views)", calls)
        line("SQL queries per view", str(results["queries_per_view"][kind]))
        for key, label in (
            ("wall_ms", "wall p50 / p90"),
            ("cpu_ms", "CPU of this process p50 / p90"),
            ("bcc_wait_ms", "waiting for BCC p50 / p90"),
            ("overhead_ms", "overhead (wall - BCC) p50 / p90"),
        ):
            line(label, f"{found[key]['p50']:.1f} / {found[key]['p90']:.1f} ms")
    line("rows on the list's first page", str(page_rows))
    for which in ("cold", "warm"):
        line(
            f"{which} list / detail, p50 overhead (CPU)",
            f"x{results[f'list_{which}_over_detail_overhead_p50']:.2f}"
            f" (x{results[f'list_{which}_over_detail_cpu_p50']:.2f})",
        )
    write_results(f"keypair_list_{args.database}" + ("_redis" if args.cache == "redis" else ""), results)
    return results


if __name__ == "__main__":
    main()
