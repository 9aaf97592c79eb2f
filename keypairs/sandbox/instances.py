"""The sandbox's instances: what one is, how it is described, and how a listing filters them.

Only what binding a key pair needs is modelled (bcc-keypair-api.md, "Instances"): an
instance's identity, status, operating system, addresses, zone, tags and the key pair
bound to it. The rest of BCC's InstanceModel is filled with fixed, plausible values so
that clients written for BCC (the official SDKs) read it as they read BCC's.

Instances arrive from outside as JSON objects in InstanceModel's own spelling
(``{"id", "name", "status", "osName", "internalIp", "zoneName", "tags": [{"tagKey",
"tagValue"}], ...}``), through the seed file, the control endpoint or Python.
:func:`from_fields` checks them. A key pair is never given that way: an instance starts
unbound and is bound through ``attach``, so that ``instanceCount`` cannot disagree with
the instances.

Linux or Windows is read from ``osName``, as BCC's v2 API has no ``osType``: an
``osName`` starting with "Windows" is Windows, anything else Linux. ``osType``
(``linux``/``windows``) is accepted on input as a shorthand that picks a default
``osName``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keypairs.sandbox.errors import SandboxError

# BCC's status values (bcc-keypair-api.md); only Running and Stopped allow binding.
STATUSES = (
    "Running",
    "Starting",
    "Stopping",
    "Stopped",
    "Deleted",
    "Scaling",
    "Expired",
    "Error",
    "SnapshotProcessing",
    "ImageProcessing",
    "ChangeVpc",
    "Recycled",
)
BINDABLE_STATUSES = frozenset({"Running", "Stopped"})

DEFAULT_OS_NAME = {"linux": "CentOS", "windows": "Windows Server"}
DEFAULT_OS_VERSION = {"linux": "7.9 x86_64 (64bit)", "windows": "2019 数据中心版 64位中文版"}
_ID_ALPHABET = string.ascii_letters + string.digits
# Like the client's key pair id rule: nothing that could escape a URL path segment.
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TEXT_FIELDS = (
    "name",
    "hostname",
    "desc",
    "osName",
    "osVersion",
    "osArch",
    "internalIp",
    "publicIp",
    "zoneName",
    "vpcId",
    "subnetId",
    "dedicatedHostId",
    "imageId",
    "imageName",
)
_ALLOWED_FIELDS = frozenset({"id", "status", "osType", "tags", *_TEXT_FIELDS})

INSTANCE_NOT_OBJECT = "Each instance must be a JSON object."
INSTANCE_FIELD_UNKNOWN = "Unknown instance field(s): {names}. Bind key pairs with attach, not here."
INSTANCE_ID_INVALID = (
    "An instance id must be 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit."
)
INSTANCE_STATUS_INVALID = "An instance status must be one of: " + ", ".join(STATUSES) + "."
INSTANCE_OS_TYPE_INVALID = "osType must be linux or windows."
INSTANCE_TEXT_INVALID = "The instance field {name!r} must be a string."
INSTANCE_TAGS_INVALID = 'tags must be a list of {"tagKey": ..., "tagValue": ...} objects with string values.'


def new_instance_id() -> str:
    """An id in BCC's form, ``i-`` and 8 letters or digits."""
    return "i-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def check_instance_id(instance_id: Any) -> str:
    if not isinstance(instance_id, str) or not _INSTANCE_ID.fullmatch(instance_id):
        raise SandboxError("InappropriateJSON", INSTANCE_ID_INVALID)
    return instance_id


def check_status(status: Any) -> str:
    if status not in STATUSES:
        raise SandboxError("InappropriateJSON", INSTANCE_STATUS_INVALID)
    return status


@dataclass
class StoredInstance:
    instance_id: str
    name: str
    hostname: str
    status: str
    os_name: str
    os_version: str
    os_arch: str
    internal_ip: str
    public_ip: str
    zone_name: str
    vpc_id: str
    subnet_id: str
    dedicated_host_id: str
    image_id: str
    image_name: str
    description: str
    tags: list[tuple[str, str]]
    created_time: datetime
    keypair_id: str | None = None  # the one key pair bound here, if any

    @property
    def is_windows(self) -> bool:
        return self.os_name.lower().startswith("windows")

    def to_model(self, keypair_name: str) -> dict[str, Any]:
        """BCC's InstanceModel (``keypairName`` is the bound key pair's current name)."""
        return {
            "id": self.instance_id,
            "name": self.name,
            "hostname": self.hostname,
            "status": self.status,
            "desc": self.description,
            "instanceType": "N5",
            "spec": "bcc.g5.c2m8",
            "cpuCount": 2,
            "memoryCapacityInGB": 8,
            "paymentTiming": "Postpaid",
            "createTime": self.created_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "internalIp": self.internal_ip,
            "publicIp": self.public_ip,
            "zoneName": self.zone_name,
            "vpcId": self.vpc_id,
            "subnetId": self.subnet_id,
            "dedicatedHostId": self.dedicated_host_id,
            "imageId": self.image_id,
            "imageName": self.image_name,
            "imageType": "System",
            "osName": self.os_name,
            "osVersion": self.os_version,
            "osArch": self.os_arch,
            "keypairId": self.keypair_id or "",
            "keypairName": keypair_name if self.keypair_id else "",
            "tags": [{"tagKey": key, "tagValue": value} for key, value in self.tags],
        }


def from_fields(fields: Any, *, region: str, now: datetime | None = None) -> StoredInstance:
    """A new, unbound instance from InstanceModel-spelled fields; ``SandboxError`` says what is wrong.

    Only ``id`` is worth giving in tests that name their instances; everything else has a
    default (a running Linux machine with a fresh id).
    """
    if not isinstance(fields, Mapping):
        raise SandboxError("InappropriateJSON", INSTANCE_NOT_OBJECT)
    unknown = sorted(set(fields) - _ALLOWED_FIELDS)
    if unknown:
        raise SandboxError("InappropriateJSON", INSTANCE_FIELD_UNKNOWN.format(names=", ".join(unknown)))
    text = {name: _text(fields, name) for name in _TEXT_FIELDS}
    instance_id = check_instance_id(fields["id"]) if fields.get("id") is not None else new_instance_id()
    os_type = fields.get("osType")
    if os_type is not None and os_type not in DEFAULT_OS_NAME:
        raise SandboxError("InappropriateJSON", INSTANCE_OS_TYPE_INVALID)
    os_type = os_type or "linux"
    name = text["name"] or instance_id
    os_name = text["osName"] or DEFAULT_OS_NAME[os_type]
    return StoredInstance(
        instance_id=instance_id,
        name=name,
        hostname=text["hostname"] or name.lower(),
        status=check_status(fields.get("status", "Running")),
        os_name=os_name,
        os_version=text["osVersion"]
        or DEFAULT_OS_VERSION["windows" if os_name.lower().startswith("windows") else "linux"],
        os_arch=text["osArch"] or "x86_64 (64bit)",
        internal_ip=text["internalIp"] or _internal_ip_for(instance_id),
        public_ip=text["publicIp"],
        zone_name=text["zoneName"] or f"cn-{region}-a",
        vpc_id=text["vpcId"] or f"vpc-{region}default",
        subnet_id=text["subnetId"] or f"sbn-{region}default",
        dedicated_host_id=text["dedicatedHostId"],
        image_id=text["imageId"] or "m-sandbox0",
        image_name=text["imageName"] or os_name,
        description=text["desc"],
        tags=_tags(fields.get("tags")),
        created_time=now or datetime.now(UTC),
    )


def _internal_ip_for(instance_id: str) -> str:
    """A private address of its own for an instance given none (stable for its id), so IP filters mean something."""
    digest = hashlib.sha256(instance_id.encode()).digest()
    return f"192.168.{digest[0]}.{2 + digest[1] % 250}"


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SandboxError("InappropriateJSON", INSTANCE_TEXT_INVALID.format(name=name))
    return value


def _tags(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SandboxError("InappropriateJSON", INSTANCE_TAGS_INVALID)
    tags = []
    for tag in value:
        if not isinstance(tag, Mapping) or set(tag) - {"tagKey", "tagValue"}:
            raise SandboxError("InappropriateJSON", INSTANCE_TAGS_INVALID)
        key, tag_value = tag.get("tagKey"), tag.get("tagValue", "")
        if not isinstance(key, str) or not key or not isinstance(tag_value, str):
            raise SandboxError("InappropriateJSON", INSTANCE_TAGS_INVALID)
        tags.append((key, tag_value))
    return tags


# --- listing filters -----------------------------------------------------------------


@dataclass(frozen=True)
class InstanceFilter:
    """The filters of ``GET /v2/instance``: fields combine with AND, a field's values with OR.

    Each value list holds the comma-separated values of one query parameter; ``None`` means
    the parameter was not given. ``tags`` values are ``key:value`` or ``key`` (any value).
    ``fuzzy_name`` is a substring of the name.
    """

    internal_ips: Sequence[str] | None = None
    zone_names: Sequence[str] | None = None
    dedicated_host_ids: Sequence[str] | None = None
    instance_ids: Sequence[str] | None = None
    names: Sequence[str] | None = None
    fuzzy_name: str | None = None
    statuses: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    vpc_ids: Sequence[str] | None = None
    keypair_ids: Sequence[str] | None = None

    def matches(self, instance: StoredInstance) -> bool:
        checks = (
            (self.internal_ips, instance.internal_ip),
            (self.zone_names, instance.zone_name),
            (self.dedicated_host_ids, instance.dedicated_host_id),
            (self.instance_ids, instance.instance_id),
            (self.names, instance.name),
            (self.statuses, instance.status),
            (self.vpc_ids, instance.vpc_id),
            (self.keypair_ids, instance.keypair_id or ""),
        )
        if any(wanted is not None and value not in wanted for wanted, value in checks):
            return False
        if self.fuzzy_name is not None and self.fuzzy_name not in instance.name:
            return False
        return self.tags is None or any(_has_tag(instance, tag) for tag in self.tags)


def _has_tag(instance: StoredInstance, wanted: str) -> bool:
    key, has_value, value = wanted.partition(":")
    return any(tag_key == key and (not has_value or tag_value == value) for tag_key, tag_value in instance.tags)
