"""The bind page of a region with 2,000 instances: BCC calls, queries, HTML size and time per view.

    .venv/bin/python -m bench.bind_page [--database sqlite|postgres] [--instances 2000] [--rounds 10]

What runs, all on loopback, as in ``bench.keypair_list`` (whose helpers this reuses): the BCC
sandbox in its own process keeping its whole request log (the BCC calls of each view are counted
on BCC's side), and the portal in this process through Django's full middleware stack (test
``Client``, DEBUG off, the database cache), on a fresh database (SQLite
``var/bench/bind_page.sqlite3`` or PostgreSQL ``portal_bench_bind_page``).

The world: ``--instances`` Linux instances in ``bj`` (added through the sandbox's control
endpoint, ``POST /_sandbox/instances``), every other one tagged ``team=web`` and the rest
``team=db``; one rule letting the Django group ``team-web`` bind to ``team=web``; a developer in
that group with one key pair in ``bj``. So ``--allowed`` (half by default) of the instances may
be chosen and the rest are covered by no rule of theirs.

Then ``--rounds`` rounds, each one view of each kind, in turn (noise lands on every kind alike):
the bind page cold (the region's cached list deleted, so the view walks BCC's list), the bind page
warm (right after: no BCC call), and the detail page of the same key pair. Reported per kind:
BCC calls per view, p50/p90 wall and CPU, SQL queries of one more view, the HTML's size; and
the top frames of cProfile over a few warm views.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats

from bench import django_env
from bench.common import RESULTS_DIR, heading, line, write_results
from bench.keypair_list import BccWait, count_queries, figures, held_in_bcc, view
from bench.sandbox_process import SandboxProcess

SQLITE_PATH = RESULTS_DIR / "bind_page.sqlite3"
POSTGRES_DATABASE = "portal_bench_bind_page"
KINDS = ("bind_cold", "bind_warm", "detail")
REGION = "bj"
GROUP = "team-web"


def prepare_database(kind: str) -> str:
    if kind == "postgres":
        return django_env.recreate_postgres_database(POSTGRES_DATABASE)
    for suffix in ("", "-wal", "-shm"):
        SQLITE_PATH.with_name(SQLITE_PATH.name + suffix).unlink(missing_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    return django_env.sqlite_url(SQLITE_PATH)


def add_instances(sandbox: SandboxProcess, *, count: int, allowed: int) -> None:
    """``count`` Linux instances in ``REGION``, the first ``allowed`` of them (interleaved) tagged team=web."""
    from tests.sandbox.sandbox_http import SignedClient

    control = SignedClient(sandbox.url, sandbox.access_key_id, sandbox.secret_access_key, region=None)
    web = set(range(0, count, 2)[:allowed])
    web |= set(range(1, count, 2)[: max(0, allowed - len(web))])
    wanted = [
        {
            "id": f"i-bench{number:05d}",
            "name": f"{'web' if number in web else 'db'}-{number:05d}",
            "osType": "linux",
            "zoneName": "cn-bj-a",
            "internalIp": f"10.{number // 65536}.{number // 256 % 256}.{number % 256}",
            "tags": [{"tagKey": "team", "tagValue": "web" if number in web else "db"}],
        }
        for number in range(count)
    ]
    for first in range(0, count, 500):  # the control endpoint takes a list; a few bodies of 500
        response = control.request(
            "POST", "/_sandbox/instances", query=[("region", REGION)], json={"instances": wanted[first : first + 500]}
        )
        if response.status_code != 200:
            raise SystemExit(f"The sandbox refused the instances: {response.text}")


def seed(owner):
    """One key pair of ``owner`` in ``REGION`` (in BCC and in the portal's records), the rule, the group."""
    from django.contrib.auth.models import Group

    from keypairs.models import AccessRule

    owner.groups.add(Group.objects.get_or_create(name=GROUP)[0])
    AccessRule.objects.create(name="web servers", sso_group=GROUP, region=REGION, tag_key="team", tag_value="web")
    record = held_in_bcc(owner, region=REGION, name="bench-bind")
    record.save()
    return record


def forget_list() -> None:
    """The region's cached instance list deleted: the next view walks BCC's list (a cold view)."""
    from django.core.cache import cache

    from keypairs.bcc_cache import bcc_account
    from keypairs.bcc_instances import _LIST_KEY

    cache.delete(_LIST_KEY.format(account=bcc_account(), region=REGION))


def profile_warm(client, url: str, views: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(views):
        client.get(url)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    return text[text.find("   ncalls") :]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--allowed", type=int, default=None, help="instances the rule allows (default: half)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of one view of each kind")
    parser.add_argument("--profile-views", type=int, default=5, help="warm views under cProfile (0: none)")
    parser.add_argument("--query", default="", help="the bind page's query string, e.g. q=web-0001")
    args = parser.parse_args(argv)
    allowed = args.instances // 2 if args.allowed is None else args.allowed

    if args.database == "postgres" and not django_env.postgres_available():
        raise SystemExit("PostgreSQL is not reachable.")
    database_url = prepare_database(args.database)
    with SandboxProcess(request_log=True) as sandbox:
        django_env.configure_in_process(
            database_url,
            BCC_ENDPOINT=sandbox.endpoint_template,
            BCC_ACCESS_KEY_ID=sandbox.access_key_id,
            BCC_SECRET_ACCESS_KEY=sandbox.secret_access_key,
        )
        from django.core.management import call_command
        from django.test import Client

        from bench.growth import developer

        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)  # DEBUG off: the manifest
        add_instances(sandbox, count=args.instances, allowed=allowed)
        owner = developer()
        record = seed(owner)
        detail_url = f"/keypairs/{record.public_id}/"
        bind_url = f"{detail_url}bind/" + (f"?{args.query}" if args.query else "")
        urls = {"bind_cold": bind_url, "bind_warm": bind_url, "detail": detail_url}
        wait = BccWait()
        wait.install()
        client = Client()
        client.force_login(owner)

        _, mark = sandbox.requests_since(0)
        for kind in KINDS:  # warm-up, and a check that every page works
            if kind == "bind_cold":
                forget_list()
            _, mark = view(client, urls[kind], sandbox, mark, wait)
        samples: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        for _ in range(args.rounds):
            for kind in KINDS:
                if kind == "bind_cold":
                    forget_list()
                sample, mark = view(client, urls[kind], sandbox, mark, wait)
                samples[kind].append(sample)
        queries, html_bytes = {}, {}
        for kind in KINDS:
            if kind == "bind_cold":
                forget_list()
            queries[kind] = count_queries(client, urls[kind])
            html_bytes[kind] = len(client.get(urls[kind]).content)
        page = client.get(bind_url).content.decode()
        profile = profile_warm(client, bind_url, args.profile_views, 25) if args.profile_views else ""

    results: dict = {
        "database": args.database,
        "instances": args.instances,
        "allowed": allowed,
        "rounds": args.rounds,
        "query": args.query,
        "kinds": {kind: figures(samples[kind]) for kind in KINDS},
        "queries_per_view": {kind: len(sql) for kind, sql in queries.items()},
        "queries": {kind: [sql[:300] for sql in found] for kind, found in queries.items()},
        "html_bytes": html_bytes,
        "checkboxes_on_page": page.count('name="instance" value='),
        "table_rows_on_page": page.count('<tr id="row-'),
        "profile_warm": profile,
    }
    detail = results["kinds"]["detail"]
    for which in ("cold", "warm"):
        found = results["kinds"][f"bind_{which}"]
        results[f"bind_{which}_over_detail_wall_p50"] = found["wall_ms"]["p50"] / detail["wall_ms"]["p50"]
        results[f"bind_{which}_over_detail_cpu_p50"] = found["cpu_ms"]["p50"] / detail["cpu_ms"]["p50"]

    heading(
        f"The bind page: {args.instances} instances in {REGION}, {allowed} allowed by a rule,"
        f" {args.database}, in-process" + (f", ?{args.query}" if args.query else "")
    )
    labels = {"bind_cold": "bind page, cold list", "bind_warm": "bind page, warm list", "detail": "detail page"}
    for kind in KINDS:
        found = results["kinds"][kind]
        print(f"    -- {labels[kind]} ({found['views']} views)")
        for seen in found["bcc_calls_per_view"]:
            calls = ", ".join(f"{count} {call}" for call, count in seen["calls"].items()) or "none"
            line(f"BCC calls per view ({seen['views']} views)", calls)
        line("SQL queries per view", str(results["queries_per_view"][kind]))
        line("HTML size", f"{html_bytes[kind] / 1e6:.3f} MB ({html_bytes[kind]:,} bytes)")
        for key, label in (("wall_ms", "wall p50 / p90"), ("cpu_ms", "CPU of this process p50 / p90")):
            line(label, f"{found[key]['p50']:.1f} / {found[key]['p90']:.1f} ms")
        line("waiting for BCC p50", f"{found['bcc_wait_ms']['p50']:.1f} ms")
    line("checkboxes / table rows on the page", f"{results['checkboxes_on_page']} / {results['table_rows_on_page']}")
    for which in ("cold", "warm"):
        line(
            f"bind {which} / detail, p50 wall (CPU)",
            f"x{results[f'bind_{which}_over_detail_wall_p50']:.1f}"
            f" (x{results[f'bind_{which}_over_detail_cpu_p50']:.1f})",
        )
    if profile:
        print(f"    -- cProfile, {args.profile_views} warm views, by own time (top 25)")
        print(profile)
    write_results(f"bind_page_{args.database}", results)
    return results


if __name__ == "__main__":
    main()
