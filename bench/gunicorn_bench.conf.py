"""gunicorn configuration for the portal benchmark: the repository's own, plus timing hooks.

Everything in ``portal/gunicorn.conf.py`` applies unchanged (gthread workers, threads,
timeouts, logging). Added here, for the benchmark only:

- ``post_fork`` wraps ``Transport.call`` (the BCC client's one way out) in each worker, so
  the time a request spends waiting for BCC is summed per request (per thread);
- ``pre_request``/``post_request`` time each request inside the worker and append one line
  per request to ``$BENCH_TIMING_DIR/worker-<pid>.tsv``: the response's X-Request-ID, method,
  path, status, milliseconds in the worker, milliseconds of it spent in BCC calls, and the
  CPU milliseconds the request's thread used (its own work, without waiting on anything).

Every 500 requests each worker appends one line to ``memory-<pid>.tsv`` (requests
served, VmRSS, RssAnon, RssFile, the number of modules imported) and rewrites
``worker-<pid>.modules.txt`` with the names of those modules: how memory grows per 500
requests, and what a worker has imported, at the cost of reading /proc once per 500 requests.

With ``BENCH_TRACEMALLOC=1`` each worker also traces Python allocations and writes, every
500 requests, the 25 lines holding the most memory to ``worker-<pid>.memory.txt`` (a
diagnosis of memory growth; it slows the worker, so never together with timing figures).

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
    directory = Path(os.environ["BENCH_TIMING_DIR"])
    _timing_files[os.getpid()] = (directory / f"worker-{os.getpid()}.tsv").open("a", buffering=1)
    if os.environ.get("BENCH_TRACEMALLOC") == "1":
        tracemalloc.start()


def pre_request(worker, req):
    _timing.bcc_seconds = 0.0
    _timing.cpu_started = time.thread_time()
    _timing.started = time.perf_counter()


def post_request(worker, req, environ, resp):
    elapsed_ms = (time.perf_counter() - _timing.started) * 1000
    cpu_ms = (time.thread_time() - _timing.cpu_started) * 1000
    request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), "-")
    bcc_ms = _timing.bcc_seconds * 1000
    fields = [request_id, req.method, req.path, str(resp.status_code)]
    line = "\t".join([*fields, f"{elapsed_ms:.3f}", f"{bcc_ms:.3f}", f"{cpu_ms:.3f}"])
    _timing_files[os.getpid()].write(line + "\n")
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
