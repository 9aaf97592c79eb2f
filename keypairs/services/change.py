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
the rename stands (it is done in BCC) and the sentence says so. What a change shares with a
delete (the owner check, the failures it does not word itself) is in ``keypairs.services._owned``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from keypairs.audit import Origin, ensure_outside_transaction
from keypairs.bcc import errors
from keypairs.bcc.errors import BccApiError, BccError
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.sentences import two_sentences
from keypairs.services import _owned
from keypairs.services._auditor import auditor_for
from keypairs.services.bcc_failures import error_code, input_refusal
from keypairs.services.errors import ServiceFailed, ServiceRefused

logger = logging.getLogger(__name__)

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Status = KeyPairRequest.Status

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

# "what" is completed per field: the operators read "BCC name change failed".
FAILURES = _owned.Failures(
    what="change",
    action=Action.CHANGE_FAILED,
    logger=logger,
    misconfigured=MISCONFIGURED,
    refused=REFUSED,
    no_answer=NO_ANSWER,
    unavailable=UNAVAILABLE,
)


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
    _owned.refuse_unless_owned(user=user, keypair_request=keypair_request)
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
                failure.message = two_sentences(RENAMED_ONLY, failure.message)
                failure.args = (failure.message,)
            raise
        return ChangeResult(keypair_request, renamed=renamed, description_changed=True)
    return ChangeResult(keypair_request, renamed=renamed)


def _change(keypair_request: KeyPairRequest, *, field: str, new: str, user, origin: Origin) -> None:
    """One BCC call for one field, then the record and its audit row; raises ``ServiceFailed``."""
    old = getattr(keypair_request, field)
    audit = auditor_for(user=user, origin=origin, keypair_request=keypair_request)
    failures = dataclasses.replace(FAILURES, what=f"{field} change")
    try:
        client = get_client(keypair_request.region)
        if field == "name":
            client.rename_keypair(keypair_request.keypair_id, name=new)
        else:
            client.update_keypair_description(keypair_request.keypair_id, description=new)
    except BccError as error:
        code = error_code(error)
        facing = _failure_for(error, code=code, reference=origin.portal_request_id, keypair_request=keypair_request)
        facing.keypair_request = keypair_request
        detail = _detail(field, old, new, prefix=f"not changed ({error}): ")
        _owned.record_failure(failures, keypair_request, error, facing, detail=detail, audit=audit, origin=origin)
        raise facing from None
    except ImproperlyConfigured as error:
        raise _owned.misconfigured(failures, keypair_request, error, audit=audit, origin=origin) from None

    KeyPairRequest.objects.filter(pk=keypair_request.pk).update(**{field: new})
    setattr(keypair_request, field, new)
    action = Action.RENAMED if field == "name" else Action.DESCRIPTION_CHANGED
    audit(action=action, outcome=Outcome.SUCCESS, detail=_detail(field, old, new))


def _detail(field: str, old: str, new: str, *, prefix: str = "") -> str:
    # repr-like quotes: an empty description reads as "" rather than as nothing at all.
    return f'{prefix}{field} "{old}" -> "{new}"'


def _failure_for(error: BccError, *, code: str, reference: str, keypair_request: KeyPairRequest) -> ServiceFailed:
    """The sentence for a change BCC refused or never answered; the create form's for invalid input."""
    if isinstance(error, BccApiError):
        refused_input = input_refusal(error, code=code)
        if refused_input is not None:
            return refused_input
        if error.code == errors.KEYPAIR_NOT_EXIST:
            return ServiceFailed(str(GONE), http_status=409, code=code)
    return _owned.failure_for(FAILURES, error, code=code, reference=reference, keypair_request=keypair_request)
