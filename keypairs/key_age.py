"""Keys that age: each region's maximum age, reminders to owners, then the operators' policy.

Stub on main: the key age work (issue 11, part 3) fills this module in. ``enforce_key_age`` is
what ``manage.py enforce_key_policy`` calls; it must stay idempotent and safe when two runs
overlap (the command holds a ``keypairs.single_runner`` lease, and every write is conditional).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from keypairs.audit import Origin
from keypairs.services.policy import PolicyStep


@dataclass
class KeyAgeRun:
    """What one run did: reminders mailed (one line each) and the policy's steps on expired key pairs."""

    reminded: list[str] = field(default_factory=list)
    steps: list[PolicyStep] = field(default_factory=list)


def enforce_key_age(*, now: datetime, origin: Origin) -> KeyAgeRun:
    return KeyAgeRun()
