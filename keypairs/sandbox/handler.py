"""HTTP/1.1 plumbing: read a request's bytes, hand them to the sandbox, write its outcome.

Connections are kept alive (clients that reuse connections must see the benefit), so
every answer has a Content-Length and the body of every request is read in full, even
one that ends in an error. A body that cannot be read safely ends the connection.

Header values arrive as bytes; they are read as UTF-8 when they are valid UTF-8 (so a
client that signs a non-ASCII ``x-bce-*`` value and sends it UTF-8 encoded is verified
against what it signed), and as Latin-1 otherwise, which is what ``http.server`` does.
"""

from __future__ import annotations

import ssl
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from keypairs.sandbox.app import Outcome, RawRequest
from keypairs.sandbox.errors import SandboxError

if TYPE_CHECKING:
    from keypairs.sandbox.server import SandboxHTTPServer

MAX_BODY_BYTES = 1024 * 1024
# An idle kept-alive connection is closed after this long, freeing its thread.
IDLE_TIMEOUT_SECONDS = 60

LENGTH_INVALID = "Content-Length must be a whole number of bytes."
BODY_TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES} bytes."
CHUNKS_INVALID = "The chunked request body is malformed."


class _UnreadableBody(Exception):
    def __init__(self, error: SandboxError) -> None:
        super().__init__(error.message)
        self.error = error


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BccSandbox/1.0"
    timeout = IDLE_TIMEOUT_SECONDS
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for
    # the client's delayed ACK (~40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            # Handshake here, in this connection's thread: done in accept() it would let one
            # slow or hostile client stall every other.
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                return  # e.g. the client refused our certificate: nothing to answer
        super().handle()

    def _serve(self) -> None:
        sandbox = self.server.sandbox
        try:
            body = self._read_body()
        except _UnreadableBody as unreadable:
            self.close_connection = True
            self._write(sandbox.refuse(self.command, self.path, unreadable.error), close=True)
            return
        request = RawRequest(method=self.command, target=self.path, headers=self._header_map(), body=body)
        self._write(sandbox.handle(request))

    def __getattr__(self, name: str):
        # http.server looks up do_<METHOD>; every method goes through the sandbox, so an
        # unexpected one gets BCC's answer (a signature error or InvalidURI), not a bare 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _write(self, outcome: Outcome, *, close: bool = False) -> None:
        if outcome.status is None:  # an injected fault: no answer at all
            self.close_connection = True
            return
        self.send_response(outcome.status)
        self.send_header("Content-Type", outcome.content_type)
        self.send_header("Content-Length", str(len(outcome.body)))
        self.send_header("x-bce-request-id", outcome.request_id)
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(outcome.body)

    def _header_map(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for name, value in self.headers.items():
            key, text = name.lower(), _as_utf8(value)
            merged[key] = f"{merged[key]},{text}" if key in merged else text
        return merged

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        raw_length = raw_length.strip()
        if not (raw_length.isascii() and raw_length.isdigit()):
            raise _UnreadableBody(SandboxError("InvalidHTTPRequest", LENGTH_INVALID))
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            raise _UnreadableBody(SandboxError("EntityTooLarge", BODY_TOO_LARGE))
        body = self.rfile.read(length)
        if len(body) != length:  # the client went away mid-body
            raise _UnreadableBody(SandboxError("InvalidHTTPRequest", LENGTH_INVALID))
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _UnreadableBody(SandboxError("InvalidHTTPRequest", CHUNKS_INVALID)) from None
            if size < 0 or len(body) + size > MAX_BODY_BYTES:
                raise _UnreadableBody(SandboxError("EntityTooLarge", BODY_TOO_LARGE))
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after each chunk

    def version_string(self) -> str:
        return self.server_version

    # http.server writes every request to stderr; the sandbox logs its own line instead.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: object) -> None:
        self.server.log_debug(format % args)


def _as_utf8(value: str) -> str:
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value
