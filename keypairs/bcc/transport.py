"""Signed HTTP to BCC: bce-auth-v1 signing, one urllib3 connection pool, retries, error mapping.

The transport knows nothing about key pairs. It sends one operation, re-signing every
attempt with a fresh timestamp, retries what is safe to retry, turns every network
failure into a ``BccTransportError`` that says whether the request may have reached BCC,
turns BCC's error answers into ``BccApiError``, and logs one line per attempt.

Requests go straight through a ``urllib3`` connection pool for the one endpoint, not through
a ``requests`` session: profiled, the session's layer (preparing the request, cookies, the
adapter's pool lookup, building a ``Response``) cost as much CPU per call as urllib3 itself
(28% each), and none of it is used here (one host, no cookies, no redirects, no proxies, no
environment settings). ``python -m bench.bcc_client --profile 2000`` shows where a call's CPU
goes; docs/benchmarks.md has the figures.

TLS: the certificate is always verified, its host name checked, against ``certifi``'s CA
bundle (what ``requests`` used) or the CA bundle ``verify`` names. Connections are kept
alive and reused (up to 16 idle per transport); the pool is safe to share between threads.

What is retried (``RetryMode``):
- every operation: failures where the request certainly never reached BCC (connection
  refused, DNS failure, connect timeout). Nothing happened at BCC, so a second try cannot
  do anything twice. TLS failures are not retried: a certificate will not become trusted.
- ``IDEMPOTENT`` operations (reads; rename and description updates, which set an absolute
  value) also on read timeouts, dropped connections, HTTP 429/500/502/503/504 and
  ``RequestExpired``: doing them twice leaves BCC as doing them once.
- ``UNSENT_ONLY`` operations (create, import, delete, attach, detach) on nothing else. A
  create that may have been sent must never be repeated (a second key pair, the first one's
  private key lost); a repeated delete would answer ``KeypairNotExist`` for a delete that
  worked, and attach/detach are not documented as idempotent.

Logging (``keypairs.bcc``): operation, region, attempt, HTTP status or error kind, BCC's
request id and latency. Never a URL, a header, a body, or a key.
"""

from __future__ import annotations

import enum
import http.client
import json
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import certifi
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from keypairs.bcc import errors, signer
from keypairs.bcc.models import CallRecord

logger = logging.getLogger("keypairs.bcc")

Query = Iterable[tuple[str, str | None]]

JSON_CONTENT_TYPE = "application/json;charset=utf-8"
REQUEST_ID_HEADER = "x-bce-request-id"
USER_AGENT = "bcc-keypair-portal/1"
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 4.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
CA_BUNDLE_MISSING = "The CA bundle {path} does not exist."
POOL_SIZE = 16  # idle connections kept per transport; more threads at once still get one each
SIGNED_WITHOUT_BODY = ("host", "x-bce-date")
SIGNED_WITH_BODY = ("host", "x-bce-date", "content-type", "content-length")
# Characters left as they are when the endpoint's path prefix is put on the request line
# (what requests' requote_uri kept): a prefix written already escaped stays as written.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


class RetryMode(enum.Enum):
    IDEMPOTENT = "idempotent"
    UNSENT_ONLY = "unsent_only"


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- Signing ---------------------------------------------------------------------------


class BceAuth:
    """Signs one attempt's headers with bce-auth-v1, reading the clock each time it is called.

    The transport signs a fresh copy of the headers for every attempt, so every attempt
    carries its own timestamp.

    Signed: ``host`` (sent explicitly, so the signed value is the one on the wire),
    ``x-bce-date`` (equal to the timestamp) and, when there is a body, ``content-type`` and
    ``content-length`` (both set by the transport). The list is explicit rather than BCE's
    default set so that the signature never depends on headers the HTTP library may add.
    """

    def __init__(
        self,
        credentials: signer.Credentials,
        *,
        clock: Callable[[], datetime] = utc_now,
        expiration_seconds: int = signer.DEFAULT_EXPIRATION_SECONDS,
    ) -> None:
        self.credentials = credentials
        self.clock = clock
        self.expiration_seconds = expiration_seconds

    def sign(self, method: str, path: str, query: Sequence[tuple[str, str | None]], headers: dict[str, str]) -> None:
        """Add ``x-bce-date`` and ``Authorization`` to ``headers``, which already hold ``Host``.

        ``path`` is the decoded path and ``query`` the decoded pairs, as the request sends them.
        """
        stamp = signer.format_timestamp(self.clock())
        headers["x-bce-date"] = stamp
        headers["Authorization"] = signer.authorization(
            method=method,
            path=path,
            query=query,
            headers=headers,
            credentials=self.credentials,
            timestamp=stamp,
            signed_headers=SIGNED_WITH_BODY if "Content-Length" in headers else SIGNED_WITHOUT_BODY,
            expiration_seconds=self.expiration_seconds,
        )


def host_header(scheme: str, hostname: str, port: int | None) -> str:
    """``Host`` as bce-auth-v1 signs it: with ``:port`` only when the port is not the default."""
    host = f"[{hostname}]" if ":" in hostname else hostname
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        return f"{host}:{port}"
    return host


def build_query(query: Query) -> str:
    """A query string encoded as bce-auth-v1 encodes it; a ``None`` value is a bare flag."""
    return "&".join(
        signer.uri_encode(key) if value is None else f"{signer.uri_encode(key)}={signer.uri_encode(value)}"
        for key, value in query
    )


# --- Retry policy --------------------------------------------------------------------------


def is_retryable(error: errors.BccError, mode: RetryMode) -> bool:
    if isinstance(error, errors.BccTransportError) and not error.sent and not isinstance(error, errors.BccTLSError):
        return True
    if mode is not RetryMode.IDEMPOTENT:
        return False
    if isinstance(error, errors.BccApiError):
        return error.status in TRANSIENT_STATUSES or error.code == errors.REQUEST_EXPIRED
    if isinstance(error, errors.BccBadResponseError):
        return error.status in TRANSIENT_STATUSES
    return isinstance(error, errors.BccTimeoutError | errors.BccConnectionLostError)


def backoff_delay(
    attempt: int,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Full-jitter exponential back-off: uniform in [0, min(cap, base * 2**(attempt-1))].

    The jitter spreads the retries of many workers hit by the same outage.
    """
    return uniform(0.0, min(cap, base * 2 ** (attempt - 1)))


# --- Mapping failures ------------------------------------------------------------------------


def map_transport_exception(exc: BaseException) -> errors.BccTransportError:
    """The ``BccTransportError`` for a urllib3 or socket failure, with ``sent`` decided carefully.

    ``sent=False`` only when the request provably never left: no TCP connection (refused,
    DNS), a connect timeout, or a failure inside the TLS handshake. urllib3 reports a
    handshake that times out as a *read* timeout and a TLS connection dropped after sending
    as an ``SSLError``, so both are told apart by whether the failure was raised inside
    ``do_handshake``.
    """
    chain = list(_exception_chain(exc))
    in_handshake = any(_raised_in_handshake(item) for item in chain)
    # urllib3 makes NewConnectionError (refused, DNS) a subclass of ConnectTimeoutError.
    if any(isinstance(item, ConnectTimeoutError) and not isinstance(item, NewConnectionError) for item in chain):
        return errors.BccTimeoutError(sent=False)
    is_timeout = any(isinstance(item, ReadTimeoutError | TimeoutError) for item in chain)
    if any(isinstance(item, SSLError) for item in chain) or (in_handshake and not is_timeout):
        if any(isinstance(item, ssl.SSLCertVerificationError | ssl.CertificateError) for item in chain):
            return errors.BccTLSError(errors.TLS_CERTIFICATE_NOT_TRUSTED)
        if in_handshake:
            return errors.BccTLSError(errors.TLS_HANDSHAKE_FAILED)
        return errors.BccConnectionLostError()
    if is_timeout:
        return errors.BccTimeoutError(sent=not in_handshake)
    if any(isinstance(item, NameResolutionError) for item in chain):
        return errors.BccConnectError(errors.NAME_NOT_RESOLVED)
    if any(isinstance(item, NewConnectionError) for item in chain):
        return errors.BccConnectError()
    # Anything else (reset, dropped mid-answer, a broken chunked body) happened on an open
    # connection with the request possibly on its way.
    return errors.BccConnectionLostError()


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything behind it: causes, contexts, wrapped ``reason``s and args."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])


def _without_partial_body(exc: BaseException) -> BaseException:
    """``exc`` with the bytes of a cut-off answer dropped from its chain.

    ``http.client.IncompleteRead`` keeps what did arrive (of a create's answer: the start of
    the private key), and the chain is kept behind the ``BccError`` for whoever debugs it.
    """
    for item in _exception_chain(exc):
        if isinstance(item, http.client.IncompleteRead) and isinstance(item.partial, bytes):
            item.partial, item.args = b"", (b"",)
    return exc


def _raised_in_handshake(exc: BaseException) -> bool:
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "do_handshake":
            return True
        frame = frame.tb_next
    return False


# --- Answers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: HTTP 2xx, a JSON object body (``data``, empty when there was no
    body) and ``result``, what the caller's ``parse`` made of it."""

    status: int
    request_id: str | None
    data: Mapping[str, Any]
    result: Any
    attempts: int
    latency_ms: int


def read_answer(status: int, request_id: str | None, raw: bytes) -> tuple[int, str | None, Mapping[str, Any]]:
    """``(status, request_id, data)`` of a 2xx answer; raise ``BccApiError`` or ``BccBadResponseError``.

    ``request_id`` is the ``x-bce-request-id`` header, ``raw`` the whole body. Errors are
    built from the body's fields only: the body itself is never put in an exception (nor
    chained: a ``JSONDecodeError`` holds the whole document).
    """
    request_id = request_id or None
    readable, data = _decode_json(raw)
    if 200 <= status < 300:
        if readable and (data is None or isinstance(data, dict)):
            return status, request_id, data or {}
        raise errors.BccBadResponseError(status=status, request_id=request_id)
    if readable and isinstance(data, dict) and isinstance(data.get("code"), str) and data["code"]:
        body_request_id = data.get("requestId") if isinstance(data.get("requestId"), str) else None
        message = data.get("message") if isinstance(data.get("message"), str) else ""
        raise errors.BccApiError(
            code=data["code"], status=status, message=message, request_id=request_id or body_request_id
        )
    raise errors.BccBadResponseError(status=status, request_id=request_id)


def _decode_json(raw: bytes) -> tuple[bool, Any]:
    if not raw.strip():
        return True, None
    try:
        return True, json.loads(raw)
    except (ValueError, RecursionError):
        return False, None


# --- The transport ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedCall:
    """One operation's request, the same for every attempt but for its date and signature.

    ``target`` is what goes on the request line (path and encoded query); ``path`` and
    ``query`` are what is signed (decoded); ``headers`` hold ``Host``, ``User-Agent`` and,
    with a body, ``Content-Type`` and ``Content-Length``.
    """

    method: str
    target: str
    path: str
    query: tuple[tuple[str, str | None], ...]
    payload: bytes | None
    headers: Mapping[str, str]


class Transport:
    """One region's connection to BCC: a urllib3 connection pool that is reused for every call."""

    def __init__(
        self,
        *,
        credentials: signer.Credentials,
        endpoint: str,
        region: str,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
        max_attempts: int = 3,
        verify: bool | str = True,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = validate_endpoint(endpoint)
        self.region = region
        if verify is not True and not (isinstance(verify, str) and verify):
            # A CA bundle may be given (a TLS-intercepting proxy); verification is never off.
            raise ValueError("verify must be True or the path of a CA bundle; TLS verification cannot be turned off.")
        if isinstance(verify, str) and not os.path.exists(verify):
            # Checked here, not left to the first connection: an OSError then would look like
            # a network failure (and would make a create look like an unknown outcome).
            raise ValueError(CA_BUNDLE_MISSING.format(path=verify))
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1.")
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.auth = BceAuth(credentials, clock=clock or utc_now)
        parts = urlsplit(self.endpoint)
        self._scheme, self._hostname, self._port = parts.scheme, parts.hostname or "", parts.port
        self._host = host_header(self._scheme, self._hostname, self._port)
        self._path_prefix = quote(parts.path, safe=_PATH_SAFE)
        self._signed_prefix = unquote(self._path_prefix)
        # Built once: loading a CA bundle costs milliseconds, and every connection shares it.
        self._tls_context = _tls_context(verify) if self._scheme == "https" else None
        self._pool = self._new_pool()
        self._local = threading.local()

    @property
    def last_call(self) -> CallRecord | None:
        """The record of the last call this thread made through this transport."""
        return getattr(self._local, "last_call", None)

    def close(self) -> None:
        """Close the idle connections. The transport stays usable (as a closed ``requests``
        session was): a later call opens a new connection, so a thread still holding a client
        that the factory has dropped never sees a "closed" error for a request it never sent."""
        pool, self._pool = self._pool, self._new_pool()
        pool.close()

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Mapping[str, Any] | None = None,
        retry: RetryMode = RetryMode.IDEMPOTENT,
        parse: Callable[[Mapping[str, Any], str | None], Any] | None = None,
    ) -> ApiResponse:
        """Send one operation, retrying as ``retry`` allows; return the 2xx answer or raise ``BccError``.

        ``parse(data, request_id)`` reads the answer; a ``ValueError`` from it means the answer
        has the wrong shape and becomes a ``BccBadResponseError`` (its message is dropped: it
        may describe a body that holds a private key).
        """
        prepared = self.prepare(method, path, query=query, body=body)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            attempt_started = time.monotonic()
            status = request_id = None
            try:
                response = self._send(prepared)
                status, request_id = response.status, response.headers.get(REQUEST_ID_HEADER)
                status, request_id, data = read_answer(status, request_id, response.data)
                result = _parse(parse, data, status, request_id)
            except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
                # urllib3 wraps what it can; a bare socket or http.client error is mapped the same way.
                error: errors.BccError = map_transport_exception(exc)
                error.__cause__ = _without_partial_body(exc)
            except errors.BccError as exc:
                error = exc
                request_id = request_id or exc.request_id
            else:
                self._log_attempt(operation, attempt, status, "ok", request_id, attempt_started)
                latency_ms = _ms_since(started)
                self._record(operation, "ok", status, request_id, attempt, latency_ms)
                return ApiResponse(status, request_id, data, result, attempt, latency_ms)
            retrying = attempt < self.max_attempts and is_retryable(error, retry)
            self._log_attempt(operation, attempt, status, _outcome(error), request_id, attempt_started, retrying)
            if not retrying:
                error.operation, error.region, error.attempts = operation, self.region, attempt
                error.request_id = error.request_id or request_id
                error.latency_ms = _ms_since(started)
                self._record(operation, _outcome(error), status, error.request_id, attempt, error.latency_ms)
                raise error
            self.sleep(backoff_delay(attempt))

    def prepare(
        self, method: str, path: str, *, query: Query = (), body: Mapping[str, Any] | None = None
    ) -> PreparedCall:
        """What every attempt of one operation sends, before its date and signature."""
        pairs = tuple(query)
        query_string = build_query(pairs)
        headers = {"Host": self._host, "User-Agent": USER_AGENT}
        payload = None
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = JSON_CONTENT_TYPE
            headers["Content-Length"] = str(len(payload))
        return PreparedCall(
            method=method,
            target=self._path_prefix + path + (f"?{query_string}" if query_string else ""),
            path=self._signed_prefix + unquote(path),
            # Read back as a server reads the query string, these are the pairs (tested): what is
            # signed is what is sent.
            query=pairs,
            payload=payload,
            headers=headers,
        )

    def signed_headers(self, prepared: PreparedCall) -> dict[str, str]:
        """The headers of one attempt: a fresh copy, dated and signed now."""
        headers = dict(prepared.headers)
        self.auth.sign(prepared.method, prepared.path, prepared.query, headers)
        return headers

    def _send(self, prepared: PreparedCall) -> urllib3.BaseHTTPResponse:
        """One signed attempt through the pool; the body is read whole before this returns.

        No urllib3 retries (every retry goes through the policy above) and no redirects (BCC
        does not send them; one is refused as a bad response). urllib3 then raises the
        failure itself rather than a ``MaxRetryError``.
        """
        return self._pool.urlopen(
            prepared.method,
            prepared.target,
            body=prepared.payload,
            headers=self.signed_headers(prepared),
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=self.timeout,
            preload_content=True,
        )

    def _new_pool(self) -> urllib3.HTTPConnectionPool:
        if self._tls_context is None:
            return urllib3.HTTPConnectionPool(self._hostname, self._port, maxsize=POOL_SIZE, block=False)
        return urllib3.HTTPSConnectionPool(
            self._hostname,
            self._port,
            maxsize=POOL_SIZE,
            block=False,
            cert_reqs="CERT_REQUIRED",
            ssl_context=self._tls_context,
        )

    def _log_attempt(
        self,
        operation: str,
        attempt: int,
        status: int | None,
        outcome: str,
        request_id: str | None,
        started: float,
        retrying: bool = False,
    ) -> None:
        latency_ms = _ms_since(started)
        logger.log(
            logging.INFO if outcome == "ok" else logging.WARNING,
            "BCC %s region=%s attempt=%d/%d status=%s outcome=%s request_id=%s latency_ms=%d%s",
            operation,
            self.region,
            attempt,
            self.max_attempts,
            status if status is not None else "-",
            outcome,
            request_id or "-",
            latency_ms,
            " retrying" if retrying else "",
            extra={
                "bcc_operation": operation,
                "bcc_region": self.region,
                "bcc_attempt": attempt,
                "bcc_status": status,
                "bcc_outcome": outcome,
                "bcc_request_id": request_id,
                "bcc_latency_ms": latency_ms,
            },
        )

    def _record(
        self, operation: str, outcome: str, status: int | None, request_id: str | None, attempts: int, latency_ms: int
    ) -> None:
        self._local.last_call = CallRecord(
            operation=operation,
            region=self.region,
            outcome=outcome,
            status=status,
            request_id=request_id,
            attempts=attempts,
            latency_ms=latency_ms,
        )


def validate_endpoint(endpoint: str) -> str:
    """The endpoint without a trailing slash; an http(s) URL that may carry a path prefix."""
    parts = urlsplit(endpoint)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("The BCC endpoint must be an http:// or https:// URL with a host.")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("The BCC endpoint must not carry credentials, a query or a fragment.")
    parts.port  # noqa: B018 - raises ValueError for a port out of range
    return endpoint.rstrip("/")


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    """Certificates verified and host names checked, against ``verify``'s bundle or certifi's."""
    context = urllib3.util.create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    location = certifi.where() if verify is True else verify
    if os.path.isdir(location):
        context.load_verify_locations(capath=location)
    else:
        context.load_verify_locations(cafile=location)
    return context


def _parse(parse: Callable[[Mapping[str, Any], str | None], Any] | None, data, status: int, request_id: str | None):
    if parse is None:
        return None
    try:
        return parse(data, request_id)
    except ValueError:
        raise errors.BccBadResponseError(status=status, request_id=request_id) from None


def _outcome(error: errors.BccError) -> str:
    return error.code if isinstance(error, errors.BccApiError) else getattr(error, "kind", "error")


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
