"""Python function calls per page view: a count that load on the machine cannot move.

    .venv/bin/python -m bench.page_calls [--database sqlite|postgres] [--views 20] [--keypairs 24]

``bench.pages`` measures CPU time beside the floor, which a busy neighbour blurs by a few
percent; this counts the work instead. The world is ``bench.pages``'s (the sandbox in its own
process, 200 instances, a developer with key pairs over three regions, an auditor), the portal
in this process through the full middleware stack (Django's test ``Client``, DEBUG off, the
floor's settings), every page that answers a GET viewed once to warm the caches, then
``--views`` times under ``cProfile``: the calls per view (Python functions and C functions
called from Python), and their ratio to the floor's. The same views' CPU time without the
profiler is printed beside it, as a reminder of what the count stands for.

For before and after, run it on two commits with this checkout's ``bench/`` in both
(``BENCH=bench.page_calls BENCH_FROM=HEAD bench/compare_commits.sh BEFORE AFTER 1``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from bench import django_env
from bench.common import RESULTS_DIR, heading, line, write_results
from bench.pages import FLOOR, PAGES, REFERENCES, prepare_database
from bench.sandbox_process import SandboxProcess

# The pages a GET shows; the POSTs are bench.pages's.
GET_PAGES = [
    FLOOR,
    "home",
    "create_form",
    "detail",
    "rename_form",
    "list",
    "plain_list",
    "bind",
    "import_form",
    "delete_form",
    "audit_list",
    "timeline",
    "django_admin_list",
    "django_admin_timeline",
]


def page_urls(keypairs: int) -> dict[str, str]:
    from django.contrib.auth.models import User

    from bench.audit_review import timeline_url
    from bench.bind_page import seed as seed_bind
    from bench.keypair_list import seed as seed_keypairs
    from keypairs.audit import audit_record
    from keypairs.models import AuditEvent
    from portal.auth.roles import Role, assign_roles

    developer = User.objects.create_user("bench-developer", email="developer@example.com")
    assign_roles(developer, {Role.DEVELOPER})
    auditor = User.objects.create_user("bench-auditor", email="auditor@example.com")
    assign_roles(auditor, {Role.AUDITOR})
    bind_record = seed_bind(developer)
    followed = seed_keypairs(developer, count=keypairs, regions=["bj", "gz", "su"])
    for action in ("renamed", "description_changed", "bound", "unbound", "renamed"):
        audit_record(action=action, outcome="success", actor=developer, keypair_id=followed.keypair_id, region="bj")
    for number in range(120):  # a full first page of the audit log
        audit_record(action=AuditEvent.Action.SIGNED_IN, outcome="success", actor_username=f"someone-{number}")
    detail = f"/keypairs/{followed.public_id}/"
    return {
        FLOOR: "/bench/floor/",
        "home": "/",
        "create_form": "/keypairs/new",
        "detail": detail,
        "rename_form": detail + "edit",
        "list": "/keypairs/",
        "plain_list": "/bench/plain-list/",
        "bind": f"/keypairs/{bind_record.public_id}/bind/",
        "import_form": "/keypairs/import",
        "delete_form": detail + "delete",
        "audit_list": "/admin/keypairs/auditevent/",
        "timeline": timeline_url("keypair_id", followed.keypair_id),
        "django_admin_list": "/bench/django-admin/keypairs/auditevent/",
        "django_admin_timeline": f"/bench/django-admin/keypairs/auditevent/?keypair_id={followed.keypair_id}&o=1",
    }


def count_calls(client, url: str, views: int) -> tuple[float, float]:
    """(calls per view under cProfile, CPU ms per view without it)."""
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}.")
    started = time.process_time()
    for _ in range(views):
        client.get(url)
    cpu_ms = (time.process_time() - started) * 1000 / views
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(views):
        client.get(url)
    profiler.disable()
    return pstats.Stats(profiler).total_calls / views, cpu_ms


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--views", type=int, default=20)
    parser.add_argument("--keypairs", type=int, default=24, help="the developer's key pairs (a page holds 25)")
    args = parser.parse_args(argv)

    workdir = RESULTS_DIR / f"page_calls_{args.database}"
    workdir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (workdir / f"portal.sqlite3{suffix}").unlink(missing_ok=True)
    database_url = prepare_database(args.database, workdir)
    with SandboxProcess(key_pool=8) as sandbox:
        django_env.configure_in_process(
            database_url,
            DJANGO_SETTINGS_MODULE="bench.floor_settings",
            BCC_ENDPOINT=sandbox.endpoint_template,
            BCC_ACCESS_KEY_ID=sandbox.access_key_id,
            BCC_SECRET_ACCESS_KEY=sandbox.secret_access_key,
        )
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.test import Client

        from bench.bind_page import add_instances

        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)
        add_instances(sandbox, count=200, allowed=100)
        urls = page_urls(args.keypairs)
        clients = {}
        for username in ("bench-developer", "bench-auditor"):
            clients[username] = Client()
            clients[username].force_login(User.objects.get(username=username))
        auditors_pages = {"audit_list", "timeline", "django_admin_list", "django_admin_timeline"}
        figures = {}
        for page in GET_PAGES:
            client = clients["bench-auditor" if page in auditors_pages else "bench-developer"]
            calls, cpu_ms = count_calls(client, urls[page], args.views)
            figures[page] = {"calls_per_view": calls, "cpu_ms_per_view": cpu_ms}
    floor = figures[FLOOR]["calls_per_view"]
    for found in figures.values():
        found["calls_over_floor"] = found["calls_per_view"] / floor

    heading(f"Python calls per page view, in process ({args.database}, {args.views} views each)")
    for page in GET_PAGES:
        label = "the floor" if page == FLOOR else PAGES[page]
        found = figures[page]
        note = " (reference)" if page in REFERENCES else ""
        line(
            label[:44],
            f"{found['calls_per_view']:>9,.0f} calls, x{found['calls_over_floor']:.2f} the floor;"
            f" {found['cpu_ms_per_view']:.1f} ms CPU{note}",
        )
    results = {"database": args.database, "views": args.views, "keypairs": args.keypairs, "pages": figures}
    write_results(f"page_calls_{args.database}", results)
    return results


if __name__ == "__main__":
    main()
