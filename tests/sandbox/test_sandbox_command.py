"""`manage.py bcc_sandbox`, run as people run it: a process that prints how to reach it."""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sandbox_http import SignedClient

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
KEYS = {"BCC_SANDBOX_ACCESS_KEY_ID": "c" * 32, "BCC_SANDBOX_SECRET_ACCESS_KEY": "d" * 32}
DEADLINE_SECONDS = 30


class Command:
    """The command in a child process, its stdout read line by line in the background."""

    def __init__(self, *arguments, environment=KEYS):
        inherited = {name: value for name, value in os.environ.items() if name not in KEYS}
        env = {**inherited, "DEBUG": "true", "PYTHONUNBUFFERED": "1", **environment}
        self.process = subprocess.Popen(
            [sys.executable, MANAGE, "bcc_sandbox", *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.output = ""
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def read_until(self, marker):
        deadline = time.monotonic() + DEADLINE_SECONDS
        while marker not in self.output and time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.output += line
        if marker not in self.output:
            self.process.kill()
            pytest.fail(f"no {marker!r} in the output: {self.output}{self.process.stderr.read()}")
        return self.output

    def finish(self):
        """Wait for the exit; returns (exit code, stderr)."""
        self.process.wait(timeout=DEADLINE_SECONDS)
        stderr = self.process.stderr.read()
        return self.process.returncode, stderr


@pytest.fixture
def served():
    command = Command("--port", "0", "--quota", "3")
    command.read_until("Press Ctrl-C to stop.")
    yield command
    if command.process.poll() is None:
        command.process.kill()
        command.process.wait()


def test_it_prints_its_endpoint_and_keys_and_answers_a_signed_request(served):
    url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", served.output).group(1)
    assert f"{url}/{{region}}" in served.output
    assert "c" * 32 in served.output and "d" * 32 in served.output
    assert f"BCC_ENDPOINT='{url}/{{region}}'" in served.output

    client = SignedClient(url, "c" * 32, "d" * 32, region="gz")
    response = client.create("fromCommand")

    assert response.status_code == 200, response.text
    assert response.json()["keypair"]["regionId"] == "gz"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_it_stops_cleanly(served, stop):
    served.process.send_signal(stop)
    served.read_until("BCC sandbox stopped.")
    returncode, stderr = served.finish()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr


def test_it_refuses_a_non_loopback_address_unless_allowed():
    command = Command("--host", "0.0.0.0", "--port", "0")  # noqa: S104 - the address being refused
    returncode, stderr = command.finish()
    assert returncode != 0
    assert "--allow-remote" in stderr


def test_it_refuses_half_a_key_pair_from_the_environment():
    command = Command("--port", "0", environment={"BCC_SANDBOX_ACCESS_KEY_ID": "c" * 32})
    returncode, stderr = command.finish()
    assert returncode != 0
    assert "BCC_SANDBOX_SECRET_ACCESS_KEY" in stderr


def url_of(command):
    return re.search(r"listening on (http://127\.0\.0\.1:\d+)", command.output).group(1)


def test_every_region_starts_with_the_built_in_instances(served):
    client = SignedClient(url_of(served), "c" * 32, "d" * 32, region="su")
    instances = client.request("GET", "/v2/instance").json()["instances"]
    assert len(instances) == 6
    assert {instance["zoneName"] for instance in instances} <= {"cn-su-a", "cn-su-b"}


def test_it_starts_with_the_instances_of_a_file(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text('{"bj": [{"id": "i-fromfile", "name": "from-file"}]}')
    command = Command("--port", "0", "--instances", str(path))
    try:
        command.read_until("Press Ctrl-C to stop.")
        client = SignedClient(url_of(command), "c" * 32, "d" * 32, region="bj")
        listed = client.request("GET", "/v2/instance").json()["instances"]
        assert [(instance["id"], instance["name"]) for instance in listed] == [("i-fromfile", "from-file")]
        assert client.for_region("gz").request("GET", "/v2/instance").json()["instances"] == []
    finally:
        command.process.kill()
        command.process.wait()


def test_it_refuses_an_instance_file_it_cannot_use(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text('{"bj": [{"status": "Asleep"}]}')
    returncode, stderr = Command("--port", "0", "--instances", str(path)).finish()
    assert returncode != 0
    assert "status must be one of" in stderr
    returncode, stderr = Command("--port", "0", "--instances", str(tmp_path / "missing.json")).finish()
    assert returncode != 0
    assert "Cannot read the instance file" in stderr
