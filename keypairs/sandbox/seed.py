"""The instances a sandbox starts with in each region: a built-in set, or a JSON file's.

Every account (access key and region) gets its region's instances the first time it is
used, and again after a reset, so ``make run`` and ``manage.py bcc_sandbox`` always have
machines to bind key pairs to. The test suite's sandbox has no seed: each test creates the
instances it needs (``tests/sandbox_instances.py``).

The file (``manage.py bcc_sandbox --instances FILE``) is a JSON object mapping a region to
a list of instances in InstanceModel's spelling (see ``instances.from_fields``)::

    {"bj": [{"id": "i-web00001", "name": "web-1", "status": "Running", "osName": "Ubuntu",
             "internalIp": "192.168.0.11", "zoneName": "cn-bj-a",
             "tags": [{"tagKey": "team", "tagValue": "web"}]}],
     "gz": []}

Regions the file does not name have no instances. The built-in set is the same six
machines in every region, with ids derived from the region, so they survive a restart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keypairs.sandbox import instances
from keypairs.sandbox.errors import SandboxError

SEED_FILE_INVALID = "The instance file must be a JSON object mapping a region to a list of instances."

_BUILT_IN = (
    # name, status, osName, osVersion, zone letter, tags
    ("web-1", "Running", "CentOS", "7.9 x86_64 (64bit)", "a", {"team": "web", "env": "prod"}),
    ("web-2", "Running", "Ubuntu", "22.04 LTS amd64 (64bit)", "b", {"team": "web", "env": "prod"}),
    ("api-staging", "Stopped", "Ubuntu", "22.04 LTS amd64 (64bit)", "a", {"team": "api", "env": "staging"}),
    ("db-1", "Running", "Rocky Linux", "9.2 x86_64 (64bit)", "a", {"team": "data", "env": "prod"}),
    ("ci-runner", "Starting", "Debian", "12.0 amd64 (64bit)", "b", {"team": "ci"}),
    ("win-reports", "Running", "Windows Server", "2019 数据中心版 64位中文版", "a", {"team": "finance"}),
)


class InstanceSeed:
    """Instance fields per region; :meth:`for_region` makes fresh instances from them."""

    def __init__(self, regions: Mapping[str, list[dict[str, Any]]] | None = None, *, built_in: bool = False) -> None:
        self._regions = {region: list(items) for region, items in (regions or {}).items()}
        self._built_in = built_in

    @classmethod
    def built_in(cls) -> InstanceSeed:
        return cls(built_in=True)

    @classmethod
    def from_file(cls, path: str | Path) -> InstanceSeed:
        """Read and check a seed file; ``ValueError`` says what is wrong (``OSError`` if unreadable)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{SEED_FILE_INVALID} ({error})") from None
        if not isinstance(data, dict) or not all(isinstance(items, list) for items in data.values()):
            raise ValueError(SEED_FILE_INVALID)
        seed = cls(data)
        for region in data:
            try:
                made = seed.for_region(region)
            except SandboxError as error:
                raise ValueError(f"Region {region}: {error.message}") from None
            ids = [instance.instance_id for instance in made]
            if len(set(ids)) != len(ids):
                raise ValueError(f"Region {region}: instance ids must be unique.")
        return seed

    def for_region(self, region: str) -> list[instances.StoredInstance]:
        fields = _built_in_fields(region) if self._built_in else self._regions.get(region, [])
        now = datetime.now(UTC)
        return [instances.from_fields(item, region=region, now=now) for item in fields]


def _built_in_fields(region: str) -> list[dict[str, Any]]:
    return [
        {
            "id": _stable_id(region, name),
            "name": name,
            "hostname": f"{name}.{region}.internal",
            "status": status,
            "osName": os_name,
            "osVersion": os_version,
            "internalIp": f"192.168.{1 + index // 250}.{11 + index}",
            "zoneName": f"cn-{region}-{zone}",
            "tags": [{"tagKey": key, "tagValue": value} for key, value in tags.items()],
        }
        for index, (name, status, os_name, os_version, zone, tags) in enumerate(_BUILT_IN)
    ]


def _stable_id(region: str, name: str) -> str:
    digest = hashlib.sha256(f"{region}/{name}".encode()).digest()
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "i-" + "".join(alphabet[byte % len(alphabet)] for byte in digest[:8])
