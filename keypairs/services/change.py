"""Renaming a key pair and changing its description: BCC's ``?rename`` and ``?updateDesc``.

The name and description follow the create form's rules (``keypairs.validation``, through
``keypairs.forms_change``); BCC checks them again and its refusals read as the create form's.
Only what changed is sent: a rename with the same description makes one call, not two.

Each change is its own BCC call, its own record update and its own audit row (``renamed``,
``description_changed``) with the old and the new value in the detail, so a reviewer can tell
what a key pair was called when. The record is updated only after BCC accepted the change; a
change BCC refused or never answered leaves the record as it was and is audited
``change_failed``, outside any transaction. Both changes are safe to repeat, so a change that
got no answer may simply be tried again. When the rename succeeds and the description does not,
the rename stands (it is done in BCC) and the sentence says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from keypairs import messages
from keypairs.audit import Origin, audit_record, ensure_outside_transaction
from keypairs.bcc import errors
from keypairs.bcc.errors import BccApiError, BccError, BccTransportError
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.services.bcc_failures import bcc_reason, error_code, is_misconfiguration, transport_reason
from keypairs.services.errors import ServiceFailed, ServiceRefused

logger = logging.getLogger(__name__)

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Status = KeyPairRequest.Status

NO_SUCH_KEYPAIR = _("There is no such key pair.")
NOT_IN_BCC = _("This key pair is not in BCC, so it cannot be renamed or described.")
NOTHING_CHANGED = _("Nothing changed: the name and the description are as they were.")
CHANGED = _("Key pair {name} is saved.")
GONE = _("BCC no longer has this key pair: it was deleted outside the portal. Nothing was changed.")
UNAVAILABLE = _("BCC could not be reached ({reason}). Nothing was changed; please try again in a few minutes.")
NO_ANSWER = _(
    "BCC did not answer in time, so it is not known whether it made the change. Try again: making the same "
    "change twice is safe."
)
MISCONFIGURED = _(
    "The portal cannot sign in to BCC: its configuration is wrong. Nothing was changed. "
    "Please tell the portal's operators, quoting reference {reference}."
)
REFUSED = _("BCC could not make the change ({code}). Nothing was changed; please try again in a few minutes.")
RENAMED_ONLY = _("The key pair was renamed, but its description was not changed:")

SETTINGS_INCOMPLETE = "portal_settings_incomplete"


@dataclass(frozen=True)
class ChangeResult:
    """What ``keypair_change`` did: ``renamed`` and ``description_changed`` say which call was made."""

    keypair_request: KeyPairRequest
    renamed: bool = False
    description_changed: bool = False

    @property
    def message(self) -> str:
        if not (self.renamed or self.description_changed):
            return str(NOTHING_CHANGED)
        return CHANGED.format(name=self.keypair_request.name)


def keypair_change(
    *, user, keypair_request: KeyPairRequest, name: str, description: str, origin: Origin
) -> ChangeResult:
    """Give the key pair ``name`` and ``description`` in BCC and in its record; see the module docstring.

    ``name`` and ``description`` have passed the create form's rules. Raises ``ServiceRefused``
    for a key pair that is not the user's (404) or not in BCC (409), ``ServiceFailed`` when BCC
    did not make a change (the record keeps what BCC still holds).
    """
    ensure_outside_transaction()
    if user is None or keypair_request.owner_id != user.pk:
        raise ServiceRefused(str(NO_SUCH_KEYPAIR), http_status=404, code="not_found")
    if keypair_request.status != Status.CREATED or not keypair_request.keypair_id:
        raise ServiceRefused(str(NOT_IN_BCC), http_status=409, code="not_in_bcc")

    renamed = False
    if name != keypair_request.name:
        _change(keypair_request, field="name", new=name, user=user, origin=origin)
        renamed = True
    if description != keypair_request.description:
        try:
            _change(keypair_request, field="description", new=description, user=user, origin=origin)
        except ServiceFailed as failure:
            if renamed:
                failure.message = f"{RENAMED_ONLY} {failure.message}"
                failure.args = (failure.message,)
            raise
        return ChangeResult(keypair_request, renamed=renamed, description_changed=True)
    return ChangeResult(keypair_request, renamed=renamed)


def _change(keypair_request: KeyPairRequest, *, field: str, new: str, user, origin: Origin) -> None:
    """One BCC call for one field, then the record and its audit row; raises ``ServiceFailed``."""
    old = getattr(keypair_request, field)

    def audit(**fields) -> None:
        audit_record(
            actor=user,
            origin=origin,
            region=keypair_request.region,
            keypair_name=keypair_request.name,
            keypair_id=keypair_request.keypair_id,
            **fields,
        )

    try:
        client = get_client(keypair_request.region)
        if field == "name":
            client.rename_keypair(keypair_request.keypair_id, name=new)
        else:
            client.update_keypair_description(keypair_request.keypair_id, description=new)
    except BccError as error:
        code = error_code(error)
        facing = _failure_for(error, code=code, reference=origin.portal_request_id)
        facing.keypair_request = keypair_request
        if facing.operators_must_act:
            logger.error(
                "BCC %s change failed and needs an operator: code=%s region=%s bcc_request_id=%s "
                "portal_request_id=%s: %s",
                field,
                code,
                keypair_request.region,
                error.request_id or "-",
                origin.portal_request_id or "-",
                error,
            )
        audit(
            action=Action.CHANGE_FAILED,
            outcome=Outcome.FAILURE,
            bcc_request_id=error.request_id or "",
            bcc_error_code=code,
            latency_ms=error.latency_ms,
            detail=_detail(field, old, new, prefix=f"not changed ({error}): "),
        )
        raise facing from None
    except ImproperlyConfigured as error:
        logger.error(
            "BCC %s change failed and needs an operator: code=%s region=%s portal_request_id=%s: %s",
            field,
            SETTINGS_INCOMPLETE,
            keypair_request.region,
            origin.portal_request_id or "-",
            error,
        )
        audit(
            action=Action.CHANGE_FAILED, outcome=Outcome.FAILURE, bcc_error_code=SETTINGS_INCOMPLETE, detail=str(error)
        )
        raise ServiceFailed(
            MISCONFIGURED.format(reference=origin.portal_request_id),
            http_status=502,
            code=SETTINGS_INCOMPLETE,
            operators_must_act=True,
            keypair_request=keypair_request,
        ) from None

    KeyPairRequest.objects.filter(pk=keypair_request.pk).update(**{field: new})
    setattr(keypair_request, field, new)
    action = Action.RENAMED if field == "name" else Action.DESCRIPTION_CHANGED
    audit(action=action, outcome=Outcome.SUCCESS, detail=_detail(field, old, new))


def _detail(field: str, old: str, new: str, *, prefix: str = "") -> str:
    # repr-like quotes: an empty description reads as "" rather than as nothing at all.
    return f'{prefix}{field} "{old}" -> "{new}"'


def _failure_for(error: BccError, *, code: str, reference: str) -> ServiceFailed:
    """The sentence for a change BCC refused or never answered; the create form's for invalid input."""
    if isinstance(error, BccApiError):
        if error.code == errors.KEYPAIR_NAME_INVALID:
            return ServiceFailed(messages.NAME_REJECTED.format(reason=bcc_reason(error)), http_status=400, code=code)
        if error.code == errors.KEYPAIR_DESCRIPTION_INVALID:
            message = messages.DESCRIPTION_REJECTED.format(reason=bcc_reason(error))
            return ServiceFailed(message, http_status=400, code=code)
        if error.code == errors.KEYPAIR_NOT_EXIST:
            return ServiceFailed(str(GONE), http_status=409, code=code)
        if is_misconfiguration(error):
            message = MISCONFIGURED.format(reference=reference)
            return ServiceFailed(message, http_status=502, code=code, operators_must_act=True)
        return ServiceFailed(REFUSED.format(code=error.code), http_status=502, code=code)
    if isinstance(error, BccTransportError) and error.sent:
        return ServiceFailed(str(NO_ANSWER), http_status=504, code=code)
    return ServiceFailed(UNAVAILABLE.format(reason=transport_reason(error)), http_status=503, code=code)
