"""The sandbox's own HTTP control endpoint, under ``/_sandbox/``.

It lets a script that only speaks HTTP (or a test in another process) do what Python
callers do with the server object. Requests must be signed with bce-auth-v1 by one of
the sandbox's own access keys, exactly like key pair requests, so nobody without the
sandbox's keys can reset it or break it on purpose. Faults and resets are server-wide;
the key pair listing is the caller's own.

- ``POST /_sandbox/faults`` with ``{"kind", "count"?, "operation"?, "status"?, "seconds"?}``
  (the arguments of ``SandboxServer.inject``): answers ``{"fault": {...}}``.
- ``GET /_sandbox/faults``: ``{"faults": [...]}``, the faults still to commit.
- ``DELETE /_sandbox/faults``: forget the pending faults.
- ``POST /_sandbox/reset``: forget every key pair, client token and fault.
- ``GET /_sandbox/keypairs?region=bj``: ``{"keypairs": [...]}`` stored for the caller.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from keypairs.sandbox import auth, routing
from keypairs.sandbox.errors import SandboxError

if TYPE_CHECKING:
    from keypairs.sandbox.app import Sandbox

PREFIX = "/_sandbox"
_FAULT_FIELDS = {"kind", "count", "operation", "status", "seconds"}

UNKNOWN_CONTROL = "The sandbox control endpoint has no {method} {path}."
FAULT_BODY_INVALID = "The body must be a JSON object with kind and optionally count, operation, status, seconds."


def is_control_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def operation_name(path: str) -> str:
    return "sandbox." + (path.removeprefix(PREFIX + "/").split("/", 1)[0] or "?")


def handle(sandbox: Sandbox, request: auth.IncomingRequest, body: bytes) -> Any:
    access_key_id = auth.verify(request, secrets=sandbox.credentials, now=sandbox.clock())
    method, path = request.method.upper(), request.path
    if path == PREFIX + "/faults" and method == "POST":
        try:
            fault = sandbox.inject(**_fault_arguments(body))
        except (TypeError, ValueError) as error:  # make_fault says which value is wrong
            raise SandboxError("InappropriateJSON", str(error)) from None
        return {"fault": fault.as_dict()}
    if path == PREFIX + "/faults" and method == "GET":
        return {"faults": [fault.as_dict() for fault in sandbox.faults.pending()]}
    if path == PREFIX + "/faults" and method == "DELETE":
        sandbox.clear_faults()
        return None
    if path == PREFIX + "/reset" and method == "POST":
        sandbox.reset()
        return None
    if path == PREFIX + "/keypairs" and method == "GET":
        region = dict(request.query).get("region") or routing.DEFAULT_REGION
        return {"keypairs": sandbox.keypairs(region=region, access_key_id=access_key_id)}
    raise SandboxError("InvalidURI", UNKNOWN_CONTROL.format(method=method, path=path))


def _fault_arguments(body: bytes) -> dict[str, Any]:
    try:
        fields = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SandboxError("MalformedJSON", FAULT_BODY_INVALID) from None
    if not isinstance(fields, dict) or "kind" not in fields or not set(fields) <= _FAULT_FIELDS:
        raise SandboxError("InappropriateJSON", FAULT_BODY_INVALID)
    return fields
