"""`make run`, as a new user runs it: the printed URL serves the portal, the printed account
signs in, and a key pair is created against the built-in sandbox and downloaded once.

This runs the real command (migrations, collectstatic, the local account, gunicorn with
portal/gunicorn.conf.py and the sandbox started in gunicorn's master), on a database of its
own.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"The portal is ready: open (http://\S+)")
SIGN_IN = re.compile(r"Sign in as '([^']+)' with password '([^']+)'")
AUDITOR_SIGN_IN = re.compile(r"as auditor '([^']+)', password '([^']+)'")
# gunicorn's access line (portal/gunicorn.conf.py): the request id, then the worker's pid.
ACCESS = re.compile(r"rid=(\S+) pid=<(\d+)>")
CHAIN_STATUS = re.compile(r'<p id="chain-status-text"[^>]*>(.*?)</p>', re.DOTALL)


@dataclass
class MadeRun:
    url: str
    username: str
    password: str
    auditor: str
    auditor_password: str
    environment: dict[str, str]
    lines: list[str] = field(default_factory=list)

    def worker_of(self, response: requests.Response) -> str:
        """The pid of the gunicorn worker that answered, from its access line."""
        request_id = response.headers["X-Request-ID"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for found in map(ACCESS.search, list(self.lines)):
                if found and found.group(1) == request_id:
                    return found.group(2)
            time.sleep(0.05)
        raise AssertionError(f"no access line for request {request_id}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def make_run(tmp_path):
    """Start `make run` on a free port and a fresh SQLite file; yields a MadeRun whose ``lines``
    keep filling with the output (read all along, so a full pipe never stalls gunicorn)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BCC_", "DJANGO_", "DATABASE_URL", "REDIS_URL", "DEBUG"))
    }
    environment.update(
        PORT=str(free_port()),
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        LOCAL_SIGN_IN_FILE=str(tmp_path / "sign-in.txt"),
    )
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that stopping it stops gunicorn's workers too
    )
    output: list[str] = []
    try:
        url = credentials = auditor = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            credentials = credentials or SIGN_IN.search(line)
            auditor = auditor or AUDITOR_SIGN_IN.search(line)
            url = url or (READY.search(line) and READY.search(line).group(1))
        assert url and credentials, "make run did not print where to open it and how to sign in:\n" + "".join(output)
        threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
        yield MadeRun(url, *credentials.groups(), *auditor.groups(), environment=environment, lines=output)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_make_run_serves_the_portal_and_a_new_user_creates_and_downloads_a_key_pair(make_run):
    url, username, password = make_run.url, make_run.username, make_run.password
    browser = requests.Session()

    login = browser.get(url + "accounts/login/", timeout=10)
    assert login.status_code == 200
    assert browser.get(url + "static/css/portal.css", timeout=10).status_code == 200
    signed_in = browser.post(
        url + "accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": url},
        timeout=10,
    )
    assert signed_in.status_code == 200
    assert signed_in.url == url

    form = browser.get(url + "keypairs/new", timeout=10)
    form_token = re.search(r'name="form_token" value="([^"]+)"', form.text).group(1)
    created = browser.post(
        url + "keypairs/new",
        data={
            "name": "first-key",
            "description": "",
            "region": "gz",
            "form_token": form_token,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": url},
        timeout=30,
    )
    assert created.status_code == 200
    assert "This is your only chance to save the private key." in created.text
    public_key = re.search(r'<textarea id="public-key"[^>]*>([^<]+)</textarea>', created.text).group(1).strip()

    download = browser.post(
        created.url + "download", data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]}, headers={"Referer": url}
    )
    assert download.status_code == 200
    private_key = serialization.load_pem_private_key(download.content, password=None)
    derived = private_key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert derived.decode() == public_key

    again = browser.post(
        created.url + "download", data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]}, headers={"Referer": url}
    )
    assert again.status_code == 410
    assert "first-key" in browser.get(url + "keypairs/", timeout=10).text


# --- The embedded default's cache is one for every worker --------------------------------------


def sign_in(url: str, username: str, password: str) -> requests.Session:
    browser = requests.Session()
    # A new connection for every request, so that both workers get some of them.
    browser.headers["Connection"] = "close"
    browser.get(url + "accounts/login/", timeout=10)
    signed_in = browser.post(
        url + "accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": url},
        timeout=10,
    )
    assert signed_in.status_code == 200
    return browser


def create(browser: requests.Session, url: str, name: str) -> requests.Response:
    form = browser.get(url + "keypairs/new", timeout=10)
    return browser.post(
        url + "keypairs/new",
        data={
            "name": name,
            "description": "",
            "region": "bj",
            "form_token": re.search(r'name="form_token" value="([^"]+)"', form.text).group(1),
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": url},
        allow_redirects=False,
        timeout=30,
    )


def test_with_two_workers_the_sixth_create_within_a_minute_is_refused_whichever_worker_takes_it(make_run):
    url = make_run.url
    browser = sign_in(url, make_run.username, make_run.password)

    created = [create(browser, url, f"key-{number}") for number in range(5)]
    refused_by: dict[str, int] = {}
    statuses = []
    # Refused creates cost nothing: keep trying until both workers have answered one.
    for number in range(5, 45):
        response = create(browser, url, f"key-{number}")
        statuses.append(response.status_code)
        worker = make_run.worker_of(response)
        refused_by[worker] = refused_by.get(worker, 0) + 1
        if len(refused_by) == 2:
            break

    assert [response.status_code for response in created] == [302] * 5
    assert set(statuses) == {429}, statuses
    assert len(refused_by) == 2, f"only one worker answered: {refused_by}"
    # The cache is a table in SQLite: its writes wait for the lock, they never fail on it.
    assert not [line for line in make_run.lines if "database is locked" in line]


def test_with_two_workers_the_admins_chain_status_is_the_same_on_every_reload(make_run):
    url = make_run.url
    # The nightly check, run as cron would: another process, which records its result in the cache.
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=ROOT,
        env={**make_run.environment, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr
    auditor = sign_in(url, make_run.auditor, make_run.auditor_password)

    seen: dict[str, set[str]] = {}
    for _ in range(40):
        page = auditor.get(url + "admin/keypairs/auditevent/", timeout=10)
        assert page.status_code == 200
        seen.setdefault(make_run.worker_of(page), set()).add(" ".join(CHAIN_STATUS.search(page.text).group(1).split()))
        if len(seen) == 2:
            break

    assert len(seen) == 2, f"only one worker answered: {list(seen)}"
    (status,) = set.union(*seen.values())
    assert "has not been verified yet" not in status
