"""gunicorn configuration, used by `make run` and in production.

Every value can be overridden from the environment (see README.md, 'Operations').
"""

import os

from portal import embedded_sandbox

_port = os.environ.get("PORT", "8000")
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{_port}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let one worker wait on BCC (a create takes a round trip to the cloud) while
# serving other requests.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Above BCC's connect + read timeouts, so a slow BCC answer ends in a clear message
# rather than a killed worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Trust X-Forwarded-* only from the load balancer's addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# %(U)s is the path without its query string: nothing a query carries reaches the log.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

_sandbox = None


def on_starting(server):
    global _sandbox
    if embedded_sandbox.wanted(os.environ):
        _sandbox = embedded_sandbox.start(os.environ)
        server.log.info("BCC sandbox (built in, no cloud account needed) at %s", _sandbox.url)


def when_ready(server):
    for host, port in (sock.getsockname()[:2] for sock in server.LISTENERS if hasattr(sock, "getsockname")):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only displayed
        print(f"\n  The portal is ready: open http://{shown}:{port}/\n", flush=True)


def on_exit(server):
    if _sandbox is not None:
        _sandbox.stop()
