"""Faults the sandbox can be told to commit, to show how a client copes with a bad day.

Each fault applies to the next ``count`` requests for its operation (or for any
operation), in the order the faults were injected; one request meets at most one
fault. Only requests that were signed correctly and name a key pair operation meet
faults, so a stray unsigned probe cannot use one up.

Kinds:

- ``latency``: wait ``seconds``, then answer normally.
- ``status``: answer ``status`` (default 500) with a BCE error body, doing nothing.
- ``not_json``: answer ``status`` (default 502) with an HTML page, doing nothing, as a
  proxy in front of BCC would.
- ``drop``: close the connection without answering, doing nothing.
- ``commit_then_drop``: do the operation (a create stores its key pair), then close
  the connection without answering: the client cannot know it happened.
- ``commit_then_hang``: do the operation, then wait ``seconds`` without answering,
  then close: a client with a shorter read timeout gives up after BCC committed.

The key pairs an after-acting fault's creates store are generated when the fault is
injected (``prepared_keypairs``), not while the client waits. Generating a 2048-bit RSA key
takes tens of milliseconds, and more than a second on a loaded machine: generated during the
request, it could outlast a client's read timeout, and the client would give up *before*
the create committed (a different failure, the one ``latency`` plays), not after it.
At most ``PREPARED_AT_MOST`` are prepared, so a large ``count`` cannot stall the sandbox;
creates beyond them generate their key as usual.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

from keypairs.sandbox.routing import OPERATIONS

KINDS = ("latency", "status", "drop", "commit_then_drop", "commit_then_hang", "not_json")
# Kinds that answer (or not) without doing the operation.
BEFORE_ACTING = frozenset({"status", "drop", "not_json"})
# Kinds that do the operation and then give no answer.
AFTER_ACTING = frozenset({"commit_then_drop", "commit_then_hang"})
_DEFAULT_STATUS = {"status": 500, "not_json": 502}
_NEEDS_SECONDS = frozenset({"latency", "commit_then_hang"})
PREPARED_AT_MOST = 10


@dataclass(frozen=True)
class Fault:
    kind: str
    count: int = 1
    operation: str | None = None
    status: int | None = None
    seconds: float | None = None
    # One per request the fault still applies to (see the module docstring); never shown.
    prepared_keypairs: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    @property
    def prepared_keypair(self) -> Any | None:
        """The key pair this request's create stores, generated in advance; None to generate one."""
        return self.prepared_keypairs[0] if self.prepared_keypairs else None

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "count": self.count,
            "operation": self.operation,
            "status": self.status,
            "seconds": self.seconds,
        }


def make_fault(
    kind: str,
    *,
    count: int = 1,
    operation: str | None = None,
    status: int | None = None,
    seconds: float | None = None,
) -> Fault:
    """A checked :class:`Fault`; ``ValueError`` says what is wrong with the arguments."""
    if kind not in KINDS:
        raise ValueError(f"Unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}.")
    if operation is not None and operation not in OPERATIONS:
        raise ValueError(f"Unknown operation {operation!r}; expected None or one of {', '.join(OPERATIONS)}.")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive whole number.")
    if kind in _NEEDS_SECONDS and (seconds is None or isinstance(seconds, bool) or seconds < 0):
        raise ValueError(f"A {kind!r} fault needs seconds >= 0.")
    if status is None:
        status = _DEFAULT_STATUS.get(kind)
    elif isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status, 400 to 599.")
    return Fault(kind=kind, count=count, operation=operation, status=status, seconds=seconds)


class FaultPlan:
    """The faults still to commit. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._pending)

    def take(self, operation: str) -> Fault | None:
        """The fault this request meets, if any; it counts as used."""
        with self._lock:
            for index, fault in enumerate(self._pending):
                if fault.operation in (None, operation):
                    if fault.count == 1:
                        del self._pending[index]
                    else:
                        rest = fault.prepared_keypairs[1:]
                        self._pending[index] = replace(fault, count=fault.count - 1, prepared_keypairs=rest)
                    return replace(fault, count=1, prepared_keypairs=fault.prepared_keypairs[:1])
            return None
