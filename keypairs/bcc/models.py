"""The typed form of BCC's KeypairModel and InstanceModel, of a bind's answer, and of one finished call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Keypair:
    """A key pair as BCC describes it.

    ``private_key`` is only ever set on the result of a create, and is kept out of
    ``repr()``/``str()`` so that logging a Keypair cannot leak it. ``request_id`` is the
    ``x-bce-request-id`` of the answer this object was read from.
    """

    keypair_id: str
    name: str = ""
    description: str = ""
    public_key: str = ""
    fingerprint: str = ""
    region_id: str = ""
    instance_count: int = 0
    created_time: datetime | None = None
    private_key: str | None = field(default=None, repr=False)
    request_id: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, request_id: str | None = None) -> Keypair:
        """Read a KeypairModel. Only ``keypairId`` is required; anything else may be missing.

        Raises ``ValueError`` when ``data`` is not a KeypairModel at all, with a message that
        names the problem and never repeats the data (it may hold a private key).
        """
        if not isinstance(data, Mapping):
            raise ValueError("A key pair must be a JSON object.")
        keypair_id = data.get("keypairId")
        if not isinstance(keypair_id, str) or not keypair_id:
            raise ValueError("A key pair must have a keypairId.")
        private_key = data.get("privateKey")
        return cls(
            keypair_id=keypair_id,
            name=_text(data.get("name")),
            description=_text(data.get("description")),
            public_key=_text(data.get("publicKey")),
            fingerprint=_text(data.get("fingerPrint")),
            region_id=_text(data.get("regionId")),
            instance_count=_count(data.get("instanceCount")),
            # The docs use both spellings.
            created_time=parse_time(data.get("createdTime") or data.get("createTime")),
            private_key=private_key if isinstance(private_key, str) and private_key else None,
            request_id=request_id,
        )


# BCC binds key pairs to instances in these states only (bcc-keypair-api.md, "Binding").
BINDABLE_STATUSES = frozenset({"Running", "Stopped"})


@dataclass(frozen=True)
class Instance:
    """An instance as BCC describes it, with what binding a key pair needs.

    ``keypair_id`` and ``keypair_name`` are ``None`` when no key pair is bound. Linux or
    Windows is read from ``os_name``: BCC's v2 InstanceModel has no ``osType``.
    """

    instance_id: str
    name: str = ""
    hostname: str = ""
    status: str = ""
    description: str = ""
    internal_ip: str = ""
    public_ip: str = ""
    zone_name: str = ""
    vpc_id: str = ""
    image_name: str = ""
    os_name: str = ""
    os_version: str = ""
    os_arch: str = ""
    keypair_id: str | None = None
    keypair_name: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    request_id: str | None = None

    @property
    def is_windows(self) -> bool:
        return self.os_name.lower().startswith("windows")

    @property
    def can_bind(self) -> bool:
        """Whether BCC would bind a key pair here now (Linux, Running or Stopped)."""
        return not self.is_windows and self.status in BINDABLE_STATUSES

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, request_id: str | None = None) -> Instance:
        """Read an InstanceModel. Only ``id`` is required; ``ValueError`` when it is not one at all."""
        if not isinstance(data, Mapping):
            raise ValueError("An instance must be a JSON object.")
        instance_id = data.get("id")
        if not isinstance(instance_id, str) or not instance_id:
            raise ValueError("An instance must have an id.")
        keypair_id = _text(data.get("keypairId")) or None
        return cls(
            instance_id=instance_id,
            name=_text(data.get("name")),
            hostname=_text(data.get("hostname")),
            status=_text(data.get("status")),
            description=_text(data.get("desc")),
            internal_ip=_text(data.get("internalIp")),
            public_ip=_text(data.get("publicIp")),
            zone_name=_text(data.get("zoneName")),
            vpc_id=_text(data.get("vpcId")),
            image_name=_text(data.get("imageName")),
            os_name=_text(data.get("osName")),
            os_version=_text(data.get("osVersion")),
            os_arch=_text(data.get("osArch")),
            keypair_id=keypair_id,
            keypair_name=_text(data.get("keypairName")) if keypair_id else None,
            tags=_tags(data.get("tags")),
            request_id=request_id,
        )


@dataclass(frozen=True)
class BindingResult:
    """BCC's answer to a bind or unbind: the instances it could not change, if any.

    BCC's docs give no body; newer answers carry ``failedInstanceIdList`` (the Go SDK reads
    it), so an empty answer means no failure reported.
    """

    failed_instance_ids: tuple[str, ...] = ()
    request_id: str | None = None

    @property
    def all_done(self) -> bool:
        return not self.failed_instance_ids

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, request_id: str | None = None) -> BindingResult:
        failed = data.get("failedInstanceIdList")
        if failed is None:
            failed = []
        if not isinstance(failed, list) or not all(isinstance(item, str) for item in failed):
            raise ValueError("failedInstanceIdList must be a list of instance ids.")
        return cls(failed_instance_ids=tuple(failed), request_id=request_id)


@dataclass(frozen=True)
class CallRecord:
    """One finished client call, as ``BccClient.last_call`` reports it (for tests and benchmarks).

    ``outcome`` is ``"ok"``, a BCC error code, or a transport error kind. ``status`` is the
    HTTP status of the last answer (``None`` if none came). ``latency_ms`` covers the whole
    call: every attempt and the back-off between them.
    """

    operation: str
    region: str
    outcome: str
    status: int | None
    request_id: str | None
    attempts: int
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime; ``None`` when missing or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:  # BCC's times are UTC even when the offset is left off
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _tags(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        (tag["tagKey"], _text(tag.get("tagValue")))
        for tag in value
        if isinstance(tag, Mapping) and isinstance(tag.get("tagKey"), str) and tag["tagKey"]
    )


def _count(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


# BCC's own names for the structures.
KeypairModel = Keypair
InstanceModel = Instance
