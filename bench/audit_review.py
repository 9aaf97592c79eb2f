"""Audit review at scale: the admin's audit log pages with a million rows, SQLite and PostgreSQL.

    .venv/bin/python -m bench.audit_review --database sqlite|postgres [--rows 1000000] [--runs 7] [--queries]

Seeds the benchmark database's audit log up to ``--rows`` (``bench.audit_seed``: a valid
chain, realistic rows; reused when already there), signs in an auditor (a superuser) and
times, in this process through Django's full middleware stack (test ``Client``, DEBUG off;
no HTTP, no gunicorn), each of:

- the audit log's first page (``/admin/keypairs/auditevent/``),
- filtered pages (security events; one action in one region),
- a search by key pair id (``?q=k-...``),
- case-insensitive prefix searches (issue 11): the start of a key pair name and of an
  actor's name, in mixed case (``?q=Dev123-Web``, ``?q=DEV12``),
- timelines (issue 11), through the links the list itself shows: one key pair's events (with
  its create's first rows, matched by request id) and one person's, oldest first,
- the CSV export, in rows per second, if the admin has one (issue 4).

Each is requested once to warm up, then ``--runs`` times; the median and spread are
reported. ``--queries`` also prints each page's SQL with its time (one extra request).
Targets (issue 6): first page <= 300 ms, search <= 100 ms (the id search, both prefix
searches, and, held to the same bound, both timelines).
"""

from __future__ import annotations

import argparse
import time

from bench.common import Summary, heading, line, verdict, write_results

FIRST_PAGE_TARGET_MS = 300.0
SEARCH_TARGET_MS = 100.0
LIST_URL = "/admin/keypairs/auditevent/"


def auditor():
    from django.contrib.auth.models import User

    user, _ = User.objects.get_or_create(
        username="bench-auditor", defaults={"is_staff": True, "is_superuser": True, "email": "auditor@example.com"}
    )
    return user


def signed_in_client():
    from django.test import Client

    client = Client()
    client.force_login(auditor())
    return client


def sample_keypair_id(rows: int) -> str:
    """A key pair id from the middle of the log: neither the newest page nor the oldest."""
    from keypairs.models import AuditEvent

    keypair_id = (
        AuditEvent.objects.filter(id__gte=rows // 2, action="created").values_list("keypair_id", flat=True).first()
    )
    if not keypair_id:
        raise SystemExit("No created key pair in the seeded log.")
    return keypair_id


def sample_actor(keypair_id: str) -> str:
    from keypairs.models import AuditEvent

    return AuditEvent.objects.filter(keypair_id=keypair_id).values_list("actor_username", flat=True).first()


def timeline_url(field: str, value: str) -> str:
    """The href of the timeline link the list shows for ``value`` (the admin builds it)."""
    import html
    import re

    from django.contrib import admin

    from keypairs.models import AuditEvent

    link = admin.site._registry[AuditEvent]._timeline_link(field, value, "")
    return html.unescape(re.search(r'href="([^"]+)"', link).group(1))


def mixed_case(text: str) -> str:
    """ "dev123-web" -> "Dev123-Web": what an auditor types, not what the log holds."""
    return "-".join(part[:1].upper() + part[1:] for part in text.split("-"))


def time_page(client, url: str, runs: int) -> Summary:
    response = client.get(url)  # warm-up, and a check that the page works
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    return Summary.of(timings)


def page_queries(client, url: str) -> list[tuple[float, str]]:
    """(ms, SQL) of every query one request of ``url`` makes, slowest first."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return sorted(((float(query["time"]) * 1000, query["sql"]) for query in captured.captured_queries), reverse=True)


def export_url() -> str | None:
    """The audit log's CSV export in the admin, if issue 4 has added one (found by URL name)."""
    from django.contrib import admin
    from django.urls import NoReverseMatch, reverse

    from keypairs.models import AuditEvent

    model_admin = admin.site._registry.get(AuditEvent)
    if model_admin is None:
        return None
    for pattern in model_admin.get_urls():
        name = getattr(pattern, "name", "") or ""
        if "export" in name or "csv" in name:
            try:
                return reverse(f"admin:{name}")
            except NoReverseMatch:
                continue
    return None


def time_export(client, url: str, runs: int) -> dict:
    rates, sizes = [], []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.post(url)  # a POST since it writes an audit row (the test client skips CSRF)
        if response.status_code != 200:
            return {"status": response.status_code}
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seconds = time.perf_counter() - started
        rows = max(body.count(b"\n") - 1, 0)  # minus the header line
        rates.append(rows / seconds)
        sizes.append(rows)
    return {"url": url, "rows": sizes[-1], "rows_per_second": Summary.of(rates)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--fresh", action="store_true", help="reseed from an empty database")
    parser.add_argument("--queries", action="store_true", help="print every page's SQL with its time")
    parser.add_argument("--export-runs", type=int, default=1, help="0 skips the CSV export")
    args = parser.parse_args(argv)

    from bench.audit_seed import ensure_rows, prepare_database

    prepare_database(args.database, fresh=args.fresh)
    ensure_rows(args.rows)
    from django.core.management import call_command

    call_command("collectstatic", verbosity=0, interactive=False)  # DEBUG off: the pages need the manifest
    from keypairs.models import AuditEvent

    rows = AuditEvent.objects.count()
    client = signed_in_client()
    keypair_id = sample_keypair_id(rows)
    actor = sample_actor(keypair_id)  # "dev123"
    name_prefix = mixed_case(f"{actor}-web")  # "Dev123-Web": about 1 row in 2,500
    actor_prefix = actor[:-1].upper()  # "DEV12": ten people's rows and key pair names, about 2%
    pages = {
        "first_page": LIST_URL,
        "filtered_security_events": LIST_URL + "?is_security_event__exact=1",
        "filtered_action_and_region": LIST_URL + "?action__exact=download_refused&region__exact=gz",
        "search_keypair_id": LIST_URL + f"?q={keypair_id}",
        "search_name_prefix": LIST_URL + f"?q={name_prefix}",
        "search_actor_prefix": LIST_URL + f"?q={actor_prefix}",
        # "Dev": every actor and every name of the seeded log starts so; the worst case.
        "search_broad_prefix": LIST_URL + f"?q={mixed_case(actor[:3])}",
        "timeline_keypair": timeline_url("keypair_id", keypair_id),
        "timeline_person": timeline_url("actor_username", actor),
    }
    results: dict = {"database": args.database, "rows": rows, "pages_ms": {}, "queries": {}}
    for name, url in pages.items():
        results["pages_ms"][name] = time_page(client, url, args.runs)
        if args.queries:
            results["queries"][name] = [(round(ms, 2), sql[:400]) for ms, sql in page_queries(client, url)]
    url = export_url()
    results["csv_export"] = time_export(client, url, args.export_runs) if url and args.export_runs else None
    results["urls"] = pages
    searches = [name for name in pages if name.startswith(("search_", "timeline_"))]
    results["targets_ms"] = {"first_page": FIRST_PAGE_TARGET_MS, **dict.fromkeys(searches, SEARCH_TARGET_MS)}
    results["first_page_target_met"] = results["pages_ms"]["first_page"].median <= FIRST_PAGE_TARGET_MS
    results["search_target_met"] = results["pages_ms"]["search_keypair_id"].median <= SEARCH_TARGET_MS
    results["searches_missed"] = [name for name in searches if results["pages_ms"][name].median > SEARCH_TARGET_MS]

    heading(f"Audit review: admin pages with {rows:,} audit rows on {args.database} (in-process, DEBUG off)")
    for name, summary in results["pages_ms"].items():
        line(name.replace("_", " "), summary.text(" ms", 1))
        if name.startswith(("search_", "timeline_")):
            print(f"        {pages[name]}")
        for ms, sql in results["queries"].get(name, [])[:4]:
            print(f"        {ms:8.2f} ms  {sql[:160]}")
    if results["csv_export"] and "rows_per_second" in results["csv_export"]:
        export = results["csv_export"]
        line(f"CSV export ({export['rows']:,} rows)", export["rows_per_second"].text(" rows/s", 0))
    elif results["csv_export"]:
        line("CSV export", f"answered HTTP {results['csv_export']['status']}")
    elif not args.export_runs:
        line("CSV export", "skipped (--export-runs 0)")
    else:
        line("CSV export", "TODO: the admin has no CSV export yet (issue 4)")
    line(f"target: first page <= {FIRST_PAGE_TARGET_MS:.0f} ms", verdict(results["first_page_target_met"]))
    line(f"target: id search <= {SEARCH_TARGET_MS:.0f} ms", verdict(results["search_target_met"]))
    missed = ", ".join(results["searches_missed"])
    line(
        f"target: prefix searches, timelines <= {SEARCH_TARGET_MS:.0f} ms",
        verdict(not missed) + (f" ({missed})" if missed else ""),
    )
    write_results(f"audit_review_{args.database}", results)
    return results


if __name__ == "__main__":
    main()
