"""The sandbox without its sockets: a request in, an outcome out.

:class:`Sandbox` runs one request through what BCC does with it: check the signature,
find the region and the operation, meet an injected fault if one is due, act on the
store, and build the answer. The HTTP layer (``handler.py``) only reads bytes and writes
the :class:`Outcome`; keeping the two apart lets every rule be read, and tested, here.

Every answer carries ``x-bce-request-id``, a fresh UUID that an error body repeats as
``requestId``. Each request is logged on one line (method, path without its query,
operation, status, latency, request id): never a body, a query value, a header, or a
private key.
"""

from __future__ import annotations

import collections
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from keypairs.sandbox import auth, control, faults, instances, keys, operations, routing
from keypairs.sandbox.errors import SandboxError, injected_status_error
from keypairs.sandbox.seed import InstanceSeed
from keypairs.sandbox.store import DEFAULT_QUOTA, KeypairStore, Scope

logger = logging.getLogger("keypairs.sandbox")

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
HTML_CONTENT_TYPE = "text/html"
NOT_JSON_BODY = b"<html>Bad Gateway</html>"
REQUEST_LOG_LENGTH = 1000
INTERNAL_ERROR = "The sandbox failed unexpectedly; its log has the details."
INSTANCES_NOT_A_LIST = "instances must be a list of instance objects."

Clock = Callable[[], datetime]


class RequestRecord(NamedTuple):
    method: str
    path: str  # percent-decoded, without the query string
    operation: str | None  # None when the request named no operation
    status: int | None  # None when the connection was closed without an answer


@dataclass(frozen=True)
class RawRequest:
    method: str
    target: str  # the request-target as received: path and query, percent-encoded
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Outcome:
    request_id: str
    status: int | None  # None: close the connection without answering
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE

    @classmethod
    def json(cls, request_id: str, status: int, payload: Any) -> Outcome:
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(request_id=request_id, status=status, body=body)

    @classmethod
    def error(cls, request_id: str, error: SandboxError) -> Outcome:
        payload = {"requestId": request_id, "code": error.code, "message": error.message}
        return cls.json(request_id, error.status, payload)


def utc_now() -> datetime:
    return datetime.now(UTC)


def random_credentials() -> dict[str, str]:
    return {secrets.token_hex(16): secrets.token_hex(16)}


class Sandbox:
    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        quota: int = DEFAULT_QUOTA,
        seed: InstanceSeed | None = None,
    ) -> None:
        self.credentials = dict(credentials) if credentials else random_credentials()
        self.clock = clock or utc_now
        self.store = KeypairStore(quota=quota, seed=seed)
        self.faults = faults.FaultPlan()
        # Set when the server stops, so that injected waits end at once.
        self.stopping = threading.Event()
        self._log: collections.deque[RequestRecord] = collections.deque(maxlen=REQUEST_LOG_LENGTH)
        self._log_lock = threading.Lock()  # copying a deque while another thread appends fails
        # Bumped by reset(): a request still hanging from before a reset (an injected hang
        # outlives the client's timeout) must not land in the log of whoever comes next.
        self._generation = 0

    # --- what tests and the control endpoint use -------------------------------------

    def reset(self) -> None:
        """Forget every key pair, client token, pending fault and logged request; instances go back to the seed."""
        self.store.reset()
        self.faults.clear()
        with self._log_lock:
            self._log.clear()
            self._generation += 1

    def inject(
        self,
        kind: str,
        *,
        count: int = 1,
        operation: str | None = None,
        status: int | None = None,
        seconds: float | None = None,
    ) -> faults.Fault:
        fault = faults.make_fault(kind, count=count, operation=operation, status=status, seconds=seconds)
        if fault.kind in faults.AFTER_ACTING and fault.operation in (None, "create"):
            # Before the request, not while the client's read timeout runs (faults.py says why).
            prepared = tuple(keys.generate_rsa_keypair() for _ in range(min(fault.count, faults.PREPARED_AT_MOST)))
            fault = replace(fault, prepared_keypairs=prepared)
        self.faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def keypairs(self, region: str = routing.DEFAULT_REGION, access_key_id: str | None = None) -> list[dict]:
        """The stored key pairs of one account and region, oldest first (no private keys: none are kept)."""
        account = access_key_id or next(iter(self.credentials))
        return self.store.all(Scope(account, region))

    def instances(self, region: str = routing.DEFAULT_REGION, access_key_id: str | None = None) -> list[dict]:
        """The instances of one account and region as InstanceModels, in the order they were added."""
        return self.store.all_instances(self._scope(region, access_key_id))

    def add_instances(
        self, fields: list[Any], region: str = routing.DEFAULT_REGION, access_key_id: str | None = None
    ) -> list[dict]:
        """Add unbound instances from InstanceModel-spelled fields (``instances.from_fields``); all or none."""
        if not isinstance(fields, list):
            raise SandboxError("InappropriateJSON", INSTANCES_NOT_A_LIST)
        made = [instances.from_fields(item, region=region, now=self.clock()) for item in fields]
        return self.store.add_instances(self._scope(region, access_key_id), made)

    def set_instance_status(
        self, instance_id: str, status: str, region: str = routing.DEFAULT_REGION, access_key_id: str | None = None
    ) -> dict:
        return self.store.set_instance_status(self._scope(region, access_key_id), instance_id, status)

    def remove_instance(
        self, instance_id: str, region: str = routing.DEFAULT_REGION, access_key_id: str | None = None
    ) -> None:
        self.store.remove_instance(self._scope(region, access_key_id), instance_id)

    def _scope(self, region: str, access_key_id: str | None) -> Scope:
        return Scope(access_key_id or next(iter(self.credentials)), region)

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    # --- one request -----------------------------------------------------------------

    def handle(self, request: RawRequest) -> Outcome:
        started = time.monotonic()
        generation = self._generation
        request_id = str(uuid.uuid4())
        raw_path, query = _split_target(request.target)
        path = unquote(raw_path)
        operation: str | None = None
        outcome = Outcome(request_id=request_id, status=None)
        try:
            incoming = auth.IncomingRequest(request.method, path, query, request.headers)
            if control.is_control_path(path):
                operation = control.operation_name(path)
                payload = control.handle(self, incoming, request.body)
                outcome = Outcome.json(request_id, 200, payload)
            else:
                operation, outcome = self._operate(request_id, incoming, request.body)
        except SandboxError as error:
            outcome = Outcome.error(request_id, error)
        except Exception:
            logger.exception("sandbox request failed rid=%s", request_id)
            outcome = Outcome.error(request_id, SandboxError("InternalError", INTERNAL_ERROR))
        finally:
            self._record(request.method, raw_path, path, operation, outcome, started, generation)
        return outcome

    def refuse(self, method: str, target: str, error: SandboxError) -> Outcome:
        """The answer to a request the HTTP layer could not read (its body, usually)."""
        started = time.monotonic()
        raw_path, _ = _split_target(target)
        outcome = Outcome.error(str(uuid.uuid4()), error)
        self._record(method, raw_path, unquote(raw_path), None, outcome, started, self._generation)
        return outcome

    def _record(
        self,
        method: str,
        raw_path: str,
        path: str,
        operation: str | None,
        outcome: Outcome,
        started: float,
        generation: int,
    ) -> None:
        status = outcome.status
        with self._log_lock:
            if generation == self._generation:
                self._log.append(RequestRecord(method, path, operation, status))
        logger.info(
            "%s %s %s %s %.1fms rid=%s",
            method,
            raw_path if raw_path.isprintable() else repr(raw_path),
            operation or "-",
            status or "no-answer",
            (time.monotonic() - started) * 1000,
            outcome.request_id,
        )

    def _operate(self, request_id: str, incoming: auth.IncomingRequest, body: bytes) -> tuple[str | None, Outcome]:
        """Returns the operation (once known) with the outcome, so errors after routing are logged with it."""
        access_key_id = auth.verify(incoming, secrets=self.credentials, now=self.clock())
        route = routing.resolve(incoming.method, incoming.path, [key for key, _ in incoming.query], _host(incoming))
        fault = self.faults.take(route.operation)
        if fault is not None and fault.kind in faults.BEFORE_ACTING:
            return route.operation, _fault_outcome(request_id, fault)
        if fault is not None and fault.kind == "latency":
            self.stopping.wait(fault.seconds)
        call = operations.Call(
            route=route,
            scope=Scope(access_key_id, route.region),
            query=dict(incoming.query),
            body=body,
            store=self.store,
            now=self.clock(),
            request_id=request_id,
            prepared_keypair=fault.prepared_keypair if fault is not None else None,
        )
        try:
            outcome = Outcome.json(request_id, 200, operations.perform(call))
        except SandboxError as error:
            outcome = Outcome.error(request_id, error)
        except Exception:
            logger.exception("sandbox %s failed rid=%s", route.operation, request_id)
            outcome = Outcome.error(request_id, SandboxError("InternalError", INTERNAL_ERROR))
        if fault is not None and fault.kind in faults.AFTER_ACTING:
            if fault.kind == "commit_then_hang":
                self.stopping.wait(fault.seconds)
            outcome = Outcome(request_id=request_id, status=None)
        return route.operation, outcome


def _fault_outcome(request_id: str, fault: faults.Fault) -> Outcome:
    if fault.kind == "drop":
        return Outcome(request_id=request_id, status=None)
    if fault.kind == "not_json":
        return Outcome(request_id=request_id, status=fault.status, body=NOT_JSON_BODY, content_type=HTML_CONTENT_TYPE)
    return Outcome.error(request_id, injected_status_error(fault.status or 500))


def _split_target(target: str) -> tuple[str, list[tuple[str, str]]]:
    """The raw path and the decoded query of a request-target (origin-form or absolute-form)."""
    if not target.startswith("/"):
        parts = urlsplit(target)
        target = parts.path + ("?" + parts.query if parts.query else "")
    raw_path, _, raw_query = target.partition("?")
    return raw_path, parse_qsl(raw_query, keep_blank_values=True)


def _host(incoming: auth.IncomingRequest) -> str:
    return incoming.headers.get("host", "")
