"""``SandboxServer``: the BCC sandbox on a real socket, in a thread or in the foreground.

Typical use::

    with SandboxServer() as sandbox:  # loopback, a free port, random throwaway keys
        client = BccClient(
            credentials=Credentials(sandbox.access_key_id, sandbox.secret_access_key),
            endpoint=sandbox.endpoint_template.replace("{region}", "bj"),
            region="bj",
        )
        sandbox.inject("commit_then_drop", operation="create")
        with pytest.raises(BccOutcomeUnknown):  # the answer is lost...
            client.create_keypair(name="web")
        assert sandbox.keypairs(region="bj")  # ...but the key pair was made

(``BccClient`` from ``keypairs.bcc.client``, ``Credentials`` from ``keypairs.bcc.signer``,
``BccOutcomeUnknown`` from ``keypairs.bcc.errors``.)

Each connection gets its own daemon thread, so a hung or slow request (an injected
fault, a slow key generation) never holds up the others, and a test run never waits for
them at exit.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path

from keypairs.sandbox.app import Clock, RequestRecord, Sandbox
from keypairs.sandbox.faults import Fault
from keypairs.sandbox.handler import SandboxRequestHandler
from keypairs.sandbox.routing import DEFAULT_REGION
from keypairs.sandbox.seed import InstanceSeed
from keypairs.sandbox.store import DEFAULT_QUOTA
from keypairs.sandbox.tls import SelfSignedCertificate

logger = logging.getLogger("keypairs.sandbox")

STOP_JOIN_SECONDS = 5


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a connection an injected fault keeps hanging
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, ssl_context: ssl.SSLContext | None) -> None:
        self.sandbox = sandbox
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SandboxRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up in DNS; the sandbox has no use for it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        if self.ssl_context is not None:
            self.socket = self.ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the other side
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError | ssl.SSLError):
            logger.debug("sandbox connection from %s ended: %r", client_address, error)
        else:
            logger.exception("sandbox connection from %s failed", client_address)

    def log_debug(self, message: str) -> None:
        logger.debug("%s", message)


class SandboxServer:
    """A BCC key pair API on loopback. See the package docstring for what it does."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        quota: int = DEFAULT_QUOTA,
        tls: bool = False,
        seed: InstanceSeed | None = None,
    ) -> None:
        """``seed``: the instances each region starts with (none unless given; ``InstanceSeed.built_in()``)."""
        self.sandbox = Sandbox(credentials=credentials, clock=clock, quota=quota, seed=seed)
        self._certificate = SelfSignedCertificate() if tls else None
        context = self._certificate.server_context() if self._certificate else None
        try:
            self._http = SandboxHTTPServer((host, port), self.sandbox, context)
        except BaseException:
            if self._certificate:
                self._certificate.remove()
            raise
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._stopped = False

    # --- where it is and which keys it accepts ---------------------------------------

    @property
    def host(self) -> str:
        return self._http.server_address[0]

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def url(self) -> str:
        scheme = "https" if self._certificate else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def endpoint_template(self) -> str:
        """The portal's ``BCC_ENDPOINT`` for this sandbox: the region goes in a path prefix."""
        return self.url + "/{region}"

    @property
    def cert_path(self) -> Path | None:
        """The self-signed certificate (PEM) in TLS mode, for a client that chooses to trust it."""
        return self._certificate.cert_path if self._certificate else None

    @property
    def credentials(self) -> dict[str, str]:
        return dict(self.sandbox.credentials)

    @property
    def access_key_id(self) -> str:
        return next(iter(self.sandbox.credentials))

    @property
    def secret_access_key(self) -> str:
        return self.sandbox.credentials[self.access_key_id]

    # --- behaviour tests can change --------------------------------------------------

    @property
    def quota(self) -> int:
        return self.sandbox.store.quota

    @quota.setter
    def quota(self, value: int) -> None:
        self.sandbox.store.quota = value

    @property
    def clock(self) -> Clock:
        return self.sandbox.clock

    @clock.setter
    def clock(self, value: Clock) -> None:
        self.sandbox.clock = value

    def inject(
        self,
        kind: str,
        *,
        count: int = 1,
        operation: str | None = None,
        status: int | None = None,
        seconds: float | None = None,
    ) -> Fault:
        """Commit a fault on the next ``count`` matching requests (kinds: see faults.py)."""
        return self.sandbox.inject(kind, count=count, operation=operation, status=status, seconds=seconds)

    def clear_faults(self) -> None:
        self.sandbox.clear_faults()

    @property
    def faults(self) -> list[Fault]:
        return self.sandbox.faults.pending()

    def reset(self) -> None:
        """Forget every key pair, client token, fault and logged request; instances go back to the seed."""
        self.sandbox.reset()

    def add_instances(
        self, fields: list[dict], region: str = DEFAULT_REGION, access_key_id: str | None = None
    ) -> list[dict]:
        """Add instances (InstanceModel's spelling; see ``instances.from_fields``); returns their InstanceModels.

        Tests use ``tests/sandbox_instances.py`` rather than this directly.
        """
        return self.sandbox.add_instances(fields, region=region, access_key_id=access_key_id)

    def set_instance_status(
        self, instance_id: str, status: str, region: str = DEFAULT_REGION, access_key_id: str | None = None
    ) -> dict:
        return self.sandbox.set_instance_status(instance_id, status, region=region, access_key_id=access_key_id)

    def remove_instance(self, instance_id: str, region: str = DEFAULT_REGION, access_key_id: str | None = None) -> None:
        self.sandbox.remove_instance(instance_id, region=region, access_key_id=access_key_id)

    # --- what tests inspect ----------------------------------------------------------

    def keypairs(self, region: str = DEFAULT_REGION, access_key_id: str | None = None) -> list[dict]:
        return self.sandbox.keypairs(region=region, access_key_id=access_key_id)

    def instances(self, region: str = DEFAULT_REGION, access_key_id: str | None = None) -> list[dict]:
        return self.sandbox.instances(region=region, access_key_id=access_key_id)

    @property
    def request_log(self) -> list[RequestRecord]:
        return self.sandbox.request_log

    # --- running ---------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, name=f"bcc-sandbox-{self.port}", daemon=True)
            self._thread.start()
            self._serving.wait(STOP_JOIN_SECONDS)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (from another thread) or Ctrl-C."""
        self._serving.set()
        try:
            self._http.serve_forever(poll_interval=0.2)
        finally:
            self._serving.clear()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.sandbox.stopping.set()  # ends the waits of latency and hang faults
        if self._serving.is_set() and threading.current_thread() is not self._thread:
            self._http.shutdown()
        self._http.server_close()
        self._http.close_connections()
        if self._thread is not None:
            self._thread.join(STOP_JOIN_SECONDS)
        if self._certificate:
            self._certificate.remove()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:  # the secret key stays out of logs
        return f"<SandboxServer {self.url} access_key_id={self.access_key_id}>"
