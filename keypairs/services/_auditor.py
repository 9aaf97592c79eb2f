"""One key pair's audit rows, as every write service writes them."""

from __future__ import annotations

from keypairs.audit import Origin, audit_record
from keypairs.models import KeyPairRequest


def auditor_for(*, user, origin: Origin, keypair_request: KeyPairRequest, why: str = ""):
    """An ``audit_record`` with the actor, origin, region, name and key pair id filled in.

    They are read from ``keypair_request`` when a row is written, not when the auditor is made:
    a row written after a rename or after BCC's answer names the key pair as it is then.
    ``why`` (a policy's reason, an admin's decision) ends every row's detail. For a key pair the
    portal owns no record of, ``keypair_request`` is its ``BccInventoryEntry``: only ``region``,
    ``name`` and ``keypair_id`` are read (``keypairs.services.inventory``).
    """

    def record(**fields) -> None:
        fields.setdefault("keypair_id", keypair_request.keypair_id)
        if why:
            fields["detail"] = f"{fields['detail']} ({why})" if fields.get("detail") else why
        audit_record(
            actor=user,
            origin=origin,
            region=keypair_request.region,
            keypair_name=keypair_request.name,
            **fields,
        )

    return record
