"""The sandbox's own HTTP control endpoint, under ``/_sandbox/``.

It lets a script that only speaks HTTP (or a test in another process) do what Python
callers do with the server object. Requests must be signed with bce-auth-v1 by one of
the sandbox's own access keys, exactly like key pair requests, so nobody without the
sandbox's keys can reset it or break it on purpose. Faults and resets are server-wide;
key pairs and instances are the caller's own (its access key), in ``?region=`` (bj if absent).

- ``POST /_sandbox/faults`` with ``{"kind", "count"?, "operation"?, "status"?, "seconds"?}``
  (the arguments of ``SandboxServer.inject``): answers ``{"fault": {...}}``.
- ``GET /_sandbox/faults``: ``{"faults": [...]}``, the faults still to commit.
- ``DELETE /_sandbox/faults``: forget the pending faults.
- ``POST /_sandbox/reset``: forget every key pair, client token and fault.
- ``GET /_sandbox/keypairs?region=bj``: ``{"keypairs": [...]}`` stored for the caller.
- ``POST /_sandbox/instances?region=bj`` with ``{"instances": [{...}, ...]}``, each in
  InstanceModel's spelling (``instances.from_fields``; every field optional): adds them,
  unbound, all or none; answers ``{"instances": [InstanceModel, ...]}``.
- ``GET /_sandbox/instances?region=bj``: ``{"instances": [...]}``.
- ``PUT /_sandbox/instances/{instanceId}?region=bj`` with ``{"status": "Stopped"}``: the
  instance's new status (say ``Starting``, to see a bind refused); answers ``{"instance": {...}}``.
- ``DELETE /_sandbox/instances/{instanceId}?region=bj``: the instance is released, and its
  binding with it.
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
INSTANCES_BODY_INVALID = 'The body must be a JSON object {"instances": [...]}.'
STATUS_BODY_INVALID = 'The body must be a JSON object {"status": "..."}.'
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
    region = dict(request.query).get("region") or routing.DEFAULT_REGION
    if path == PREFIX + "/keypairs" and method == "GET":
        return {"keypairs": sandbox.keypairs(region=region, access_key_id=access_key_id)}
    if path == PREFIX + "/instances" and method == "GET":
        return {"instances": sandbox.instances(region=region, access_key_id=access_key_id)}
    if path == PREFIX + "/instances" and method == "POST":
        fields = _json_object(body, INSTANCES_BODY_INVALID)
        if set(fields) != {"instances"}:
            raise SandboxError("InappropriateJSON", INSTANCES_BODY_INVALID)
        added = sandbox.add_instances(fields["instances"], region=region, access_key_id=access_key_id)
        return {"instances": added}
    instance_id = path.removeprefix(PREFIX + "/instances/") if path.startswith(PREFIX + "/instances/") else ""
    if instance_id and "/" not in instance_id and method == "PUT":
        fields = _json_object(body, STATUS_BODY_INVALID)
        if set(fields) != {"status"}:
            raise SandboxError("InappropriateJSON", STATUS_BODY_INVALID)
        instance = sandbox.set_instance_status(
            instance_id, fields["status"], region=region, access_key_id=access_key_id
        )
        return {"instance": instance}
    if instance_id and "/" not in instance_id and method == "DELETE":
        sandbox.remove_instance(instance_id, region=region, access_key_id=access_key_id)
        return None
    raise SandboxError("InvalidURI", UNKNOWN_CONTROL.format(method=method, path=path))


def _json_object(body: bytes, message: str) -> dict[str, Any]:
    try:
        fields = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SandboxError("MalformedJSON", message) from None
    if not isinstance(fields, dict):
        raise SandboxError("InappropriateJSON", message)
    return fields


def _fault_arguments(body: bytes) -> dict[str, Any]:
    try:
        fields = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SandboxError("MalformedJSON", FAULT_BODY_INVALID) from None
    if not isinstance(fields, dict) or "kind" not in fields or not set(fields) <= _FAULT_FIELDS:
        raise SandboxError("InappropriateJSON", FAULT_BODY_INVALID)
    return fields
