"""Every page beside the floor: worker CPU, SQL statements and transactions per page, and memory.

    .venv/bin/python -m bench.pages [--database sqlite|postgres] [--rounds 120]
    .venv/bin/python -m bench.pages --table      # the table of the last runs (var/bench/pages_*.json)

What runs, all on loopback:

- the BCC sandbox in its own process, with a pool of pre-made keys (real BCC makes keys on its
  own servers), 200 Linux instances in ``bj``, half of them tagged ``team=web``;
- gunicorn with the repository's configuration and timing hooks (``bench/gunicorn_bench.conf.py``:
  per request, the worker thread's CPU, the time in BCC calls, the SQL statements and the
  transactions), DEBUG off, INFO logging as JSON, on a fresh database; the settings are the
  portal's plus one URL, the floor (``bench/floor.py``, ``bench/floor_settings.py``);
- a developer (the developer role, in the group a rule lets bind to ``team=web`` in ``bj``) with
  ``--keypairs`` key pairs over three regions, and an auditor (the auditor role), both signed in
  through the sign-in page, each with their own session.

Each round, one person at a time (one request in flight: what a page costs when nothing
queues), every page in turn, each right after a request of the floor, so that a neighbour's
burst of load lands on both: home, the create form, create, the key pair's page, the download,
the rename form, rename, "My key pairs" (with BCC's state; cached for
``KEYPAIR_BCC_STATE_CACHE_SECONDS`` as in production), the bind page, the import form, import,
the delete confirmation and delete (of the imported and of the created key pair, so the world
stays the same size), then the auditor's audit log and one key pair's timeline.

Reported per page: the worker CPU p50 (the request's thread, from gunicorn's ``pre_request``
to ``post_request``: the middleware, the view, the template, the BCC client's own work, the
access log line; not the sandbox's, which is another process), its ratio to the floor's p50,
the time in BCC calls, and the SQL statements and transactions of the page (their range over
the round; a page whose count varies says so). Target (issue 14): every page at most 2x the
floor.

Then the world grows (``--grow`` more key pairs of the developer's, and the audit rows of the
rounds), three more rounds run, and each page's statement count is compared on the views served from the
caches (a view that walked BCC's lists adds statements per region walked, shown in the range): a
page whose count grows with rows it does not show is reported. Last, each worker's resident
memory (VmRSS) with the number of requests it served; ``max_requests`` is off for the run, so
the figure is one worker's. One person's browser keeps its connection, so one worker serves
nearly every request: the figure is that of a worker after all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import django_env
from bench.common import RESULTS_DIR, heading, line, percentile, verdict, write_results
from bench.keypair_list import ec_public_key, held_in_bcc
from bench.portal import Gunicorn, rss_mb, send_secure_cookies_over_http
from bench.sandbox_process import SandboxProcess

TARGET_RATIO = 2.0
RSS_TARGET_MB = 80.0
RSS_AFTER_REQUESTS = 2000
KEY_POOL = 32
INSTANCES = 200
REGIONS = ["bj", "gz", "su"]
PASSWORD = "bench-" + secrets.token_urlsafe(12)
FLOOR = "floor"
# In the order a round visits them, with the label the table gives each.
PAGES = {
    "home": "home",
    "create_form": "create form",
    "create": "create (POST, BCC create)",
    "detail": "key pair page (BCC detail)",
    "download": "download (POST)",
    "rename_form": "rename form",
    "rename": "rename (POST, BCC rename)",
    "list": "My key pairs (BCC state)",
    "bind": f"bind page ({INSTANCES} instances)",
    "import_form": "import form",
    "import": "import (POST, BCC import)",
    "delete_form": "delete confirmation (BCC detail)",
    "delete": "delete (POST, BCC delete)",
    "audit_list": "auditors' audit log",
    "timeline": "a key pair's timeline",
    "plain_list": "reference: a plain table, same 25 key pairs",
    "django_admin_list": "reference: Django's admin, same 100 rows",
    "django_admin_timeline": "reference: Django's admin, same timeline",
}
# Not the portal's pages: Django's own admin on the same rows (bench/floor.py), for comparison.
REFERENCES = {"plain_list", "django_admin_list", "django_admin_timeline"}
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_DETAIL = re.compile(r"/keypairs/([0-9a-f-]{36})/$")


@dataclass
class Sample:
    phase: str
    page: str
    request_id: str


class Person:
    """One signed-in browser: a ``requests.Session`` that records each request's id by page."""

    def __init__(self, base_url: str, username: str, samples: list[Sample]) -> None:
        self.base_url = base_url
        self.username = username
        self.samples = samples
        self.phase = "warm-up"
        self.session = requests.Session()
        self.session.trust_env = False

    def sign_in(self) -> None:
        page = self.session.get(self.base_url + "/accounts/login/", timeout=30)
        send_secure_cookies_over_http(self.session)
        answer = self.session.post(
            self.base_url + "/accounts/login/",
            data={"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf_of(page)},
            allow_redirects=False,
            timeout=30,
        )
        send_secure_cookies_over_http(self.session)
        if answer.status_code != 302:
            raise SystemExit(f"Signing in as {self.username} answered {answer.status_code}.")

    def request(self, page: str, method: str, path: str, *, expect: int = 200, **kwargs) -> requests.Response:
        headers = {"X-Bench-Page": page}  # for the worker's profiler (BENCH_PROFILE), when asked
        response = self.session.request(
            method, self.base_url + path, allow_redirects=False, timeout=60, headers=headers, **kwargs
        )
        send_secure_cookies_over_http(self.session)
        if response.status_code != expect:
            said = re.findall(r"<li[^>]*>([^<]{1,300})</li>", response.text)[:5]
            raise SystemExit(f"{page}: {method} {path} answered {response.status_code}, not {expect}: {said}")
        self.samples.append(Sample(self.phase, page, response.headers.get("X-Request-ID", "")))
        return response


def csrf_of(response: requests.Response) -> str:
    found = _CSRF.search(response.text)
    if not found:
        raise SystemExit(f"No CSRF token on {response.url}.")
    return found.group(1)


def form_token_of(response: requests.Response) -> str:
    found = _FORM_TOKEN.search(response.text)
    if not found:
        raise SystemExit(f"No form token on {response.url}.")
    return found.group(1)


class Round:
    """Every page once, each right after the floor; the world is the same size after it as before."""

    def __init__(self, developer: Person, auditor: Person, urls: dict[str, str]) -> None:
        self.developer = developer
        self.auditor = auditor
        self.urls = urls
        self.number = 0

    def visit(self, person: Person, page: str, method: str, path: str, **kwargs) -> requests.Response:
        self.developer.request(FLOOR, "GET", self.urls[FLOOR])
        return person.request(page, method, path, **kwargs)

    def run(self) -> None:
        self.number += 1
        me, tag = self.developer, f"r{self.number}-{secrets.token_hex(2)}"
        self.visit(me, "home", "GET", "/")
        form = self.visit(me, "create_form", "GET", "/keypairs/new")
        created = self.visit(
            me,
            "create",
            "POST",
            "/keypairs/new",
            expect=302,
            data={
                "name": f"made-{tag}",
                "description": "benchmark",
                "region": "bj",
                "form_token": form_token_of(form),
                "csrfmiddlewaretoken": csrf_of(form),
            },
        )
        made = created.headers["Location"]
        if not _DETAIL.search(made):
            raise SystemExit(f"The create went to {made!r}.")
        detail = self.visit(me, "detail", "GET", made)
        download = self.visit(me, "download", "POST", made + "download", data={"csrfmiddlewaretoken": csrf_of(detail)})
        if b"PRIVATE KEY" not in download.content:
            raise SystemExit("The download gave no private key.")
        edit = self.visit(me, "rename_form", "GET", made + "edit")
        self.visit(
            me,
            "rename",
            "POST",
            made + "edit",
            expect=302,
            data={"name": f"renamed-{tag}", "description": "benchmark", "csrfmiddlewaretoken": csrf_of(edit)},
        )
        self.visit(me, "list", "GET", "/keypairs/")
        self.visit(me, "plain_list", "GET", "/bench/plain-list/")
        self.visit(me, "bind", "GET", self.urls["bind"])
        form = self.visit(me, "import_form", "GET", "/keypairs/import")
        imported = self.visit(
            me,
            "import",
            "POST",
            "/keypairs/import",
            expect=302,
            data={
                "name": f"imported-{tag}",
                "description": "benchmark",
                "region": "gz",
                "public_key": ec_public_key(),
                "form_token": form_token_of(form),
                "csrfmiddlewaretoken": csrf_of(form),
            },
        ).headers["Location"]
        for doomed in (imported, made):
            confirm = self.visit(me, "delete_form", "GET", doomed + "delete")
            data = {"csrfmiddlewaretoken": csrf_of(confirm)}
            self.visit(me, "delete", "POST", doomed + "delete", expect=302, data=data)
        self.visit(self.auditor, "audit_list", "GET", self.urls["audit_list"])
        self.visit(self.auditor, "timeline", "GET", self.urls["timeline"])
        self.visit(self.auditor, "django_admin_list", "GET", self.urls["django_admin_list"])
        self.visit(self.auditor, "django_admin_timeline", "GET", self.urls["django_admin_timeline"])


# --- Setting up -------------------------------------------------------------------------------


def prepare_database(kind: str, workdir: Path) -> str:
    if kind == "postgres":
        return django_env.recreate_postgres_database("portal_bench_pages")
    return django_env.sqlite_url(workdir / "portal.sqlite3")


def seed_world(sandbox: SandboxProcess, keypairs: int) -> dict[str, str]:
    """The people, the rule, the instances and the developer's key pairs; returns the fixed URLs."""
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from bench.audit_review import timeline_url
    from bench.bind_page import add_instances
    from bench.bind_page import seed as seed_bind
    from bench.keypair_list import seed as seed_keypairs
    from portal.auth.roles import Role, assign_roles

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)  # DEBUG off: the manifest
    developer = User.objects.create_user("bench-developer", password=PASSWORD, email="developer@example.com")
    assign_roles(developer, {Role.DEVELOPER})
    auditor = User.objects.create_user("bench-auditor", password=PASSWORD, email="auditor@example.com")
    assign_roles(auditor, {Role.AUDITOR})
    add_instances(sandbox, count=INSTANCES, allowed=INSTANCES // 2)
    bind_record = seed_bind(developer)
    seed_keypairs(developer, count=keypairs, regions=REGIONS)
    return {
        FLOOR: "/bench/floor/",
        "bind": f"/keypairs/{bind_record.public_id}/bind/",
        "audit_list": "/admin/keypairs/auditevent/",
        "django_admin_list": "/bench/django-admin/keypairs/auditevent/",
        # Filled in once a key pair has a life in the log (after the warm-up).
        "timeline": "",
        "timeline_for": timeline_url,
    }


def grow_world(keypairs: int) -> None:
    """More imported key pairs of the developer's, in BCC and in the portal's records."""
    from django.contrib.auth.models import User

    from keypairs.models import KeyPairRequest

    owner = User.objects.get(username="bench-developer")
    KeyPairRequest.objects.bulk_create(
        held_in_bcc(owner, region=REGIONS[number % len(REGIONS)], name=f"grown-{number:04d}")
        for number in range(keypairs)
    )


def forget_bcc_state() -> None:
    """The developer's regions walked again at the next view, as every KEYPAIR_BCC_STATE_CACHE_SECONDS."""
    from django.core.cache import cache

    from keypairs.bcc_state import _state_key

    cache.delete_many([_state_key(region) for region in REGIONS])


def last_created_keypair_id() -> str:
    from keypairs.models import AuditEvent

    found = AuditEvent.objects.filter(action="downloaded").order_by("-id").values_list("keypair_id", flat=True).first()
    if not found:
        raise SystemExit("No downloaded key pair in the audit log after the warm-up.")
    return found


# --- Figures ------------------------------------------------------------------------------------


def read_timing(timing_dir: Path) -> dict[str, dict]:
    """X-Request-ID -> the worker's figures for that request (bench/gunicorn_bench.conf.py)."""
    found = {}
    for path in timing_dir.glob("worker-*.tsv"):
        for row in path.read_text().splitlines():
            request_id, _method, _path, status, worker_ms, bcc_ms, cpu_ms, queries, transactions = row.split("\t")
            found[request_id] = {
                "status": int(status),
                "worker_ms": float(worker_ms),
                "bcc_ms": float(bcc_ms),
                "cpu_ms": float(cpu_ms),
                "queries": int(queries),
                "transactions": int(transactions),
            }
    return found


def page_figures(samples: list[Sample], timing: dict[str, dict], phase: str) -> dict[str, dict]:
    by_page: dict[str, list[dict]] = defaultdict(list)
    for sample in samples:
        if sample.phase == phase and sample.request_id in timing:
            by_page[sample.page].append(timing[sample.request_id])
    figures = {}
    for page, rows in by_page.items():
        cpu = [row["cpu_ms"] for row in rows]
        figures[page] = {
            "count": len(rows),
            "cpu_ms_p50": percentile(cpu, 0.5),
            "cpu_ms_p90": percentile(cpu, 0.9),
            "worker_ms_p50": percentile([row["worker_ms"] for row in rows], 0.5),
            "bcc_ms_p50": percentile([row["bcc_ms"] for row in rows], 0.5),
            "queries_median": statistics.median(row["queries"] for row in rows),
            "queries_min": min(row["queries"] for row in rows),
            "queries_max": max(row["queries"] for row in rows),
            "transactions_median": statistics.median(row["transactions"] for row in rows),
            "transactions_min": min(row["transactions"] for row in rows),
            "transactions_max": max(row["transactions"] for row in rows),
        }
    return figures


def count_range(figures: dict, what: str) -> str:
    low, high, median = figures[f"{what}_min"], figures[f"{what}_max"], figures[f"{what}_median"]
    return f"{median:g}" if low == high else f"{median:g} ({low}-{high})"


# --- Running --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=120, help="measured rounds (about 37 requests each)")
    parser.add_argument("--keypairs", type=int, default=24, help="the developer's key pairs at the start")
    parser.add_argument("--grow", type=int, default=150, help="key pairs added before the last two rounds")
    parser.add_argument(
        "--profile",
        default="",
        metavar="PAGE,PAGE",
        help=f"profile these pages in the worker with pyinstrument (a diagnosis; its timings are not figures): {FLOOR},"
        + ",".join(PAGES),
    )
    parser.add_argument("--table", action="store_true", help="print the table of the last runs and stop")
    parser.add_argument(
        "--setting", action="append", default=[], metavar="NAME=VALUE", help="an environment setting for the portal"
    )
    args = parser.parse_args(argv)
    if args.table:
        print_table()
        return {}

    workdir = RESULTS_DIR / f"pages_{args.database}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    database_url = prepare_database(args.database, workdir)
    settings = {"DJANGO_SETTINGS_MODULE": "bench.floor_settings", **dict(item.split("=", 1) for item in args.setting)}
    if args.profile:
        settings["BENCH_PROFILE"] = args.profile
    samples: list[Sample] = []
    with SandboxProcess(key_pool=KEY_POOL) as sandbox:
        django_env.configure_in_process(
            database_url,
            BCC_ENDPOINT=sandbox.endpoint_template,
            BCC_ACCESS_KEY_ID=sandbox.access_key_id,
            BCC_SECRET_ACCESS_KEY=sandbox.secret_access_key,
        )
        urls = seed_world(sandbox, args.keypairs)
        timeline_for = urls.pop("timeline_for")
        with Gunicorn(database_url, sandbox, workdir, settings) as gunicorn:
            developer = Person(gunicorn.base_url, "bench-developer", samples)
            auditor = Person(gunicorn.base_url, "bench-auditor", samples)
            developer.sign_in()
            auditor.sign_in()
            rounds = Round(developer, auditor, urls)
            urls["timeline"] = urls["django_admin_timeline"] = "/admin/keypairs/auditevent/"
            for _ in range(3):
                rounds.run()
            followed = last_created_keypair_id()
            urls["timeline"] = timeline_for("keypair_id", followed)
            urls["django_admin_timeline"] = f"/bench/django-admin/keypairs/auditevent/?keypair_id={followed}&o=1"
            rounds.run()
            for person in (developer, auditor):
                person.phase = "measured"
            for _ in range(args.rounds):
                rounds.run()
            served_measured = gunicorn.requests_per_worker()
            rss = {pid: rss_mb(pid) for pid in gunicorn.worker_pids()}
            grow_world(args.grow)
            # BCC's cached state predates the new key pairs, which have no audit rows saying the portal
            # made them (they were written straight to the database): let the next view walk again.
            forget_bcc_state()
            for person in (developer, auditor):
                person.phase = "grown"
            for _ in range(3):
                rounds.run()
            timing = read_timing(gunicorn.timing_dir)

    measured = page_figures(samples, timing, "measured")
    grown = page_figures(samples, timing, "grown")
    floor = measured[FLOOR]["cpu_ms_p50"]
    results: dict = {
        "database": args.database,
        "rounds": args.rounds,
        "keypairs": args.keypairs,
        "grown_by": args.grow,
        "instances": INSTANCES,
        "settings": settings,
        "floor_cpu_ms_p50": floor,
        "pages": measured,
        "grown": grown,
        "worker_rss_mb": {str(pid): mb for pid, mb in rss.items()},
        "worker_requests_served": {str(pid): count for pid, count in served_measured.items()},
    }
    for page, figures in measured.items():
        figures["ratio_to_floor"] = figures["cpu_ms_p50"] / floor
        figures["target_met"] = page in {FLOOR, *REFERENCES} or figures["ratio_to_floor"] <= TARGET_RATIO
        # Compared on the views served from the caches (the fewest statements): a view that walked
        # BCC's lists costs statements per region walked, which depends on how many regions' cached
        # lists had expired at that moment, not on the rows (the range shows them).
        figures["queries_grow"] = page in grown and grown[page]["queries_min"] > figures["queries_min"]
    judged = [mb for pid, mb in rss.items() if served_measured.get(pid, 0) >= RSS_AFTER_REQUESTS]
    results["memory_target_met"] = bool(judged) and max(judged) <= RSS_TARGET_MB
    results["pages_target_met"] = all(figures["target_met"] for figures in measured.values())

    profiles = {path.stem: path.read_text() for path in sorted(workdir.glob("timing/profile-*.txt"))}
    results["profiles"] = profiles
    heading(f"Every page beside the floor: gunicorn (2 workers x 4 threads), {args.database}, one request at a time")
    print_run(results)
    for name, text in profiles.items():
        print(f"    -- {name} (pyinstrument: the functions by their own share of the page's time; top 40)")
        print("\n".join("      " + row[:160] for row in text.splitlines()[:48]))
    write_results(f"pages_{args.database}" + ("_profiled" if args.profile else ""), results)
    return results


def print_run(results: dict) -> None:
    pages, floor = results["pages"], results["floor_cpu_ms_p50"]
    line(
        "floor: worker CPU p50 (p90)",
        f"{floor:.2f} ms ({pages[FLOOR]['cpu_ms_p90']:.2f}), n={pages[FLOOR]['count']},"
        f" {count_range(pages[FLOOR], 'queries')} statements",
    )
    print(f"    {'page':<36} {'CPU p50':>8} {'x floor':>8} {'in BCC':>7} {'SQL':>9} {'transactions':>12}  grown")
    for page, label in PAGES.items():
        figures = pages.get(page)
        if figures is None:
            print(f"    {label:<36} not measured")
            continue
        grown = results["grown"].get(page)
        grew = "" if grown is None else count_range(grown, "queries")
        flag = "  GROWS" if figures["queries_grow"] else ""
        print(
            f"    {label:<36} {figures['cpu_ms_p50']:>6.2f}ms {figures['ratio_to_floor']:>7.2f}x"
            f" {figures['bcc_ms_p50']:>5.1f}ms {count_range(figures, 'queries'):>9}"
            f" {count_range(figures, 'transactions'):>12}  {grew}{flag}" + ("" if figures["target_met"] else "  MISSED")
        )
    line(f"target: every page <= {TARGET_RATIO:g}x the floor", verdict(results["pages_target_met"]))
    for pid, mb in results["worker_rss_mb"].items():
        line(f"worker {pid}: RSS after {results['worker_requests_served'].get(pid, 0)} requests", f"{mb:.1f} MB")
    rss_target = f"target: RSS <= {RSS_TARGET_MB:g} MB after {RSS_AFTER_REQUESTS} requests"
    line(rss_target, verdict(results["memory_target_met"]))


def print_table() -> None:
    """One table for both databases, as docs/benchmarks.md shows it (markdown)."""
    runs = {}
    for database in ("sqlite", "postgres"):
        path = RESULTS_DIR / f"pages_{database}.json"
        if path.exists():
            runs[database] = json.loads(path.read_text())
    if not runs:
        raise SystemExit("No results yet: run bench.pages first.")
    heading("Every page beside the floor (the last runs' results)")
    for database, document in runs.items():
        results = document["results"]
        print(
            f"    {database}: {document['finished_at']}, commit {document['machine']['commit']},"
            f" load at start {document['machine']['load_average_at_start']}, {results['rounds']} rounds"
        )
    names = list(runs)
    print()
    print("| page | " + " | ".join(f"{name}: CPU p50, x floor, SQL / transactions" for name in names) + " |")
    print("|---|" + "---|" * len(names))
    for page, label in {FLOOR: "**the floor**", **PAGES}.items():
        cells = []
        for name in names:
            figures = runs[name]["results"]["pages"].get(page)
            if figures is None:
                cells.append("not measured")
                continue
            ratio = figures["cpu_ms_p50"] / runs[name]["results"]["floor_cpu_ms_p50"]
            mark = "" if ratio <= TARGET_RATIO or page in {FLOOR, *REFERENCES} else " (missed)"
            cells.append(
                f"{figures['cpu_ms_p50']:.2f} ms, **{ratio:.2f}x**{mark},"
                f" {count_range(figures, 'queries')} / {count_range(figures, 'transactions')}"
            )
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    for name in names:
        results = runs[name]["results"]
        workers = ", ".join(
            f"{mb:.1f} MB after {results['worker_requests_served'].get(pid, 0)}"
            for pid, mb in results["worker_rss_mb"].items()
        )
        grew = [page for page, figures in results["pages"].items() if figures.get("queries_grow")]
        print(f"    {name}: worker RSS {workers}; statements growing with unshown rows: {', '.join(grew) or 'none'}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
