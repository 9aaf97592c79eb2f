"""gunicorn configuration, used by `make run` and in production.

Every value can be overridden from the environment (README.md, "Configuration" and
"Operations"); the defaults suit a small VM or container.

Workers and threads: ``gthread`` workers, so one worker waits on BCC (a create is a round
trip to the cloud plus a 2048-bit key generation there) while its other threads serve
pages. Each worker holds its own database connections: workers x threads must stay below
what the database accepts from all instances together.

Shutdown: SIGTERM (what systemd, ``docker stop`` and Kubernetes send) is gunicorn's
graceful stop: workers stop accepting connections and finish the requests in flight for up
to ``graceful_timeout`` seconds (a create waiting on BCC gets its answer and its audit row),
then exit. Give the orchestrator a grace period above ``GUNICORN_GRACEFUL_TIMEOUT``. A create
cut short anyway is left ``pending`` for ``manage.py reconcile``.

Memory: a worker is replaced after about ``max_requests`` requests (with jitter, so that the
workers do not all restart at once), which bounds what any slow leak can take. Before that,
glibc's allocator is told to give memory back (``_tune_malloc`` below; docs/benchmarks.md,
"Memory after 2,000 mixed requests").

Access log: the path without its query string (``%(U)s``), status, size, duration, the
portal's request id and the worker's pid. Never the request line (``%(r)s``), the query string, the referrer, a
cookie or any request header: a token put in a URL by mistake must not reach the log. With
``LOG_FORMAT=json`` (the default without DEBUG) gunicorn's own lines are JSON objects too,
the access fields as keys (portal/logging.py).

No control socket: gunicorn 25+ opens one by default at a path shared by every instance of
the same user on a host, where a second instance takes it over. It is enabled only when
``GUNICORN_CONTROL_SOCKET`` names a path of this instance's own.
"""

import ctypes
import gc
import os
from pathlib import Path

import environ

from portal import embedded_sandbox
from portal import logging as portal_logging

# DEBUG and LOG_FORMAT as settings.py will read them in the workers, .env file included.
_dotenv = Path(__file__).resolve().parent.parent / ".env"
if _dotenv.is_file():
    environ.Env.read_env(_dotenv)
_debug = environ.Env().bool("DEBUG", default=False)
_log_format = portal_logging.log_format(os.environ.get("LOG_FORMAT", ""), debug=_debug)

proc_name = "bcc-keypair-portal"
_port = os.environ.get("PORT", "8000")
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{_port}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Above BCC's connect + read timeouts, so a slow BCC answer ends in a clear message rather
# than a killed worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))
# Workers prove they are alive by touching a file; on a slow disk a late touch gets a healthy
# worker killed, so the files go to memory where there is a tmpfs for it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's documented choice
# Trust X-Forwarded-Proto (the scheme) only from the load balancer's addresses. Without
# FORWARDED_ALLOW_IPS, the proxies the portal trusts for the client's address (TRUSTED_PROXIES):
# one list of balancers for both.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or os.environ.get("TRUSTED_PROXIES") or "127.0.0.1"
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "") or "gunicorn.ctl"
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")

accesslog = "-"
# %(h)s is the client's address as the portal decides it (TRUSTED_PROXIES), not the balancer's.
logger_class = "portal.gunicorn_logger.ClientAddressLogger"
# %(U)s is the path without its query string: nothing a query carries reaches the log.
# pid=: which worker served the request (what differs between workers shows up by pid).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s pid=%(p)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

if _log_format == "json":
    # Replaces gunicorn's handlers (not its choice of streams: access to stdout, the rest to stderr).
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "portal.logging.JsonFormatter"}},
        "handlers": {
            "access": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
            "error": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        },
        "root": {"level": "INFO", "handlers": ["error"]},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }

# glibc's allocator, for a worker of a few threads under one interpreter lock (docs/benchmarks.md,
# "Memory after 2,000 mixed requests": 3-4 MB less per worker on PostgreSQL). By default glibc gives each
# thread that meets another in malloc an arena of its own (up to 8 per core; the list page's
# BCC walk starts threads too), and after a large block (the list page reads BCC's cached walk
# back, tens of kB a region) is freed it raises its mmap and trim thresholds up to 32 and 64 MB, so later
# large blocks stay in the heap and freed memory is rarely returned. Fixed thresholds keep
# large blocks in mappings of their own, unmapped when freed.
# glibc reads MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ from the
# environment only when the process starts: setting os.environ here would come too late. So
# the defaults are set with mallopt(), in the master before it forks, which the workers inherit;
# a variable set in gunicorn's environment has already been applied by glibc and is left alone.
_MALLOPT_DEFAULTS = {
    # (mallopt's parameter number, default): M_ARENA_MAX, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    "MALLOC_ARENA_MAX": (-8, 2),
    "MALLOC_MMAP_THRESHOLD_": (-3, 128 * 1024),
    "MALLOC_TRIM_THRESHOLD_": (-1, 128 * 1024),
}


def _tune_malloc() -> None:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): its own allocator's defaults
        return
    for name, (parameter, value) in _MALLOPT_DEFAULTS.items():
        if name not in os.environ:
            mallopt(parameter, value)


_tune_malloc()

_sandbox = None


def post_worker_init(worker):
    # The application is loaded: what it made at start-up (about 30 MB of modules, classes and
    # URL patterns) lives as long as the worker. Frozen, the cyclic collector stops counting
    # it, so its full collections come as often as the requests' own garbage asks for rather
    # than once that garbage reaches a quarter of everything loaded (about 1 MB less per worker
    # after 2,000 requests, in one run). Collected first, so that no start-up garbage is kept.
    gc.collect()
    gc.freeze()


def on_starting(server):
    global _sandbox
    if embedded_sandbox.wanted(os.environ):
        _sandbox = embedded_sandbox.start(os.environ)
        server.log.info("BCC sandbox (built in, no cloud account needed) at %s", _sandbox.url)


def when_ready(server):
    for host, port in (sock.getsockname()[:2] for sock in server.LISTENERS if hasattr(sock, "getsockname")):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only displayed
        if _log_format == "plain":
            # For the person who typed `make run`: the line to click, set apart.
            print(f"\n  The portal is ready: open http://{shown}:{port}/\n", flush=True)
        else:
            server.log.info("The portal is ready at http://%s:%s/", shown, port)


def on_exit(server):
    if _sandbox is not None:
        _sandbox.stop()
