"""Shipping throughput: audit events per second from the database to a receiver on loopback.

    .venv/bin/python -m bench.audit_shipping --database sqlite|postgres [--events 100000]
        [--batch-sizes 1000,10000] [--destinations tcp,udp,tls,file] [--runs 1] [--profile N]

Ships the newest ``--events`` events of the seeded benchmark log (``bench.audit_seed``: the
same database as ``bench.audit_review``, reused when there) with the portal's own shipper,
``keypairs.audit_shipping.ship_audit_events``, batch after batch as ``manage.py ship_audit
--max-events BATCH`` runs do, to a real receiver started in this process on 127.0.0.1: the
syslog servers the tests use (``tests/syslog_receivers.py``: TCP with octet-counted frames;
the same behind TLS, its self-signed certificate added to a copy of the system's CA bundle
that ``SSL_CERT_FILE`` names, so the shipper trusts it and loads as many CAs as in
production; UDP), and a file in a temporary directory (appended and fsynced per batch).
Before each measurement the shipping cursor is set ``--events`` events behind the chain
head, so every run ships the same events, the newest, as in production. The receivers'
threads run in this process too, so their work (reading, splitting frames) is inside the
figures: the shipper's own rate is a little higher.

Reported per destination and batch size: events per second (checkpoints, one per 100
events and one per batch, are shipped as well but not counted), the process's CPU per
event, and what arrived (UDP may drop datagrams: the count received is printed beside the
count sent). Then ``manage.py ship_audit --max-events BATCH`` is timed as cron runs it, a
process per run (start-up and Django's setup included), ``--command-runs`` times.
``--profile N`` runs cProfile over shipping N events over TCP at the first batch size and
prints the top frames.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, Summary, heading, line, write_results

DESTINATIONS = ("tcp", "udp", "tls", "file")


@contextlib.contextmanager
def receiver_for(kind: str, directory: Path):
    """A (Destination, count-of-messages-received function) for ``kind``, its receiver running."""
    from keypairs.audit_shipping import Destination
    from tests.syslog_receivers import SyslogTCPReceiver, SyslogTLSReceiver, SyslogUDPReceiver, self_signed_certificate

    if kind == "file":
        path = directory / "audit.jsonl"
        path.unlink(missing_ok=True)

        def lines() -> int:
            with path.open("rb") as stream:
                return sum(1 for _ in stream)

        yield Destination(kind="file", path=str(path)), lines
        return
    if kind == "tls":
        cert_path, key_path = self_signed_certificate(directory)
        receiver = SyslogTLSReceiver(cert_path, key_path)
        trusted = _system_bundle_and(cert_path, directory)
    elif kind == "udp":
        receiver = SyslogUDPReceiver()
    else:
        receiver = SyslogTCPReceiver()
    previous = os.environ.get("SSL_CERT_FILE")
    if kind == "tls":
        os.environ["SSL_CERT_FILE"] = trusted
    try:
        yield Destination(kind=kind, host="127.0.0.1", port=receiver.port), lambda: len(receiver.messages)
    finally:
        receiver.stop()
        if kind == "tls":
            os.environ.pop("SSL_CERT_FILE", None)
            if previous is not None:
                os.environ["SSL_CERT_FILE"] = previous


def _system_bundle_and(cert_path: str, directory: Path) -> str:
    """A CA file: the system's CAs and the receiver's certificate, so that the shipper trusts the
    receiver and loads as many CAs per batch as in production (``ssl.create_default_context``)."""
    import ssl

    system = Path(ssl.get_default_verify_paths().cafile or "/nonexistent")
    bundle = directory / "ca-bundle.pem"
    bundle.write_bytes((system.read_bytes() if system.exists() else b"") + Path(cert_path).read_bytes())
    return str(bundle)


def rewind_cursor(events: int) -> None:
    """Benchmark database only: set the cursor ``events`` events before the chain head.

    The newest events, as in production, where the cursor follows the head: what a batch
    costs may depend on how many events come before it.
    """
    from django.utils import timezone

    from keypairs.audit_review import last_event_id
    from keypairs.models import AuditShipCursor

    AuditShipCursor.objects.update_or_create(
        pk=AuditShipCursor.SINGLETON_ID,
        defaults={
            "last_event_id": max(last_event_id() - events, 0),
            "checkpoint_sequence": 0,
            "updated_at": timezone.now(),
        },
    )


def ship(destination, *, events: int, batch: int) -> tuple[int, int, int]:
    """Ship ``events`` events in batches of ``batch``; returns (events shipped, batches, checkpoints)."""
    from keypairs.audit_checkpoints import DEFAULT_CHECKPOINT_EVERY as EVERY
    from keypairs.audit_shipping import ship_audit_events

    shipped = batches = checkpoints = 0
    while shipped < events:
        result = ship_audit_events(destination=destination, max_events=min(batch, events - shipped))
        if result.count == 0:
            break
        shipped += result.count
        batches += 1
        checkpoints += result.count // EVERY + (1 if result.count % EVERY else 0)
    return shipped, batches, checkpoints


def measure(kind: str, *, events: int, batch: int, directory: Path) -> dict:
    rewind_cursor(events)
    with receiver_for(kind, directory) as (destination, received):
        started, cpu_started = time.perf_counter(), time.process_time()
        shipped, batches, checkpoints = ship(destination, events=events, batch=batch)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if kind == "udp":
            deadline = time.monotonic() + 2  # the receiver may still be reading its socket buffer
            while received() < shipped + checkpoints and time.monotonic() < deadline:
                time.sleep(0.05)
        arrived = received()
    return {
        "events": shipped,
        "batches": batches,
        "seconds": seconds,
        "events_per_second": shipped / seconds,
        "cpu_us_per_event": cpu / shipped * 1e6,
        "messages_sent": shipped + checkpoints,
        "messages_received": arrived,
    }


def time_command(database_url: str, *, events: int, batch: int, directory: Path, runs: int) -> dict:
    """``manage.py ship_audit --max-events BATCH`` as cron starts it: a process per run, to TCP.

    What one cron run costs, start-up included; ``--events`` bounds how many runs are made.
    """
    from bench import django_env
    from tests.syslog_receivers import SyslogTCPReceiver

    timings = []
    receiver = SyslogTCPReceiver()
    try:
        for _ in range(runs):
            rewind_cursor(events)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "manage.py", "ship_audit", "--max-events", str(batch)],
                cwd=REPO,
                env=django_env.environment(database_url, AUDIT_SHIP_TO=f"syslog+tcp://127.0.0.1:{receiver.port}"),
                stdout=subprocess.DEVNULL,
                check=True,
            )
            timings.append(time.perf_counter() - started)
    finally:
        receiver.stop()
    seconds = Summary.of(timings)
    return {"batch": batch, "seconds_per_run": seconds, "events_per_run_second": batch / seconds.median}


def profile(*, events: int, batch: int, directory: Path, top: int = 18) -> str:
    rewind_cursor(events)
    with receiver_for("tcp", directory) as (destination, _):
        profiler = cProfile.Profile()
        profiler.enable()
        ship(destination, events=events, batch=batch)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats("audit_shipping|audit_checkpoints|audit.py", top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-sizes", default="1000,10000", help="comma-separated --max-events values")
    parser.add_argument("--destinations", default=",".join(DESTINATIONS))
    parser.add_argument("--runs", type=int, default=1, help="measurements per destination and batch size")
    parser.add_argument("--command-runs", type=int, default=3, help="manage.py ship_audit processes per batch size")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile shipping N events over TCP")
    args = parser.parse_args(argv)
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    destinations = [kind for kind in args.destinations.split(",") if kind]
    if unknown := set(destinations) - set(DESTINATIONS):
        raise SystemExit(f"Unknown destinations: {', '.join(sorted(unknown))}")

    from bench.audit_seed import ensure_rows, prepare_database

    database_url = prepare_database(args.database, fresh=False)
    ensure_rows(args.events)
    from keypairs.models import AuditEvent

    rows = AuditEvent.objects.count()
    results: dict = {"database": args.database, "rows_in_log": rows, "events": args.events, "runs": {}}
    heading(f"Audit shipping: {args.events:,} events of a {rows:,}-row log on {args.database}, to loopback")
    with tempfile.TemporaryDirectory(prefix="bench-audit-shipping-") as temporary:
        directory = Path(temporary)
        for batch in batch_sizes:
            for kind in destinations:
                runs = [measure(kind, events=args.events, batch=batch, directory=directory) for _ in range(args.runs)]
                rates = Summary.of([run["events_per_second"] for run in runs])
                cpu = Summary.of([run["cpu_us_per_event"] for run in runs])
                last = runs[-1]
                results["runs"][f"{kind}_batch_{batch}"] = {
                    "destination": kind,
                    "batch": batch,
                    "events_per_second": rates,
                    "cpu_us_per_event": cpu,
                    "measurements": runs,
                }
                line(
                    f"{kind}, batch {batch:,}",
                    f"{rates.median:,.0f} events/s, {cpu.median:.0f} µs CPU/event, {last['seconds']:.1f} s,"
                    f" {last['batches']} batches, received {last['messages_received']:,} of"
                    f" {last['messages_sent']:,} messages (events and checkpoints), n={rates.count}",
                )
        results["command"] = {}
        for batch in batch_sizes if args.command_runs else []:
            timed = time_command(
                database_url, events=args.events, batch=batch, directory=directory, runs=args.command_runs
            )
            results["command"][f"batch_{batch}"] = timed
            line(
                f"manage.py ship_audit --max-events {batch:,}",
                f"{timed['seconds_per_run'].text(' s', 2)} a run (a process each, TCP):"
                f" {timed['events_per_run_second']:,.0f} events/s while it runs",
            )
        if args.profile:
            text = profile(events=args.profile, batch=batch_sizes[0], directory=directory)
            results["profile"] = text
            print(text)
    write_results(f"audit_shipping_{args.database}", results)
    return results


if __name__ == "__main__":
    main()
