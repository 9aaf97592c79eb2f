"""The typed form of BCC's KeypairModel and of one finished call."""

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


def _count(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


# BCC's own name for the structure.
KeypairModel = Keypair
