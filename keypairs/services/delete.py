"""Deleting a key pair its owner no longer needs, or no longer trusts.

What deleting means: nobody can use the key pair to sign in to a new instance. BCC refuses to
delete a key pair bound to instances (``Keypair.DeleteKeypairInUse``); instances keep a key
pair until it is unbound from them. ``keypairs.services.unbind_then_delete`` unbinds it from all
of them first, then calls this delete.

Order and guarantees:

1. "Delete requested" is audited before BCC is called, so an attempt that never returns is on
   record.
2. BCC is called outside any transaction: no database lock is held across the network.
3. Deleted in BCC, or already gone from it (``Keypair.KeypairNotExist``: deleted in the
   console, say): the record becomes ``deleted`` with ``deleted_at``, and any private key still
   waiting for download is erased in the same transaction (``keypairs.delivery.delivery_wipe``):
   a key pair that no longer exists must not leave a usable private key behind. Then "deleted"
   is audited. The record changes only where it is still ``created``, so two concurrent deletes
   record one end.
4. Anything else (bound to instances, BCC down, no answer): "delete failed" is audited outside
   any transaction, the record is left as it was, and the person is told why. A delete is
   idempotent, so one that got no answer may simply be tried again: if BCC did delete it, the
   second try finds it gone and records it so.

Another person's key pair does not exist here (``ServiceRefused``, 404): the views already
answer 404 before calling, and the check is repeated where the write happens. What a delete
shares with a change (that check, the failures it does not word itself) is in
``keypairs.services._owned``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from keypairs.audit import Origin, ensure_outside_transaction
from keypairs.bcc import errors
from keypairs.bcc.errors import BccApiError, BccError
from keypairs.bcc.factory import get_client
from keypairs.bcc_state import Presence, keypair_in_bcc
from keypairs.delivery import delivery_wipe
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.sentences import two_sentences
from keypairs.services import _owned
from keypairs.services._auditor import auditor_for
from keypairs.services.bcc_failures import error_code
from keypairs.services.errors import ServiceFailed, ServiceRefused

logger = logging.getLogger(__name__)

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Status = KeyPairRequest.Status

NOT_IN_BCC = _("This key pair was never made in BCC, so there is nothing to delete.")
ALREADY_DELETED = _("This key pair is already deleted.")
DELETED = _("Key pair {name} is deleted: nobody can use it to sign in to a new instance.")
ALREADY_GONE = _(
    "BCC no longer had key pair {name}: it had already been deleted outside the portal. "
    "The portal now shows it as deleted."
)
PRIVATE_KEY_ERASED = _("Its private key, which was still waiting for download, has been erased.")
IN_USE_COUNTED = ngettext_lazy(
    "BCC refuses to delete this key pair: it is bound to %(count)d instance, and must be unbound from it first.",
    "BCC refuses to delete this key pair: it is bound to %(count)d instances, and must be unbound from them first.",
    "count",
)
IN_USE = _(
    "BCC refuses to delete this key pair: it is bound to one or more instances, and must be unbound from them first."
)
IN_USE_NEXT = _(
    "Nothing was deleted. The delete page lists the instances that hold it and can unbind it from all "
    "of them, then delete it."
)
UNAVAILABLE = _(
    "BCC could not be reached ({reason}). The key pair was not deleted and nothing changed; you can try again."
)
NO_ANSWER = _(
    "BCC did not answer in time, so it is not known whether it deleted the key pair. Nothing changed in the "
    "portal; try again: deleting a key pair that BCC no longer has is safe, and the portal then records it."
)
MISCONFIGURED = _(
    "The portal cannot sign in to BCC: its configuration is wrong. The key pair was not deleted. "
    "Please tell the portal's operators, quoting reference {reference}."
)
REFUSED = _("BCC could not delete the key pair ({code}). Nothing changed; please try again in a few minutes.")

FAILURES = _owned.Failures(
    what="delete",
    action=Action.DELETE_FAILED,
    logger=logger,
    misconfigured=MISCONFIGURED,
    refused=REFUSED,
    no_answer=NO_ANSWER,
    unavailable=UNAVAILABLE,
)

DETAIL_DELETED = "deleted in BCC"
DETAIL_ALREADY_GONE = "BCC no longer had it (Keypair.KeypairNotExist); recorded as deleted"
DETAIL_KEY_ERASED = "; private key waiting for download erased"
DETAIL_IN_USE = "bound to instances: {count}"


@dataclass(frozen=True)
class DeleteResult:
    """A key pair ``keypair_delete`` ended: ``already_gone`` when BCC no longer had it,
    ``private_key_erased`` when a private key was still waiting for download and is gone now."""

    keypair_request: KeyPairRequest
    already_gone: bool = False
    private_key_erased: bool = False

    @property
    def message(self) -> str:
        said = (ALREADY_GONE if self.already_gone else DELETED).format(name=self.keypair_request.name)
        return two_sentences(said, PRIVATE_KEY_ERASED) if self.private_key_erased else str(said)


def keypair_delete(*, user, keypair_request: KeyPairRequest, origin: Origin) -> DeleteResult:
    """Delete ``keypair_request``'s key pair in BCC and record its end; see the module docstring.

    Raises ``ServiceRefused`` for a key pair that is not the user's (404) or is not in BCC (409),
    and ``ServiceFailed`` when BCC did not delete it (the record is unchanged).
    """
    ensure_outside_transaction()
    _owned.refuse_unless_owned(user=user, keypair_request=keypair_request)
    return _delete(actor=user, keypair_request=keypair_request, origin=origin, why="")


def keypair_delete_for_governance(
    *, keypair_request: KeyPairRequest, why: str, origin: Origin, actor=None
) -> DeleteResult:
    """Delete a key pair that is not the actor's: under a policy (``actor`` None) or by a portal admin.

    ``why`` ("owner left", "older than 90 days", "deleted from the BCC inventory") ends every
    audit row's detail, so a reviewer reads who decided. Same guarantees and errors as
    ``keypair_delete``, without the owner check: the callers decide who may.
    """
    ensure_outside_transaction()
    return _delete(actor=actor, keypair_request=keypair_request, origin=origin, why=why)


def _delete(*, actor, keypair_request: KeyPairRequest, origin: Origin, why: str) -> DeleteResult:
    if keypair_request.status == Status.DELETED:
        raise ServiceRefused(str(ALREADY_DELETED), http_status=409, code="already_deleted")
    if keypair_request.status != Status.CREATED or not keypair_request.keypair_id:
        raise ServiceRefused(str(NOT_IN_BCC), http_status=409, code="not_in_bcc")

    audit = auditor_for(user=actor, origin=origin, keypair_request=keypair_request, why=why)
    audit(action=Action.DELETE_REQUESTED, outcome=Outcome.SUCCESS)
    already_gone = delete_in_bcc(target=keypair_request, audit=audit, origin=origin)
    erased = _record_deleted(keypair_request)
    detail = (DETAIL_ALREADY_GONE if already_gone else DETAIL_DELETED) + (DETAIL_KEY_ERASED if erased else "")
    audit(action=Action.DELETED, outcome=Outcome.SUCCESS, detail=detail)
    return DeleteResult(keypair_request, already_gone=already_gone, private_key_erased=erased)


def delete_in_bcc(*, target, audit, origin: Origin) -> bool:
    """BCC's delete of ``target``'s key pair; True when BCC no longer had it (``Keypair.KeypairNotExist``).

    ``target`` is a ``KeyPairRequest``, or for a key pair no one in the portal owns its
    ``BccInventoryEntry`` (``keypairs.services.inventory``): only its ``region``, ``keypair_id``
    and ``name`` are read. A failure is worded, logged for the operators when only they can
    help, and audited through ``audit`` (delete_failed) before ``ServiceFailed`` is raised;
    nothing in the portal has changed then.
    """
    try:
        get_client(target.region).delete_keypair(target.keypair_id)
    except BccApiError as error:
        if error.code != errors.KEYPAIR_NOT_EXIST:
            _failed(target, error, audit=audit, origin=origin)
        return True
    except BccError as error:
        _failed(target, error, audit=audit, origin=origin)
    except ImproperlyConfigured as error:
        raise _owned.misconfigured(FAILURES, target, error, audit=audit, origin=origin) from error
    return False


def _record_deleted(keypair_request: KeyPairRequest) -> bool:
    """Mark the record deleted and erase a waiting private key, together; True if a key was erased."""
    now = timezone.now()
    with transaction.atomic():
        KeyPairRequest.objects.filter(pk=keypair_request.pk, status=Status.CREATED).update(
            status=Status.DELETED, deleted_at=now
        )
        erased = delivery_wipe(keypair_request=keypair_request, now=now)
    keypair_request.refresh_from_db(fields=["status", "deleted_at"])
    return erased


def _failed(keypair_request: KeyPairRequest, error: BccError, *, audit, origin: Origin):
    code = error_code(error)
    # One more call, only when BCC says the key pair is bound: the sentence names how often.
    bound = _bound_count(keypair_request) if code == errors.DELETE_KEYPAIR_IN_USE else None
    facing = _failure_for(keypair_request, error, code=code, bound=bound, reference=origin.portal_request_id)
    detail = str(error)
    if code == errors.DELETE_KEYPAIR_IN_USE:
        detail = DETAIL_IN_USE.format(count="unknown" if bound is None else bound)
    _owned.record_failure(FAILURES, keypair_request, error, facing, detail=detail, audit=audit, origin=origin)
    raise facing


def _failure_for(
    keypair_request: KeyPairRequest, error: BccError, *, code: str, bound: int | None, reference: str
) -> ServiceFailed:
    """The sentence for a delete BCC refused or never answered."""
    if isinstance(error, BccApiError) and error.code == errors.DELETE_KEYPAIR_IN_USE:
        said = IN_USE if bound is None else IN_USE_COUNTED % {"count": bound}
        return ServiceFailed(
            two_sentences(said, IN_USE_NEXT), http_status=409, code=code, keypair_request=keypair_request
        )
    return _owned.failure_for(FAILURES, error, code=code, reference=reference, keypair_request=keypair_request)


def _bound_count(keypair_request: KeyPairRequest) -> int | None:
    """How many instances BCC says the key pair is bound to now; None when BCC cannot say."""
    lookup = keypair_in_bcc(region=keypair_request.region, keypair_id=keypair_request.keypair_id)
    if lookup.presence is Presence.EXISTS and lookup.keypair is not None:
        return lookup.keypair.instance_count
    return None
