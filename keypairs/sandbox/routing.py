"""Which region and which operation a request is for.

Real BCC takes the region from the host name, ``bcc.{region}.baidubce.com``. On loopback
one port serves every region, so the region comes from, in order:

1. a path prefix: ``/{region}/v2/...`` where ``{region}`` is 2 to 6 lower-case letters
   (the portal's endpoint template for the sandbox is ``http://127.0.0.1:PORT/{region}``);
2. a Host header ``bcc.{region}.<anything>``;
3. otherwise :data:`DEFAULT_REGION`, so BCC's official SDK pointed at
   ``http://127.0.0.1:PORT`` works on ``bj``.

The prefix is part of the signed path: the signature is checked before it is removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from keypairs.sandbox.errors import SandboxError

DEFAULT_REGION = "bj"

OPERATIONS = (
    "create",
    "import",
    "list",
    "get",
    "delete",
    "rename",
    "update_description",
    "attach",
    "detach",
    "list_instances",
    "get_instance",
)

_PREFIXED = re.compile(r"/([a-z]{2,6})(/v2(?:/.*)?)", re.DOTALL)
_HOST = re.compile(r"bcc\.([a-z]{2,6})\.", re.IGNORECASE)
_COLLECTION = "/v2/keypair"
_ITEM = re.compile(r"/v2/keypair/([^/]+)", re.DOTALL)
_INSTANCES = "/v2/instance"
_INSTANCE = re.compile(r"/v2/instance/([^/]+)", re.DOTALL)
# Query flags that pick the operation on PUT /v2/keypair/{id}.
_ITEM_ACTIONS = {"rename": "rename", "updateDesc": "update_description", "attach": "attach", "detach": "detach"}

INVALID_URI = "No BCC operation the sandbox knows answers {method} {path}."


@dataclass(frozen=True)
class Route:
    operation: str
    region: str
    keypair_id: str | None = None
    instance_id: str | None = None


def resolve(method: str, path: str, query_keys: Iterable[str], host: str) -> Route:
    """The operation for a request whose signature was checked; ``InvalidURI`` if there is none."""
    region, path = _split_region(path, host)
    keys = set(query_keys)
    if method.upper() == "GET" and path == _INSTANCES:
        return Route(operation="list_instances", region=region)
    instance = _INSTANCE.fullmatch(path)
    if method.upper() == "GET" and instance is not None:
        return Route(operation="get_instance", region=region, instance_id=instance.group(1))
    operation, keypair_id = _operation(method.upper(), path, keys)
    if operation is None:
        raise SandboxError("InvalidURI", INVALID_URI.format(method=method, path=path))
    return Route(operation=operation, region=region, keypair_id=keypair_id)


def _split_region(path: str, host: str) -> tuple[str, str]:
    prefixed = _PREFIXED.fullmatch(path)
    if prefixed:
        return prefixed.group(1), prefixed.group(2)
    from_host = _HOST.match(host.strip())
    return (from_host.group(1).lower() if from_host else DEFAULT_REGION), path


def _operation(method: str, path: str, keys: set[str]) -> tuple[str | None, str | None]:
    if path == _COLLECTION:
        # The official Python SDK sends POST /v2/keypair?create; the docs, POST /v2/keypair.
        if method == "POST":
            return "create", None
        if method == "PUT" and "import" in keys:
            return "import", None
        if method == "GET":
            return "list", None
        return None, None
    item = _ITEM.fullmatch(path)
    if item is None:
        return None, None
    keypair_id = item.group(1)
    if method == "GET":
        return "get", keypair_id
    if method == "DELETE":
        return "delete", keypair_id
    actions = [operation for flag, operation in _ITEM_ACTIONS.items() if flag in keys]
    if method == "PUT" and len(actions) == 1:
        return actions[0], keypair_id
    return None, None
