"""Mail to one person about their access (a decision, an expiry), with the undelivered ones audited.

``keypairs.mail.send_portal_mail`` never fails the work it reports; this adds "nobody left
untold without a trace": a person without an address, or a mail the server refused, leaves a
``mail_failed`` audit row naming the mail (never its content) on the key pair it was about.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keypairs.audit import Origin, audit_record
from keypairs.mail import send_portal_mail
from keypairs.models import AuditEvent, KeyPairRequest


def mail_person(
    *, person, template: str, context: Mapping[str, Any], keypair_request: KeyPairRequest, origin: Origin
) -> bool:
    """Mail ``template`` to ``person``; False, with a ``mail_failed`` audit row, when it did not go."""
    address = getattr(person, "email", "") or ""
    if address and send_portal_mail(to=[address], template=template, context=context):
        return True
    audit_record(
        action=AuditEvent.Action.MAIL_FAILED,
        outcome=AuditEvent.Outcome.FAILURE,
        origin=origin,
        region=keypair_request.region,
        keypair_name=keypair_request.name,
        keypair_id=keypair_request.keypair_id,
        detail=f"{template} to {person.get_username()} ({'not delivered' if address else 'no address'})",
    )
    return False
