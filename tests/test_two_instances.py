"""Two gunicorn instances behind one load balancer, sharing one PostgreSQL database: a key
created on one is downloaded on the other, and a second download on either is refused; of
fifty downloads at once, spread over both, exactly one gets the key.

This is the scaled-out deployment README.md describes: instances keep no state of their own.
The two instances share the database, one BCC (a sandbox started by this test), SECRET_KEY
(the session cookie signed on one must be valid on the other) and AUDIT_HMAC_KEY (one audit
chain, appended by both); Redis too when the run has REDIS_URL.

The database is this test's own (``portal_two_instances_<pid>``), created on the PostgreSQL
server of tests/backing_services.py, migrated and given its users by the portal's own
``manage.py``, and dropped afterwards. Without a reachable server the tests skip (fail with
REQUIRE_POSTGRES=1 or REQUIRE_GROUPS naming postgres or two_instances).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading

import pytest
from cryptography.hazmat.primitives import serialization

from keypairs.delivery import MESSAGE_ALREADY_DOWNLOADED
from keypairs.sandbox import SandboxServer
from tests import backing_services
from tests.gunicorn_portal import ROOT, GunicornPortal, PortalBrowser, production_environment

pytestmark = [pytest.mark.postgres, pytest.mark.two_instances]

CLAIMERS = 50
# Run by the portal's `manage.py shell` against the shared database: its tables, and Alice
# (a developer) signed in, printed as her session cookie's value.
PREPARE_DATABASE = """
import json
from django.core.management import call_command
from tests.gunicorn_portal import developer, session_for
call_command("migrate", verbosity=0)
print("SESSION " + json.dumps(session_for(developer("alice"))))
"""


class SharedDeployment:
    """The shared database, the one sandbox, and the two instances: ``a`` and ``b``."""

    def __init__(self, server: dict[str, str], sandbox: SandboxServer) -> None:
        self.server = server
        self.name = f"portal_two_instances_{os.getpid()}"
        self.sandbox = sandbox
        self.environment = production_environment(
            database_url=backing_services.postgres_url(server, self.name),
            sandbox=sandbox,
            secret_key=secrets.token_urlsafe(50),
            audit_hmac_key=secrets.token_urlsafe(40),
            redis_url=os.environ.get("REDIS_URL", ""),
        )
        self.instances: list[GunicornPortal] = []
        self.alice_session = ""

    def start(self) -> None:
        with backing_services.postgres_connect(self.server) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        prepared = self.manage("shell", "-c", PREPARE_DATABASE)
        self.alice_session = json.loads(prepared.stdout.split("SESSION ", 1)[1])
        # Started together: each takes a few seconds to boot.
        starting = [threading.Thread(target=self._start_instance) for _ in range(2)]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        if len(self.instances) != 2:
            raise RuntimeError("an instance did not start")

    def _start_instance(self) -> None:
        self.instances.append(GunicornPortal.start(self.environment, workers=1, threads=4))

    @property
    def a(self) -> str:
        return self.instances[0].url

    @property
    def b(self) -> str:
        return self.instances[1].url

    def manage(self, *arguments: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def audit_actions(self) -> dict[str, int]:
        with backing_services.postgres_connect(self.server, dbname=self.name) as database:
            rows = database.execute("SELECT action, count(*) FROM keypairs_auditevent GROUP BY action").fetchall()
        return dict(rows)

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()
        with backing_services.postgres_connect(self.server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def deployment():
    server = backing_services.postgres_server()
    reason = backing_services.postgres_unavailable(server)
    if reason:
        pytest.skip(reason)
    with SandboxServer() as sandbox:
        shared = SharedDeployment(server, sandbox)
        try:
            shared.start()
            yield shared
        finally:
            shared.stop()


def public_key_of(pem: bytes) -> str:
    key = serialization.load_pem_private_key(pem, password=None).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def bcc_public_key(sandbox: SandboxServer, name: str) -> str:
    (keypair,) = [keypair for keypair in sandbox.keypairs(region="bj") if keypair["name"] == name]
    return " ".join(keypair["publicKey"].split()[:2])


def test_a_key_created_on_one_instance_is_downloaded_on_the_other_and_only_once(deployment):
    alice = PortalBrowser(deployment.alice_session)

    created = alice.create(deployment.a, name="made-on-a")
    assert created.status_code == 302
    detail_path = created.headers["Location"]
    assert alice.get(deployment.b.rstrip("/") + detail_path).status_code == 200
    downloaded = alice.download(deployment.b, detail_path)
    again_on_b = alice.download(deployment.b, detail_path)
    again_on_a = alice.download(deployment.a, detail_path)

    assert downloaded.status_code == 200
    assert downloaded.headers["Content-Disposition"] == 'attachment; filename="made-on-a.pem"'
    assert public_key_of(downloaded.content) == bcc_public_key(deployment.sandbox, "made-on-a")
    for refused in (again_on_b, again_on_a):
        assert refused.status_code == 410
        assert MESSAGE_ALREADY_DOWNLOADED.split(".")[0] in refused.text
        assert b"PRIVATE KEY" not in refused.content
    actions = deployment.audit_actions()
    assert (actions.get("created"), actions.get("downloaded")) == (1, 1)
    assert actions.get("download_refused") == 2
    assert "Audit chain verified" in deployment.manage("verify_audit").stdout


def test_of_50_downloads_at_once_spread_over_both_instances_exactly_one_gets_the_key(deployment):
    alice = PortalBrowser(deployment.alice_session)
    created = alice.create(deployment.b, name="raced-across")
    assert created.status_code == 302
    detail_path = created.headers["Location"]
    downloads_before = deployment.audit_actions().get("downloaded", 0)
    refusals_before = deployment.audit_actions().get("download_refused", 0)
    tabs = [alice.copy() for _ in range(CLAIMERS)]
    start = threading.Barrier(CLAIMERS)
    answers, errors = [], []

    def download(number: int) -> None:
        try:
            start.wait()
            instance = deployment.a if number % 2 else deployment.b
            answers.append(tabs[number].download(instance, detail_path))
        except BaseException as error:  # reported by the assertion below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=download, args=(number,)) for number in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(answer.status_code for answer in answers) == [200] + [410] * (CLAIMERS - 1)
    (winner,) = [answer for answer in answers if answer.status_code == 200]
    assert public_key_of(winner.content) == bcc_public_key(deployment.sandbox, "raced-across")
    actions = deployment.audit_actions()
    assert actions.get("downloaded", 0) - downloads_before == 1
    assert actions.get("download_refused", 0) - refusals_before == CLAIMERS - 1
    assert "Audit chain verified" in deployment.manage("verify_audit").stdout
