"""The portal served by real gunicorn processes, and a scripted browser to use it, for tests
that need processes: claim races across workers, two instances on one database, load.

``GunicornPortal.start`` runs ``gunicorn -c portal/gunicorn.conf.py portal.wsgi`` (the
production command) on a free loopback port, with production settings (DEBUG off, JSON
logs, secure cookies, HSTS) and these test-only differences:

- ``DJANGO_SETTINGS_MODULE=portal.test_settings``, for its static files storage (a fresh
  clone has no collected ``staticfiles/``) and its fast password hasher;
- the load balancer is played by the client: it sends ``X-Forwarded-Proto: https``, which
  ``SECURE_PROXY_SSL_HEADER`` makes Django trust, so no TLS is needed on loopback;
- ``ALLOW_LOCAL_AUTH_IN_PRODUCTION``: sessions are made by the test (``session_for``), since
  sign-in is not what these tests are about;
- the BCC sandbox, the database, ``SECRET_KEY`` and ``AUDIT_HMAC_KEY`` are the caller's, so
  that sessions made by the test process are valid there and the audit chain it verifies is
  signed with its key;
- the per-user cap and create rate limit are far above what a test reaches: they are tested
  elsewhere, and on a shared Redis an earlier run's counters (users are numbered from 1 again
  in every fresh test database) would otherwise refuse this run's creates. Their checks still
  run on every create.

Everything gunicorn prints (stdout and stderr) is collected in ``lines``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"The portal is ready at (http://[0-9.]+:\d+/)")
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
START_SECONDS = 60
STOP_SECONDS = 40
# What a child needs from this process's environment; everything else is set explicitly, so
# that nothing of the test run's own configuration leaks into the portal under test.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
UNREACHABLE_LIMITS = {"KEYPAIR_CREATE_RATE_LIMIT": "1000", "KEYPAIR_MAX_PER_USER_PER_REGION": "100000"}


def migrate(environment: dict[str, str]) -> None:
    """Apply the migrations to the database ``environment`` names, as any deploy does before serving.

    /healthz needs the database cache's table too, which migrate creates.
    """
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=environment, capture_output=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr


def production_environment(
    *, database_url: str, sandbox, secret_key: str, audit_hmac_key: str, redis_url: str = "", **extra: str
) -> dict[str, str]:
    environment = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    environment.update(
        DJANGO_SETTINGS_MODULE="portal.test_settings",
        DEBUG="false",
        SECRET_KEY=secret_key,
        AUDIT_HMAC_KEY=audit_hmac_key,
        # The same for every instance started here, like SECRET_KEY in a real deployment.
        DOWNLOAD_TOKEN_KEY="test-only-download-token-key-0123456789abcdef",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_PROXY_SSL_HEADER="true",
        ALLOW_LOCAL_AUTH_IN_PRODUCTION="true",
        DATABASE_URL=database_url,
        BCC_ENDPOINT=sandbox.endpoint_template,
        BCC_ACCESS_KEY_ID=sandbox.access_key_id,
        BCC_SECRET_ACCESS_KEY=sandbox.secret_access_key,
        BCC_REGIONS="bj,gz,su",
        BCC_DEFAULT_REGION="bj",
        PYTHONUNBUFFERED="1",
        **UNREACHABLE_LIMITS,
    )
    if redis_url:
        environment["REDIS_URL"] = redis_url
    environment.update(extra)
    return environment


@dataclass
class GunicornPortal:
    process: subprocess.Popen
    url: str = ""
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @classmethod
    def start(cls, environment: dict[str, str], *, workers: int = 2, threads: int = 4) -> GunicornPortal:
        """Start gunicorn and return once a worker answers /healthz with 200."""
        environment = {
            **environment,
            "GUNICORN_BIND": "127.0.0.1:0",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # so that stopping it stops its workers too
        )
        portal = cls(process)
        ready = threading.Event()
        portal._reader = threading.Thread(target=portal._read, args=(ready,), daemon=True)
        portal._reader.start()
        try:
            if not ready.wait(START_SECONDS) or not portal.url:
                raise RuntimeError("gunicorn did not start:\n" + portal.output())
            portal._wait_until_healthy()
        except BaseException:
            portal.stop()
            raise
        return portal

    def _read(self, ready: threading.Event) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            found = READY.search(line)
            if found and not self.url:
                self.url = found.group(1)
                ready.set()
        ready.set()  # the process ended: stop waiting

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "healthz", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("gunicorn never answered /healthz with 200:\n" + self.output())

    def stop(self) -> int | None:
        """SIGTERM (a graceful stop: requests in flight finish), then wait; returns the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        return self.process.returncode

    def output(self) -> str:
        return "\n".join(self.lines)


# --- A scripted browser ---------------------------------------------------------------------


class PortalBrowser:
    """One person's browser: their session cookie, and whatever cookies the portal sets.

    Talks plain HTTP to gunicorn but says ``X-Forwarded-Proto: https``, as the load balancer
    would, and keeps sending the portal's Secure cookies as a browser on https:// would
    (requests itself only sends those over https).
    """

    def __init__(self, session_key: str) -> None:
        self.http = requests.Session()
        self.http.cookies.set("sessionid", session_key)
        self.http.headers["X-Forwarded-Proto"] = "https"

    def request(self, method: str, url: str, **arguments) -> requests.Response:
        arguments.setdefault("timeout", 60)
        arguments.setdefault("allow_redirects", False)
        response = self.http.request(method, url, **arguments)
        for cookie in self.http.cookies:
            cookie.secure = False  # this browser is "on https": see the class docstring
        return response

    def get(self, url: str) -> requests.Response:
        return self.request("GET", url)

    def create(self, portal_url: str, *, name: str, region: str = "bj", description: str = "") -> requests.Response:
        """Open the form and submit it; returns the POST's response (a redirect when created)."""
        form = self.get(portal_url + "keypairs/new")
        form.raise_for_status()
        return self.request(
            "POST",
            portal_url + "keypairs/new",
            data={
                "name": name,
                "description": description,
                "region": region,
                "form_token": FORM_TOKEN.search(form.text).group(1),
                "csrfmiddlewaretoken": self.http.cookies["csrftoken"],
            },
            headers={"Referer": _https(portal_url) + "keypairs/new"},
        )

    def download(self, portal_url: str, detail_path: str) -> requests.Response:
        """Press "Download" on a key pair's page (``detail_path`` like ``/keypairs/<id>/``)."""
        return self.request(
            "POST",
            portal_url.rstrip("/") + detail_path + "download",
            data={"csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
            headers={"Referer": _https(portal_url).rstrip("/") + detail_path},
        )

    def copy(self) -> PortalBrowser:
        """Another tab of the same browser: the same cookies, its own connection."""
        twin = PortalBrowser(self.http.cookies["sessionid"])
        for cookie in self.http.cookies:
            twin.http.cookies.set_cookie(cookie)
        return twin


def _https(url: str) -> str:
    """The address the browser believes it is on (the load balancer's https://), for Referer."""
    parts = urlsplit(url)
    return f"https://{parts.netloc}/"


def run_database_url() -> str:
    """A DATABASE_URL for the test run's own (test) database, for gunicorn to share with the test.

    Data the test writes must be committed to be seen there: use ``transaction=True``.
    """
    from django.db import connection

    from tests import backing_services

    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    if connection.vendor == "postgresql":
        server = {key: str(database.get(key) or "") for key in ("USER", "PASSWORD", "HOST", "PORT")}
        return backing_services.postgres_url(server, database["NAME"])
    raise NotImplementedError(f"gunicorn tests know SQLite and PostgreSQL, not {connection.vendor}")


def developer(username: str):
    """A person holding the developer role: the key pair pages let them in."""
    from django.contrib.auth import get_user_model

    from portal.auth.roles import Role, assign_roles

    user = get_user_model().objects.create_user(username=username)
    assign_roles(user, {Role.DEVELOPER})
    return user


def session_for(user) -> str:
    """A signed-in session for ``user`` in this process's database, as its session cookie value."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value
