"""Instances in the BCC sandbox, made in one line, for tests that bind key pairs.

The sandbox refuses to bind a key pair to an instance it does not have
(``Keypair.InstanceNotExist``), so a test creates its instances first::

    from tests.sandbox_instances import linux_instances

    def test_a_bound_keypair_is_not_deleted(portal_on_sandbox, ...):
        instance_ids = linux_instances(portal_on_sandbox, "bj", 2)
        get_client("bj").attach_keypair(keypair_id, instance_ids=instance_ids)

A test that already names its made-up ids keeps them, adding one line before the bind::

    linux_instances(portal_on_sandbox, "bj", ids=["i-web1", "i-web2"])
    get_client("bj").attach_keypair(keypair_id, instance_ids=["i-web1", "i-web2"])

``sandbox`` is the ``sandbox`` or ``portal_on_sandbox`` fixture (both are the session's
``SandboxServer``, emptied for each test). Other fields use InstanceModel's spelling
(``status="Stopped"``, ``zoneName="cn-bj-b"``, ``internalIp=...``, ``name=...``); ``tags``
may be a dict (``tags={"team": "web"}``). Instances belong to the sandbox's first access
key, the one the portal signs with under ``portal_on_sandbox``.
"""

from __future__ import annotations

from typing import Any


def linux_instances(
    sandbox, region: str = "bj", count: int | None = None, *, ids: list[str] | None = None, **fields: Any
) -> list[str]:
    """Add ``count`` Linux instances (or one per id in ``ids``), Running unless told otherwise; their ids."""
    return _add(sandbox, region, count, ids, {"osType": "linux", **fields})


def windows_instances(
    sandbox, region: str = "bj", count: int | None = None, *, ids: list[str] | None = None, **fields: Any
) -> list[str]:
    """Like :func:`linux_instances`, for Windows instances (which BCC never binds a key pair to)."""
    return _add(sandbox, region, count, ids, {"osType": "windows", **fields})


def _add(sandbox, region: str, count: int | None, ids: list[str] | None, fields: dict[str, Any]) -> list[str]:
    if (count is None) == (ids is None):
        raise TypeError("Give either count or ids.")
    if isinstance(fields.get("tags"), dict):
        fields["tags"] = [{"tagKey": key, "tagValue": value} for key, value in fields["tags"].items()]
    wanted = [{**fields, "id": instance_id} for instance_id in ids] if ids is not None else [fields] * (count or 0)
    if "name" in fields and len(wanted) > 1:  # one name for several: number them, as BCC's console does
        wanted = [{**item, "name": f"{fields['name']}-{index}"} for index, item in enumerate(wanted, start=1)]
    return [instance["id"] for instance in sandbox.add_instances(wanted, region=region)]
