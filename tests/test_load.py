"""A bounded load test on loopback: several people create and download key pairs at once, for a
fixed time, against real gunicorn workers and the BCC sandbox.

It is a sanity check, not a benchmark (bench/ measures): under concurrency nothing may fail,
every operation leaves exactly its audit rows (a create two: requested, created; a download
one: downloaded), the audit chain verifies, and BCC holds exactly the key pairs the portal
created. It runs on the test run's own database (SQLite, or PostgreSQL when DATABASE_URL
points there) and cache (Redis when REDIS_URL is set); gunicorn runs two workers of four
threads, with production settings (tests/gunicorn_portal.py).

Bounded: USERS people for DURATION_SECONDS (or MAX_CREATES_PER_PERSON key pairs each, whichever
comes first), each doing one thing at a time and pausing THINK_SECONDS on each page, as people do.
"""

from __future__ import annotations

import itertools
import re
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.conf import settings

from keypairs.audit import audit_verify
from keypairs.models import AuditEvent, Delivery, KeyPairRequest
from tests.gunicorn_portal import (
    GunicornPortal,
    PortalBrowser,
    developer,
    production_environment,
    run_database_url,
    session_for,
)

pytestmark = [pytest.mark.load, pytest.mark.django_db(transaction=True)]

USERS = 4
DURATION_SECONDS = 15
# A fast machine stops here before the deadline: BCC's quota is 500 key pairs per region.
MAX_CREATES_PER_PERSON = 100
# A person reads the new key pair's page before pressing Download, and the confirmation after.
# Without it four robots keep both cores busy generating RSA keys in the sandbox, and the
# timing-sensitive tests other pytest-xdist workers run meanwhile start timing out.
THINK_SECONDS = 0.25
REGIONS = ("bj", "gz", "su")


@dataclass
class Tally:
    """What the simulated people did; shared by their threads."""

    creates: int = 0
    downloads: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"create": [], "download": []})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, seconds: float) -> None:
        with self.lock:
            self.latencies[operation].append(seconds)
            if operation == "create":
                self.creates += 1
            else:
                self.downloads += 1

    def fail(self, problem: str) -> None:
        with self.lock:
            self.errors.append(problem)


def person(browser: PortalBrowser, number: int, portal_url: str, deadline: float, tally: Tally) -> None:
    """One person: create a key pair, open its page, download its private key; again until the
    deadline. The first thing that goes wrong is recorded and ends this person's session."""
    regions = itertools.cycle(REGIONS)
    for attempt in range(MAX_CREATES_PER_PERSON):
        if time.monotonic() >= deadline:
            return
        try:
            started = time.monotonic()
            created = browser.create(portal_url, name=f"load-{number}-{attempt}", region=next(regions))
            if created.status_code != 302 or "/keypairs/" not in created.headers.get("Location", ""):
                tally.fail(f"create answered {created.status_code}: {_title(created.text)}")
                return
            tally.record("create", time.monotonic() - started)
            detail_path = created.headers["Location"]
            page = browser.get(portal_url.rstrip("/") + detail_path)
            if page.status_code != 200:
                tally.fail(f"key pair page answered {page.status_code}: {_title(page.text)}")
                return
            time.sleep(THINK_SECONDS)
            started = time.monotonic()
            downloaded = browser.download(portal_url, detail_path)
            if downloaded.status_code != 200 or b"PRIVATE KEY-----" not in downloaded.content:
                tally.fail(f"download answered {downloaded.status_code}: {_title(downloaded.text)}")
                return
            tally.record("download", time.monotonic() - started)
            time.sleep(THINK_SECONDS)
        except Exception as error:  # counted, and shown by the assertion
            tally.fail(f"{type(error).__name__}: {error}")
            return


def _title(page: str) -> str:
    """A refusal page's title and first message, to say what went wrong (never a key: those
    come only in a successful download, which is not a refusal)."""
    found = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    message = re.search(r'class="[^"]*(?:error|message)[^"]*"[^>]*>(.*?)<', page, re.DOTALL)
    return " / ".join(part.group(1).strip() for part in (found, message) if part) or page[:200]


def test_concurrent_people_create_and_download_without_an_error_and_the_audit_log_adds_up(
    sandbox, capsys, record_property
):
    browsers = [PortalBrowser(session_for(developer(f"load-{number}"))) for number in range(USERS)]
    audit_rows_before = AuditEvent.objects.count()
    environment = production_environment(
        database_url=run_database_url(),
        sandbox=sandbox,
        secret_key=settings.SECRET_KEY,
        audit_hmac_key=settings.AUDIT_HMAC_KEY,
        redis_url=settings.REDIS_URL,
    )
    portal = GunicornPortal.start(environment, workers=2, threads=4)
    tally = Tally()
    try:
        started = time.monotonic()
        deadline = started + DURATION_SECONDS
        people = [
            threading.Thread(target=person, args=(browser, number, portal.url, deadline, tally))
            for number, browser in enumerate(browsers)
        ]
        for thread in people:
            thread.start()
        for thread in people:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        exit_code = portal.stop()

    figures = _figures(tally, elapsed)
    record_property("load", figures)
    with capsys.disabled():
        print(f"\nload: {figures}")

    assert tally.errors == []
    assert tally.creates >= USERS, "the portal served almost nothing in the time given"
    assert tally.downloads == tally.creates
    assert exit_code == 0, portal.output()

    assert KeyPairRequest.objects.filter(status=KeyPairRequest.Status.CREATED).count() == tally.creates
    assert KeyPairRequest.objects.count() == tally.creates
    assert Delivery.objects.filter(claimed_at__isnull=False, ciphertext__isnull=True).count() == tally.downloads
    new_rows = AuditEvent.objects.filter(id__gt=_last_id_before(audit_rows_before))
    assert Counter(new_rows.values_list("action", flat=True)) == {
        "requested": tally.creates,
        "created": tally.creates,
        "downloaded": tally.downloads,
    }
    assert AuditEvent.objects.count() - audit_rows_before == 2 * tally.creates + tally.downloads
    assert audit_verify().ok
    assert sum(len(sandbox.keypairs(region=region)) for region in REGIONS) == tally.creates

    assert not [line for line in portal.lines if '"level":"ERROR"' in line or "Traceback" in line]


def _last_id_before(count: int) -> int:
    ids = list(AuditEvent.objects.order_by("id").values_list("id", flat=True)[:count])
    return ids[-1] if ids else 0


def _figures(tally: Tally, elapsed: float) -> dict:
    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else (values[0] if values else 0.0)

    operations = tally.creates + tally.downloads
    return {
        "users": USERS,
        "seconds": round(elapsed, 1),
        "creates": tally.creates,
        "downloads": tally.downloads,
        "errors": len(tally.errors),
        "operations_per_second": round(operations / elapsed, 1),
        "create_ms_median": round(1000 * statistics.median(tally.latencies["create"] or [0])),
        "create_ms_p95": round(1000 * p95(tally.latencies["create"])),
        "download_ms_median": round(1000 * statistics.median(tally.latencies["download"] or [0])),
        "download_ms_p95": round(1000 * p95(tally.latencies["download"])),
    }
