"""How cost grows with the audit log: the list page and the create path at 10k, 100k and 1M rows.

    .venv/bin/python -m bench.growth --database sqlite|postgres [--sizes 10000,100000,1000000] [--rounds 5]

One database per size (SQLite files ``var/bench/growth-<rows>.sqlite3``, or PostgreSQL
databases ``portal_bench_growth_<rows>``), each seeded by ``bench.audit_seed`` (a valid
chain, realistic rows; reused when already there). Then, in each round, every database in
turn (so that a burst of noise from a neighbour on this shared machine lands on every size
alike) is measured in this process through Django's full middleware stack (test
``Client``, DEBUG off):

- the admin's audit log list, first page, as an auditor;
- the create path: a developer's POST of the create form, against a BCC sandbox in its own
  process (key pool), which writes the request, two audit rows and the encrypted delivery.
  The BCC call's own time (the client's call record) is reported beside it.

Reported per size: wall-clock median and spread, and the CPU time this process spent (on
SQLite that is nearly all of the work, and other processes' load does not inflate it). A
cost that does not depend on the log's size stays flat from 10k to 1M rows.
"""

from __future__ import annotations

import argparse
import re
import time

from bench.common import RESULTS_DIR, Summary, heading, line, write_results
from bench.sandbox_process import SandboxProcess

LIST_URL = "/admin/keypairs/auditevent/"
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def database_name(kind: str, rows: int) -> str:
    return str(RESULTS_DIR / f"growth-{rows}.sqlite3") if kind == "sqlite" else f"portal_bench_growth_{rows}"


def use_database(name: str) -> None:
    """Point Django's default connection at another database of the same kind."""
    from django.db import connections

    connection = connections["default"]
    connection.close()
    connection.settings_dict["NAME"] = name


def prepare(kind: str, rows: int, *, fresh: bool) -> None:
    """Create (if needed), migrate and seed the database for ``rows``; leave Django pointed at it."""
    from django.core.management import call_command

    from bench import django_env
    from bench.audit_seed import ensure_rows

    name = database_name(kind, rows)
    if kind == "postgres" and (fresh or not django_env.postgres_database_exists(name)):
        django_env.recreate_postgres_database(name)
    elif kind == "sqlite" and fresh:
        for suffix in ("", "-wal", "-shm"):
            RESULTS_DIR.joinpath(f"growth-{rows}.sqlite3{suffix}").unlink(missing_ok=True)
    use_database(name)
    call_command("migrate", verbosity=0, interactive=False)
    ensure_rows(rows, progress=False)


def developer():
    from django.contrib.auth.models import Permission, User

    user, created = User.objects.get_or_create(username="bench-developer")
    if created:
        user.user_permissions.add(
            Permission.objects.get(codename="add_keypairrequest", content_type__app_label="keypairs")
        )
    return user


def time_list_page(client, count: int, wall: list[float], cpu: list[float]) -> None:
    for _ in range(count):
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(LIST_URL)
        cpu.append((time.process_time() - cpu_started) * 1000)
        wall.append((time.perf_counter() - wall_started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"The audit log list answered {response.status_code}.")


def time_creates(client, count: int, wall: list[float], cpu: list[float], bcc: list[float]) -> None:
    from keypairs.bcc.factory import get_client

    for _ in range(count):
        form = client.get("/keypairs/new")
        token = _FORM_TOKEN.search(form.content.decode())
        if form.status_code != 200 or not token:
            raise SystemExit(f"The create form answered {form.status_code}.")
        data = {"name": f"growth-{time.time_ns()}", "description": "", "region": "bj", "form_token": token.group(1)}
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        response = client.post("/keypairs/new", data)
        cpu.append((time.process_time() - cpu_started) * 1000)
        wall.append((time.perf_counter() - wall_started) * 1000)
        if response.status_code != 302:
            raise SystemExit(f"The create answered {response.status_code}.")
        bcc.append(get_client("bj").last_call.latency_ms)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every size")
    parser.add_argument("--pages", type=int, default=4, help="list page requests per size and round")
    parser.add_argument("--creates", type=int, default=10, help="creates per size and round")
    parser.add_argument("--fresh", action="store_true", help="reseed every database from empty")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]

    from bench import django_env

    if args.database == "postgres" and not django_env.postgres_available():
        raise SystemExit("PostgreSQL is not reachable.")
    # Django starts on a database that exists; prepare() then points it at each size's own.
    if args.database == "sqlite":
        url = django_env.sqlite_url(RESULTS_DIR / f"growth-{sizes[0]}.sqlite3")
    else:
        url = django_env.postgres_url("postgres")
    with SandboxProcess(key_pool=16) as sandbox:
        django_env.configure_in_process(
            url,
            BCC_ENDPOINT=sandbox.endpoint_template,
            BCC_ACCESS_KEY_ID=sandbox.access_key_id,
            BCC_SECRET_ACCESS_KEY=sandbox.secret_access_key,
        )
        from django.test import Client

        from bench.audit_review import auditor

        clients = {}
        for size in sizes:
            prepare(args.database, size, fresh=args.fresh)
            reviewer, creator = Client(), Client()
            reviewer.force_login(auditor())
            creator.force_login(developer())
            time_list_page(reviewer, 1, [], [])  # warm-up, and a check that it works
            time_creates(creator, 1, [], [], [])
            clients[size] = (reviewer, creator)

        samples = {
            size: {"list_wall": [], "list_cpu": [], "create_wall": [], "create_cpu": [], "bcc": []} for size in sizes
        }
        for _ in range(args.rounds):
            for size in sizes:
                use_database(database_name(args.database, size))
                reviewer, creator = clients[size]
                got = samples[size]
                time_list_page(reviewer, args.pages, got["list_wall"], got["list_cpu"])
                time_creates(creator, args.creates, got["create_wall"], got["create_cpu"], got["bcc"])

    results: dict = {"database": args.database, "sizes": {}}
    for size, got in samples.items():
        results["sizes"][size] = {
            "list_first_page_ms": Summary.of(got["list_wall"]),
            "list_first_page_cpu_ms": Summary.of(got["list_cpu"]),
            "create_ms": Summary.of(got["create_wall"]),
            "create_cpu_ms": Summary.of(got["create_cpu"]),
            "create_bcc_ms": Summary.of(got["bcc"]),
        }
    smallest, largest = results["sizes"][sizes[0]], results["sizes"][sizes[-1]]
    for key in ("list_first_page_ms", "list_first_page_cpu_ms", "create_ms", "create_cpu_ms"):
        results[f"growth_{key}"] = largest[key].median / smallest[key].median

    heading(f"Growth: admin list and create path against the audit log's size ({args.database}, in-process)")
    for size, figures in results["sizes"].items():
        print(f"    -- {size:,} audit rows")
        line("admin list, first page", figures["list_first_page_ms"].text(" ms", 1))
        line("  CPU in this process", figures["list_first_page_cpu_ms"].text(" ms", 1))
        line("create POST", figures["create_ms"].text(" ms", 1))
        line("  CPU in this process", figures["create_cpu_ms"].text(" ms", 1))
        line("  of which waiting for the BCC call", figures["create_bcc_ms"].text(" ms", 1))
    label = f"{sizes[-1]:,} vs {sizes[0]:,} rows"
    line(
        f"list page, {label}",
        f"x{results['growth_list_first_page_ms']:.2f} (CPU x{results['growth_list_first_page_cpu_ms']:.2f})",
    )
    line(f"create, {label}", f"x{results['growth_create_ms']:.2f} (CPU x{results['growth_create_cpu_ms']:.2f})")
    write_results(f"growth_{args.database}", results)
    return results


if __name__ == "__main__":
    main()
