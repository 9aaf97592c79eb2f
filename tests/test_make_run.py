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
import time
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"The portal is ready: open (http://\S+)")
SIGN_IN = re.compile(r"Sign in as '([^']+)' with password '([^']+)'")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def make_run(tmp_path):
    """Start `make run` on a free port and a fresh SQLite file; yields (url, user, password)."""
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
        url = credentials = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            credentials = credentials or SIGN_IN.search(line)
            url = url or (READY.search(line) and READY.search(line).group(1))
        assert url and credentials, "make run did not print where to open it and how to sign in:\n" + "".join(output)
        yield url, credentials.group(1), credentials.group(2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_make_run_serves_the_portal_and_a_new_user_creates_and_downloads_a_key_pair(make_run):
    url, username, password = make_run
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
