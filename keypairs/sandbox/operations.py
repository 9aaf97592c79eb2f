"""What each key pair operation does once the request is signed and routed.

Each function reads its parameters (query and JSON body), checks them with BCC's rules,
acts on the store and returns the JSON to answer with (None for BCC's empty 200).
Bodies that are not JSON are ``MalformedJSON``; JSON of the wrong shape (not an object,
a field of the wrong type, a required field missing) is ``InappropriateJSON``. An
optional field sent as ``null`` counts as absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keypairs.sandbox import keys, rules
from keypairs.sandbox.errors import SandboxError
from keypairs.sandbox.instances import InstanceFilter
from keypairs.sandbox.routing import Route
from keypairs.sandbox.store import KeypairStore, Scope, StoredKeypair

DEFAULT_MAX_KEYS = 1000
MAX_MAX_KEYS = 1000

MALFORMED_JSON = "The request body is not valid JSON."
NOT_AN_OBJECT = "The request body must be a JSON object."
FIELD_MISSING = "The request body needs the field {name!r}."
FIELD_NOT_STRING = "The field {name!r} must be a string."
INSTANCE_IDS_INVALID = "instanceIds must be a non-empty list of instance id strings."
MAX_KEYS_INVALID = "maxKeys must be a positive whole number."

_MISSING = object()


@dataclass(frozen=True)
class Call:
    """Everything an operation may read: where it runs, its parameters, the time."""

    route: Route
    scope: Scope
    query: Mapping[str, str]
    body: bytes
    store: KeypairStore
    now: datetime
    request_id: str = ""  # repeated in the bodies that carry one (attach and detach)
    # A create's key material generated ahead of the request (an after-acting fault's; faults.py).
    prepared_keypair: keys.GeneratedKeypair | None = None


def perform(call: Call) -> dict[str, Any] | None:
    return _OPERATIONS[call.route.operation](call)


# --- create and import ---------------------------------------------------------------


def create(call: Call) -> dict[str, Any]:
    fields = _object(call.body)
    name = rules.check_name(_string(fields, "name"))
    description = rules.check_description(_string(fields, "description", required=False))

    def make() -> tuple[StoredKeypair, str | None]:
        generated = call.prepared_keypair or keys.generate_rsa_keypair()
        stored = _stored(call, name, description, generated.public_key, generated.fingerprint, generated.blob)
        return stored, generated.private_key

    return _add_once(call, ("create", name, description), blob=None, make=make)


def import_(call: Call) -> dict[str, Any]:
    fields = _object(call.body)
    name = rules.check_name(_string(fields, "name"))
    description = rules.check_description(_string(fields, "description", required=False))
    public_key = keys.parse_public_key(_string(fields, "publicKey"))

    def make() -> tuple[StoredKeypair, str | None]:
        stored = _stored(call, name, description, public_key.text, public_key.fingerprint, public_key.blob)
        return stored, None

    return _add_once(call, ("import", name, description, public_key.text), blob=public_key.blob, make=make)


def _add_once(
    call: Call,
    parameters: tuple[str, ...],
    *,
    blob: bytes | None,
    make: Callable[[], tuple[StoredKeypair, str | None]],
) -> dict[str, Any]:
    """Add a key pair, honouring ``clientToken`` (see store.py for what a replay answers)."""
    token = call.query.get("clientToken") or None
    if token is not None:
        rules.check_client_token(token)
        replay = call.store.claim_token(call.scope, token, parameters, call.now)
        if replay is not None:
            return {"keypair": replay}
    try:
        call.store.check_room(call.scope, blob=blob)
        stored, private_key = make()  # outside the store's lock: key generation is slow
        model = call.store.add(call.scope, stored, client_token=token)
    except BaseException:
        if token is not None:
            call.store.release_token(call.scope, token)
        raise
    if private_key is not None:
        model["privateKey"] = private_key
    return {"keypair": model}


def _stored(call: Call, name: str, description: str, public_key: str, fingerprint: str, blob: bytes) -> StoredKeypair:
    return StoredKeypair(
        keypair_id=keys.new_keypair_id(),
        name=name,
        description=description,
        public_key=public_key,
        fingerprint=fingerprint,
        blob=blob,
        region=call.scope.region,
        created_time=call.now,
    )


# --- reads ---------------------------------------------------------------------------


def list_(call: Call) -> dict[str, Any]:
    max_keys = _max_keys(call.query.get("maxKeys"))
    marker = call.query.get("marker") or None
    page = call.store.list(call.scope, marker=marker, max_keys=max_keys, name=call.query.get("name") or None)
    return {
        "marker": marker or "",
        "isTruncated": page.next_marker is not None,
        "nextMarker": page.next_marker or "",
        "maxKeys": max_keys,
        "keypairs": page.keypairs,
    }


def get(call: Call) -> dict[str, Any]:
    return {"keypair": call.store.get(call.scope, _keypair_id(call))}


# --- changes to one key pair ---------------------------------------------------------


def delete(call: Call) -> None:
    call.store.delete(call.scope, _keypair_id(call))


def rename(call: Call) -> None:
    name = rules.check_name(_string(_object(call.body), "name"))
    call.store.rename(call.scope, _keypair_id(call), name)


def update_description(call: Call) -> None:
    description = rules.check_description(_string(_object(call.body), "description"))
    call.store.update_description(call.scope, _keypair_id(call), description)


def attach(call: Call) -> dict[str, Any]:
    failed = call.store.attach(call.scope, _keypair_id(call), _instance_ids(call.body))
    return {"requestId": call.request_id, "failedInstanceIdList": failed}


def detach(call: Call) -> dict[str, Any]:
    failed = call.store.detach(call.scope, _keypair_id(call), _instance_ids(call.body))
    return {"requestId": call.request_id, "failedInstanceIdList": failed}


# --- instances -----------------------------------------------------------------------


def list_instances(call: Call) -> dict[str, Any]:
    max_keys = _max_keys(call.query.get("maxKeys"))
    marker = call.query.get("marker") or None
    page = call.store.list_instances(call.scope, marker=marker, max_keys=max_keys, where=_instance_filter(call.query))
    answer: dict[str, Any] = {
        "marker": marker or "",
        "isTruncated": page.next_marker is not None,
        "maxKeys": max_keys,
        "instances": page.instances,
    }
    if page.next_marker is not None:  # BCC leaves nextMarker out of a last page
        answer["nextMarker"] = page.next_marker
    return answer


def get_instance(call: Call) -> dict[str, Any]:
    assert call.route.instance_id is not None  # routing gives get_instance an id
    return {"instance": call.store.get_instance(call.scope, call.route.instance_id)}


_OPERATIONS: dict[str, Callable[[Call], dict[str, Any] | None]] = {
    "create": create,
    "import": import_,
    "list": list_,
    "get": get,
    "delete": delete,
    "rename": rename,
    "update_description": update_description,
    "attach": attach,
    "detach": detach,
    "list_instances": list_instances,
    "get_instance": get_instance,
}


# --- reading parameters --------------------------------------------------------------


def _object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SandboxError("MalformedJSON", MALFORMED_JSON) from None
    if not isinstance(parsed, dict):
        raise SandboxError("InappropriateJSON", NOT_AN_OBJECT)
    return parsed


def _string(fields: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = fields.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise SandboxError("InappropriateJSON", FIELD_MISSING.format(name=name))
        return ""
    if not isinstance(value, str):
        raise SandboxError("InappropriateJSON", FIELD_NOT_STRING.format(name=name))
    return value


def _instance_ids(body: bytes) -> list[str]:
    value = _object(body).get("instanceIds")
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
        raise SandboxError("InappropriateJSON", INSTANCE_IDS_INVALID)
    return value


def _instance_filter(query: Mapping[str, str]) -> InstanceFilter:
    """The filters of an instance listing; an empty parameter counts as absent."""

    def values(*names: str) -> list[str] | None:
        raw = next((query[name] for name in names if query.get(name)), None)
        return [value.strip() for value in raw.split(",") if value.strip()] if raw else None

    return InstanceFilter(
        internal_ips=_either(values("internalIp"), values("privateIps")),
        zone_names=values("zoneName"),
        # The Go SDK spells it dedicateHostId.
        dedicated_host_ids=values("dedicatedHostId", "dedicateHostId"),
        instance_ids=values("instanceIds"),
        names=values("instanceNames"),
        fuzzy_name=query.get("fuzzyInstanceName") or None,
        statuses=values("status"),
        tags=values("tags"),
        vpc_ids=values("vpcId"),
        keypair_ids=values("keypairId"),  # sent by the Go SDK, undocumented (bcc-keypair-api.md)
    )


def _either(first: list[str] | None, second: list[str] | None) -> list[str] | None:
    """Two parameters that filter one field (internalIp, privateIps): both must match."""
    if first is None or second is None:
        return first if second is None else second
    return [value for value in first if value in second]


def _max_keys(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_MAX_KEYS
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise SandboxError("InvalidHTTPRequest", MAX_KEYS_INVALID)
    return min(int(raw), MAX_MAX_KEYS)  # more than a page holds gives a full page


def _keypair_id(call: Call) -> str:
    assert call.route.keypair_id is not None  # routing gives every item operation an id
    return call.route.keypair_id
