"""``manage.py sync_bcc`` over 3,000 key pairs in 6 regions: time, BCC calls and SQL queries per run.

    .venv/bin/python -m bench.inventory_sync [--database sqlite|postgres] [--keypairs 3000]
        [--regions bj,gz,su,bd,fwh,hkg] [--drift 60]

What runs, all on loopback:

- the BCC sandbox in its own process (``bench.sandbox_process``, request log on), loaded with
  ``--keypairs`` key pairs spread evenly over ``--regions`` (500 a region by default: BCC's
  quota), imported through the portal's BCC client, the regions in parallel (EC P-256 public
  keys: quick to make). Half of them the portal owns (records of one developer, written with
  ``bulk_create``); the other half are unowned, as if made in the console;
- the sync in this process, on a fresh database (SQLite ``var/bench/inventory_sync.sqlite3``
  or PostgreSQL ``portal_bench_inventory_sync``), under the "sync_bcc" lease as the command
  takes it.

Three runs, each timed (wall), its BCC calls counted on the sandbox's side and its SQL queries
counted (an execute wrapper; DEBUG stays off; BEGIN and COMMIT are not statements and are not counted):

1. first: every key pair is new; one ``found_unowned`` audit row per unowned key pair;
2. steady: nothing changed in BCC: the cost of the run cron makes every 15 minutes;
3. drift: ``--drift`` changes made behind the portal's back first (a third renamed owned key
   pairs, a third deleted owned ones, a third deleted unowned ones), each found and audited once.
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bench import django_env
from bench.common import RESULTS_DIR, heading, line, write_results
from bench.keypair_list import ec_public_key
from bench.sandbox_process import SandboxProcess

SQLITE_PATH = RESULTS_DIR / "inventory_sync.sqlite3"
POSTGRES_DATABASE = "portal_bench_inventory_sync"


def prepare_database(kind: str) -> str:
    if kind == "postgres":
        return django_env.recreate_postgres_database(POSTGRES_DATABASE)
    for suffix in ("", "-wal", "-shm"):
        SQLITE_PATH.with_name(SQLITE_PATH.name + suffix).unlink(missing_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    return django_env.sqlite_url(SQLITE_PATH)


def load_sandbox(*, count: int, regions: list[str]) -> dict[str, list[tuple[str, str]]]:
    """``count`` key pairs in BCC over ``regions``; returns (keypair id, name) per region."""
    from keypairs.bcc.factory import get_client

    def load(region: str) -> list[tuple[str, str]]:
        client = get_client(region)
        made = []
        for number in range(region_index[region], count, len(regions)):
            name = f"inv-{region}-{number:05d}"
            made.append((client.import_keypair(name=name, public_key=ec_public_key()).keypair_id, name))
        return made

    region_index = {region: index for index, region in enumerate(regions)}
    with ThreadPoolExecutor(max_workers=len(regions)) as pool:
        return dict(zip(regions, pool.map(load, regions), strict=True))


def own_half(owner, held: dict[str, list[tuple[str, str]]]) -> None:
    """The portal's records of every other key pair of each region (the rest stay unowned)."""
    from django.utils import timezone

    from keypairs.models import KeyPairRequest

    now = timezone.now()
    KeyPairRequest.objects.bulk_create(
        KeyPairRequest(
            owner=owner,
            form_token_hash=secrets.token_hex(32),
            client_token=secrets.token_hex(32),
            kind=KeyPairRequest.Kind.IMPORT,
            region=region,
            name=name,
            status=KeyPairRequest.Status.CREATED,
            keypair_id=keypair_id,
            completed_at=now,
        )
        for region, keypairs in held.items()
        for keypair_id, name in keypairs[::2]
    )


def make_drift(held: dict[str, list[tuple[str, str]]], count: int) -> None:
    """``count`` changes behind the portal's back: renamed owned, deleted owned, deleted unowned."""
    from keypairs.bcc.factory import get_client

    owned = [(region, keypair_id) for region, keypairs in held.items() for keypair_id, _ in keypairs[::2]]
    unowned = [(region, keypair_id) for region, keypairs in held.items() for keypair_id, _ in keypairs[1::2]]
    third = count // 3
    for region, keypair_id in owned[:third]:
        get_client(region).rename_keypair(keypair_id, name=f"renamed-{keypair_id[-8:]}")
    for region, keypair_id in owned[third : 2 * third] + unowned[: count - 2 * third]:
        get_client(region).delete_keypair(keypair_id)


def measured_run(sandbox: SandboxProcess, mark: int) -> tuple[dict, int]:
    from django.db import connection

    from keypairs.audit import Origin
    from keypairs.models import AuditEvent
    from keypairs.services.inventory_sync import inventory_sync
    from keypairs.single_runner import single_run

    audit_before = AuditEvent.objects.count()
    statements: list[str] = []

    def counted(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    # An execute wrapper, not CaptureQueriesContext: Django's query log keeps 9,000 queries at most.
    with connection.execute_wrapper(counted):
        started = time.perf_counter()
        with single_run("sync_bcc"):
            result = inventory_sync(origin=Origin())
        wall_ms = (time.perf_counter() - started) * 1000
    served, mark = sandbox.requests_since(mark)
    calls = Counter(f"{operation} {path.split('/')[1]}" for _, path, operation, _ in served)
    kinds = Counter(_query_kind(sql) for sql in statements)
    return {
        "wall_ms": wall_ms,
        "bcc_calls": sum(calls.values()),
        "bcc_calls_by_region": dict(sorted(calls.items())),
        "queries": len(statements),
        "queries_by_kind": dict(kinds.most_common()),
        "audit_rows": AuditEvent.objects.count() - audit_before,
        "summary": result.summary,
    }, mark


def _query_kind(sql: str) -> str:
    """``SELECT keypairs_bccinventoryentry``: the statement and its table (the word after FROM, INTO or UPDATE)."""
    words = sql.replace('"', " ").split()
    verb = words[0].upper() if words else "?"
    for before, table in itertools.pairwise(words):
        if before.upper() in ("FROM", "INTO", "UPDATE"):
            return f"{verb} {table}"
    return verb


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--keypairs", type=int, default=3000)
    parser.add_argument("--regions", default="bj,gz,su,bd,fwh,hkg")
    parser.add_argument("--drift", type=int, default=60, help="changes made behind the portal's back before run 3")
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
            BCC_REGIONS=",".join(regions),
            BCC_DEFAULT_REGION=regions[0],
        )
        from django.core.management import call_command

        from bench.growth import developer

        call_command("migrate", verbosity=0, interactive=False)
        loading = time.perf_counter()
        held = load_sandbox(count=args.keypairs, regions=regions)
        load_seconds = time.perf_counter() - loading
        own_half(developer(), held)
        _, mark = sandbox.requests_since(0)
        runs = {}
        runs["first"], mark = measured_run(sandbox, mark)
        runs["steady"], mark = measured_run(sandbox, mark)
        make_drift(held, args.drift)
        _, mark = sandbox.requests_since(mark)
        runs["drift"], mark = measured_run(sandbox, mark)

    results = {
        "database": args.database,
        "keypairs": args.keypairs,
        "regions": regions,
        "drift": args.drift,
        "sandbox_load_seconds": load_seconds,
        "runs": runs,
    }
    heading(
        f"sync_bcc: {args.keypairs} key pairs over {len(regions)} regions (half owned), {args.database}, in-process"
    )
    line("loading the sandbox (imports, parallel)", f"{load_seconds:.1f} s")
    labels = {"first": "first run", "steady": "second run (steady)", "drift": f"after {args.drift} changes outside"}
    for kind, run in runs.items():
        print(f"    -- {labels[kind]}")
        line("wall time", f"{run['wall_ms']:.0f} ms")
        by_region = ", ".join(f"{count} {call}" for call, count in run["bcc_calls_by_region"].items())
        line("BCC calls", f"{run['bcc_calls']} ({by_region})")
        by_kind = ", ".join(f"{count} {kind}" for kind, count in run["queries_by_kind"].items())
        line("SQL statements", f"{run['queries']} ({by_kind})")
        line("audit rows written", str(run["audit_rows"]))
        line("summary", run["summary"])
    write_results(f"inventory_sync_{args.database}", results)
    return results


if __name__ == "__main__":
    main()
