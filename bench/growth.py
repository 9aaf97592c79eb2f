"""How cost grows with the audit log: the list page and the create path at 10k, 100k and 1M rows.

    .venv/bin/python -m bench.growth --database sqlite|postgres [--sizes 10000,100000,1000000] [--creates 40]

Starting from a fresh database, the audit log is seeded (``bench.audit_seed``) to each size
in turn, and at each size this times, in this process through Django's full middleware
stack (test ``Client``, DEBUG off):

- the admin's audit log list, first page (as an auditor);
- the create path: a developer's POST of the create form, against a BCC sandbox in its own
  process (key pool), which writes the request, two audit rows and the encrypted delivery.
  The time the BCC call took (from the client's own call record) is reported beside it.

A cost that does not depend on the log's size stays flat from 10k to 1M rows.
"""

from __future__ import annotations

import argparse
import re
import time

from bench.common import Summary, heading, line, write_results
from bench.sandbox_process import SandboxProcess

LIST_URL = "/admin/keypairs/auditevent/"
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def developer():
    from django.contrib.auth.models import Permission, User

    user, created = User.objects.get_or_create(username="bench-developer")
    if created:
        user.user_permissions.add(
            Permission.objects.get(codename="add_keypairrequest", content_type__app_label="keypairs")
        )
    return user


def time_creates(client, count: int) -> tuple[Summary, Summary]:
    """(ms per create POST, ms of it in the BCC call), ``count`` creates after one warm-up."""
    from keypairs.bcc.factory import get_client

    totals, bcc = [], []
    for number in range(count + 1):
        form = client.get("/keypairs/new")
        token = _FORM_TOKEN.search(form.content.decode())
        if form.status_code != 200 or not token:
            raise SystemExit(f"The create form answered {form.status_code}.")
        data = {"name": f"growth-{time.time_ns()}", "description": "", "region": "bj", "form_token": token.group(1)}
        started = time.perf_counter()
        response = client.post("/keypairs/new", data)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 302:
            raise SystemExit(f"The create answered {response.status_code}.")
        if number:  # the first one warms up the BCC client's connection
            totals.append(elapsed)
            bcc.append(get_client("bj").last_call.latency_ms)
    return Summary.of(totals), Summary.of(bcc)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=7, help="list page requests per size")
    parser.add_argument("--creates", type=int, default=40, help="creates per size")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]

    with SandboxProcess(key_pool=16) as sandbox:
        from bench.audit_seed import ensure_rows, prepare_database

        # The sandbox's keys go to the in-process portal through its ordinary settings.
        prepare_database(
            args.database,
            fresh=True,
            settings={
                "BCC_ENDPOINT": sandbox.endpoint_template,
                "BCC_ACCESS_KEY_ID": sandbox.access_key_id,
                "BCC_SECRET_ACCESS_KEY": sandbox.secret_access_key,
            },
        )
        from django.test import Client

        from bench.audit_review import signed_in_client, time_page

        auditor = signed_in_client()
        creator = Client()
        creator.force_login(developer())
        results: dict = {"database": args.database, "sizes": {}}
        for size in sizes:
            ensure_rows(size, progress=False)
            list_page = time_page(auditor, LIST_URL, args.runs)
            create, bcc = time_creates(creator, args.creates)
            results["sizes"][size] = {"list_first_page_ms": list_page, "create_ms": create, "create_bcc_ms": bcc}

    heading(f"Growth: admin list and create path against the audit log's size ({args.database}, in-process)")
    for size, figures in results["sizes"].items():
        print(f"    -- {size:,} audit rows (before the creates)")
        line("admin list, first page", figures["list_first_page_ms"].text(" ms", 1))
        line("create POST", figures["create_ms"].text(" ms", 1))
        line("  of which the BCC call", figures["create_bcc_ms"].text(" ms", 1))
    first, last = results["sizes"][sizes[0]], results["sizes"][sizes[-1]]
    results["list_growth"] = last["list_first_page_ms"].median / first["list_first_page_ms"].median
    results["create_growth"] = last["create_ms"].median / first["create_ms"].median
    line(f"list page, {sizes[-1]:,} vs {sizes[0]:,} rows", f"x{results['list_growth']:.2f}")
    line(f"create, {sizes[-1]:,} vs {sizes[0]:,} rows", f"x{results['create_growth']:.2f}")
    write_results(f"growth_{args.database}", results)
    return results


if __name__ == "__main__":
    main()
