"""The BCC sandbox in a process of its own, for benchmarks.

A client measured in the same process as the server would share its interpreter lock with
the server's threads, and its numbers would mix the two. The benchmarks therefore start
the sandbox with :class:`SandboxProcess`, which runs ``python -m bench.sandbox_process`` and
reads the endpoint and keys from the first line it prints.

``--key-pool N`` generates N RSA key pairs at start-up and hands them out in turn instead of
generating one per create (a benchmark-only patch of this process; the sandbox's own code
is unchanged). Real BCC generates keys on its own servers, not on the portal's machine; on
this 2-core machine, a sandbox generating 2048-bit keys would take CPU from the very client
or portal being measured. Runs with and without the pool, side by side, show how much of a
create is key generation.

``--request-log`` keeps the sandbox's request log whole (not only its last 1,000 requests) and
answers, on stdin/stdout, which requests it served since a given one: the benchmark counts the
BCC calls of each page view from the server's side (``SandboxProcess.requests_since``). Off by
default, since it reads the parent's stdin.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from bench.common import REPO


def use_key_pool(size: int) -> None:
    """Make every create in this process return one of ``size`` pre-generated key pairs, in turn.

    A pooled key is handed out many times, and the sandbox refuses a second key pair with the
    same public key (``KeypairPublicKeyExist``, as BCC does for imports). Each hand-out
    therefore carries a distinct ``blob``, the value that check compares (and nothing else
    reads): the duplicate check still runs, and finds nothing.
    """
    from keypairs.sandbox import keys

    pool = [keys.generate_rsa_keypair() for _ in range(size)]
    turn = itertools.cycle(pool)
    counter = itertools.count()
    lock = threading.Lock()

    def next_keypair() -> keys.GeneratedKeypair:
        with lock:
            keypair, number = next(turn), next(counter)
        return dataclasses.replace(keypair, blob=keypair.blob + number.to_bytes(8, "big"))

    keys.generate_rsa_keypair = next_keypair  # operations.create looks it up at call time


def keep_whole_request_log() -> None:
    """Let a sandbox created after this keep every request in its log (a benchmark-only patch)."""
    from keypairs.sandbox import app

    app.REQUEST_LOG_LENGTH = None  # read once, by Sandbox.__init__, as the deque's maxlen


def answer_request_log_questions(server) -> None:
    """Read ``since N`` lines on stdin; answer each with one JSON line: the requests from the N-th on."""
    for question in sys.stdin:
        first = int(question.split()[1])
        served = [list(record) for record in server.request_log[first:]]
        print(json.dumps({"requests": served, "next": first + len(served)}), flush=True)


def serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the BCC sandbox for a benchmark.")
    parser.add_argument("--key-pool", type=int, default=0, help="pre-generated key pairs to cycle (0: generate)")
    parser.add_argument("--quota", type=int, default=1_000_000, help="key pairs per region (default: no limit)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway self-signed certificate")
    parser.add_argument("--request-log", action="store_true", help="answer 'since N' on stdin with the requests served")
    args = parser.parse_args(argv)

    from keypairs.sandbox import SandboxServer

    if args.key_pool:
        use_key_pool(args.key_pool)
    if args.request_log:
        keep_whole_request_log()
    server = SandboxServer(quota=args.quota, tls=args.tls)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    announcement = {
        "url": server.url,
        "endpoint_template": server.endpoint_template,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "pid": os.getpid(),
        "cert_path": str(server.cert_path) if server.cert_path else "",
    }
    print(json.dumps(announcement), flush=True)
    if args.request_log:
        threading.Thread(target=answer_request_log_questions, args=(server,), daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.stop()


class SandboxProcess:
    """``with SandboxProcess(key_pool=32) as sandbox:`` gives ``sandbox.url``, keys, ``pid`` (and ``cert_path``).

    With ``request_log=True``, ``requests_since(n)`` gives the requests the sandbox served.
    """

    def __init__(
        self, *, key_pool: int = 0, quota: int = 1_000_000, tls: bool = False, request_log: bool = False
    ) -> None:
        self.key_pool = key_pool
        self.quota = quota
        self.tls = tls
        self.request_log = request_log
        self.cert_path = ""
        self._process: subprocess.Popen | None = None
        self.url = self.endpoint_template = self.access_key_id = self.secret_access_key = ""
        self.pid = 0

    def __enter__(self) -> SandboxProcess:
        command = [sys.executable, "-m", "bench.sandbox_process", "--key-pool", str(self.key_pool)]
        command += ["--quota", str(self.quota), *(["--tls"] if self.tls else [])]
        command += ["--request-log"] if self.request_log else []
        stdin = subprocess.PIPE if self.request_log else None
        self._process = subprocess.Popen(
            command, cwd=REPO, stdin=stdin, stdout=subprocess.PIPE, text=True, env=_environment()
        )
        first_line = self._process.stdout.readline() if self._process.stdout else ""
        if not first_line:  # it exited before announcing itself; its error went to stderr
            self.__exit__()
            raise RuntimeError("The sandbox process did not start.")
        announced = json.loads(first_line)
        self.url, self.endpoint_template = announced["url"], announced["endpoint_template"]
        self.access_key_id, self.secret_access_key = announced["access_key_id"], announced["secret_access_key"]
        self.pid, self.cert_path = announced["pid"], announced["cert_path"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream:
                stream.close()
        self._process = None

    def requests_since(self, first: int) -> tuple[list[tuple[str, str, str | None, int | None]], int]:
        """(method, path, operation, status) of every request served from the ``first``-th on, and the next index."""
        if self._process is None or self._process.stdin is None or self._process.stdout is None:
            raise RuntimeError("Start the sandbox with request_log=True to read its request log.")
        self._process.stdin.write(f"since {first}\n")
        self._process.stdin.flush()
        answer = json.loads(self._process.stdout.readline())
        return [tuple(served) for served in answer["requests"]], answer["next"]

    def cpu_seconds(self) -> float:
        """User + system CPU the sandbox process has used so far (from /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH", "")]))
    return environment


if __name__ == "__main__":
    serve()
