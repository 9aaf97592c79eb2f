"""gunicorn configuration for the portal benchmark: the repository's own, plus timing hooks.

Everything in ``portal/gunicorn.conf.py`` applies unchanged (gthread workers, threads,
timeouts, logging). Added here, for the benchmark only:

- ``post_fork`` wraps ``Transport.call`` (the BCC client's one way out) in each worker, so
  the time a request spends waiting for BCC is summed per request (per thread);
- ``pre_request``/``post_request`` time each request inside the worker and append one line
  per request to ``$BENCH_TIMING_DIR/worker-<pid>.tsv``: the response's X-Request-ID, method,
  path, status, milliseconds in the worker, milliseconds of it spent in BCC calls, and the
  CPU milliseconds the request's thread used (its own work, without waiting on anything),
  then the SQL statements the request ran and the transactions it opened (outermost atomic
  blocks; a statement outside one runs in autocommit, its own transaction).

Every 500 requests each worker appends one line to ``memory-<pid>.tsv`` (requests
served, VmRSS, RssAnon, RssFile, the number of modules imported) and rewrites
``worker-<pid>.modules.txt`` with the names of those modules: how memory grows per 500
requests, and what a worker has imported, at the cost of reading /proc once per 500 requests.

With ``BENCH_TRACEMALLOC=1`` each worker also traces Python allocations and writes, every
500 requests, the 25 lines holding the most memory to ``worker-<pid>.memory.txt`` (a
diagnosis of memory growth; it slows the worker, so never together with timing figures).

With ``BENCH_PROFILE=page,page``, requests whose ``X-Bench-Page`` header (sent by
``bench.pages``) names one of those pages run under pyinstrument; each page's samples accumulate
over its requests and are written when the worker stops, to ``profile-<page>-<pid>.txt`` (a
diagnosis: the profiler slows what it watches, so never together with timing figures).

The load generator joins these lines to its own latencies by X-Request-ID, and subtracts
the BCC time to get the portal's own overhead per request. The wrapper reads a clock twice
per BCC call: microseconds, next to the milliseconds measured.
"""

import functools
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

_repository_config = Path(__file__).resolve().parent.parent / "portal" / "gunicorn.conf.py"
exec(compile(_repository_config.read_text(), str(_repository_config), "exec"))  # noqa: S102 - our own file

_timing = threading.local()
_profiled_pages = {page for page in os.environ.get("BENCH_PROFILE", "").split(",") if page}
_profilers = {}
_timing_files = {}


def post_fork(server, worker):
    from keypairs.bcc import transport

    original_call = transport.Transport.call

    @functools.wraps(original_call)
    def timed_call(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original_call(self, *args, **kwargs)
        finally:
            _timing.bcc_seconds = getattr(_timing, "bcc_seconds", 0.0) + time.perf_counter() - started

    transport.Transport.call = timed_call
    _count_database_work()
    directory = Path(os.environ["BENCH_TIMING_DIR"])
    _timing_files[os.getpid()] = (directory / f"worker-{os.getpid()}.tsv").open("a", buffering=1)
    if os.environ.get("BENCH_TRACEMALLOC") == "1":
        tracemalloc.start()


def _count_database_work():
    """Count, per request thread, each SQL statement and each transaction opened.

    At the class level, so that every connection of every thread is counted, whatever opened it
    (the ORM, the session store, the database cache, a raw cursor).
    """
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper

    def counting(method, counter):
        @functools.wraps(method)
        def counted(self, *args, **kwargs):
            setattr(_timing, counter, getattr(_timing, counter, 0) + 1)
            return method(self, *args, **kwargs)

        return counted

    CursorWrapper.execute = counting(CursorWrapper.execute, "queries")
    CursorWrapper.executemany = counting(CursorWrapper.executemany, "queries")
    original_set_autocommit = BaseDatabaseWrapper.set_autocommit

    @functools.wraps(original_set_autocommit)
    def set_autocommit(self, autocommit, *args, **kwargs):
        if not autocommit:  # the outermost atomic block begins a transaction
            _timing.transactions = getattr(_timing, "transactions", 0) + 1
        return original_set_autocommit(self, autocommit, *args, **kwargs)

    BaseDatabaseWrapper.set_autocommit = set_autocommit


def pre_request(worker, req):
    _start_profile(req)
    _timing.bcc_seconds = 0.0
    _timing.queries = 0
    _timing.transactions = 0
    _timing.cpu_started = time.thread_time()
    _timing.started = time.perf_counter()


def post_request(worker, req, environ, resp):
    elapsed_ms = (time.perf_counter() - _timing.started) * 1000
    cpu_ms = (time.thread_time() - _timing.cpu_started) * 1000
    request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), "-")
    bcc_ms = _timing.bcc_seconds * 1000
    fields = [request_id, req.method, req.path, str(resp.status_code)]
    measured = [f"{elapsed_ms:.3f}", f"{bcc_ms:.3f}", f"{cpu_ms:.3f}", str(_timing.queries), str(_timing.transactions)]
    line = "\t".join([*fields, *measured])
    _timing_files[os.getpid()].write(line + "\n")
    _stop_profile()
    _count_and_trace(worker)


_served = {"count": 0}


def _count_and_trace(worker):
    _served["count"] += 1
    if _served["count"] % 500:
        return
    _record_memory()
    if not tracemalloc.is_tracing():
        return
    top = tracemalloc.take_snapshot().statistics("lineno")[:25]
    path = Path(os.environ["BENCH_TIMING_DIR"]) / f"worker-{os.getpid()}.memory.txt"
    with path.open("a") as report:
        traced, _peak = tracemalloc.get_traced_memory()
        report.write(f"--- after {_served['count']} requests: {traced / 1e6:.1f} MB traced\n")
        report.writelines(f"{stat}\n" for stat in top)


def _start_profile(req):
    _timing.profiled = None
    page = next((value for name, value in req.headers if name.lower() == "x-bench-page"), None)
    if page not in _profiled_pages:
        return
    from pyinstrument import Profiler

    profiler = _profilers.setdefault(page, Profiler(interval=0.001))
    profiler.start()
    _timing.profiled = page


def _stop_profile():
    page = getattr(_timing, "profiled", None)
    if page is None:
        return
    _profilers[page].stop()


def worker_exit(server, worker):
    for page, profiler in _profilers.items():
        _write_profile(page, profiler)


def _write_profile(page, profiler):
    # The functions by their own share of the page's time, then anywhere on the stack, then the tree.
    own = profiler.output_text(time="percent_of_total", flat=True, flat_time="self")
    anywhere = profiler.output_text(time="percent_of_total", flat=True, flat_time="total")
    tree = profiler.output_text(time="percent_of_total")
    path = Path(os.environ["BENCH_TIMING_DIR"]) / f"profile-{page}-{os.getpid()}.txt"
    path.write_text("\n".join([own, anywhere, tree]))


def _record_memory():
    directory = Path(os.environ["BENCH_TIMING_DIR"])
    status = dict(
        row.split(":", 1)
        for row in Path("/proc/self/status").read_text().splitlines()
        if row.startswith(("VmRSS", "Rss"))
    )
    kilobytes = [status.get(name, "0 kB").split()[0] for name in ("VmRSS", "RssAnon", "RssFile", "RssShmem")]
    with (directory / f"memory-{os.getpid()}.tsv").open("a") as report:
        report.write("\t".join([str(_served["count"]), *kilobytes, str(len(sys.modules))]) + "\n")
    (directory / f"worker-{os.getpid()}.modules.txt").write_text("\n".join(sorted(list(sys.modules))) + "\n")
