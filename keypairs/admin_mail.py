"""Summaries mailed to the portal admins, with the undelivered ones recorded in the audit log.

``keypairs.mail.send_portal_mail`` never fails the work it reports; this adds the other half of
"nothing lost without someone told": when no portal admin has an address, or the mail server
refuses, a ``mail_failed`` audit row says which summary did not reach them (never its content).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keypairs.audit import Origin, audit_record
from keypairs.mail import portal_admin_addresses, send_portal_mail
from keypairs.models import AuditEvent

NOBODY_TO_TELL = "{about}: no active portal admin has an email address"
NOT_DELIVERED = "{about}: the mail to {count} portal admin(s) was not delivered"


def mail_portal_admins(*, template: str, context: Mapping[str, Any], about: str, origin: Origin) -> bool:
    """Mail ``template`` to every portal admin; False, with a ``mail_failed`` row naming ``about``, if undelivered."""
    addresses = portal_admin_addresses()
    if addresses and send_portal_mail(to=addresses, template=template, context=context):
        return True
    if addresses:
        detail = NOT_DELIVERED.format(about=about, count=len(addresses))
    else:
        detail = NOBODY_TO_TELL.format(about=about)
    audit_record(action=AuditEvent.Action.MAIL_FAILED, outcome=AuditEvent.Outcome.FAILURE, origin=origin, detail=detail)
    return False
