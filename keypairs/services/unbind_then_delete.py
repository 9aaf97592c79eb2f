"""Deleting a key pair that is bound to instances: unbind it from all of them, then delete it.

BCC refuses to delete a bound key pair (``Keypair.DeleteKeypairInUse``), and deleting one would
not stop the logins it grants anyway: the instances keep it until it is unbound. So the two go
together, in this order, and only this far:

1. The instances that hold the key pair are read from BCC right then
   (``keypairs.keypair_instances``, uncached), so exactly those are unbound.
2. They are unbound through ``keypairs.services.binding.keypair_unbind`` (its audit rows, its
   ``InstanceBinding`` bookkeeping, its retry counting).
3. Only when every one was unbound is the key pair deleted, through the delete service. An unbind
   BCC did in part stops here with a sentence naming the instances that still hold the key pair:
   the key pair stays, so nothing is lost, and trying again unbinds the rest.

Who may: the owner may always unbind their own key pair (removing access is always allowed);
a policy (offboarding, maximum age) may, for the person whose access it removes. Unbinding from
instances a key pair is bound to replaces no one's key pair, so nobody else is told.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from keypairs.audit import Origin, ensure_outside_transaction
from keypairs.bcc.errors import BccError
from keypairs.keypair_instances import instances_bound_to
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.services import _owned
from keypairs.services._auditor import auditor_for
from keypairs.services.bcc_failures import SETTINGS_INCOMPLETE, error_code, read_failure_reason
from keypairs.services.binding import keypair_unbind
from keypairs.services.delete import DeleteResult, keypair_delete_for_governance
from keypairs.services.errors import ServiceFailed, ServiceRefused

logger = logging.getLogger(__name__)

NOT_IN_BCC = _("This key pair is not in BCC, so there is nothing to unbind or delete.")
LIST_FAILED = _(
    "BCC could not say which instances hold this key pair ({reason}). Nothing was unbound and the key pair "
    "was not deleted; please try again in a few minutes."
)
STILL_BOUND = _(
    "The key pair was not deleted: BCC did not unbind it from {instances}, which still hold it. "
    "It was unbound from the others. Nothing is lost: try again to unbind the rest and delete it."
)
UNBIND_FAILED = _("{reason} The key pair was not deleted.")


class UnbindStopped(ServiceFailed):
    """The unbind did not free every instance (or they could not be listed): the key pair was not deleted."""


# The portal's own words for why it unbinds, at the end of the unbind rows' detail.
WHY_BEFORE_DELETE = "before deleting the key pair"


def keypair_unbind_all_then_delete(*, user, keypair_request: KeyPairRequest, origin: Origin) -> DeleteResult:
    """The owner unbinds their key pair from every instance that holds it, then deletes it.

    Raises ``ServiceRefused`` for a key pair that is not the user's (404) or not in BCC (409), and
    ``ServiceFailed`` when an instance still holds it or BCC failed (the key pair is not deleted).
    """
    ensure_outside_transaction()
    _owned.refuse_unless_owned(user=user, keypair_request=keypair_request)
    return unbind_all_then_delete(actor=user, keypair_request=keypair_request, origin=origin, why="")


def unbind_all_then_delete(*, actor, keypair_request: KeyPairRequest, origin: Origin, why: str) -> DeleteResult:
    """The steps, for any caller that has decided ``actor`` may (``None``: a policy, whose ``why`` is audited)."""
    ensure_outside_transaction()
    if keypair_request.status != KeyPairRequest.Status.CREATED or not keypair_request.keypair_id:
        raise ServiceRefused(str(NOT_IN_BCC), http_status=409, code="not_in_bcc")
    bound = _bound_instance_ids(actor=actor, keypair_request=keypair_request, origin=origin, why=why)
    if bound:
        unbind_why = f"{WHY_BEFORE_DELETE}; {why}" if why else WHY_BEFORE_DELETE
        try:
            result = keypair_unbind(
                actor=actor, keypair_request=keypair_request, instance_ids=bound, origin=origin, why=unbind_why
            )
        except ServiceFailed as failure:
            raise UnbindStopped(
                UNBIND_FAILED.format(reason=failure.message),
                http_status=failure.http_status,
                code=failure.code,
                keypair_request=keypair_request,
            ) from failure
        if result.failed:
            raise UnbindStopped(
                STILL_BOUND.format(instances=", ".join(result.failed)),
                http_status=409,
                code="still_bound",
                keypair_request=keypair_request,
            )
    return keypair_delete_for_governance(keypair_request=keypair_request, why=why, origin=origin, actor=actor)


def _bound_instance_ids(*, actor, keypair_request: KeyPairRequest, origin: Origin, why: str) -> list[str]:
    """The instances holding the key pair now; a failed read is audited (delete failed) and raised."""
    try:
        instances = instances_bound_to(region=keypair_request.region, keypair_id=keypair_request.keypair_id)
    except (BccError, ImproperlyConfigured) as error:
        logger.warning(
            "Could not list the instances of %s in %s: %s", keypair_request.keypair_id, keypair_request.region, error
        )
        audit = auditor_for(user=actor, origin=origin, keypair_request=keypair_request, why=why)
        misconfigured = isinstance(error, ImproperlyConfigured)
        code = SETTINGS_INCOMPLETE if misconfigured else error_code(error)
        audit(
            action=AuditEvent.Action.DELETE_FAILED,
            outcome=AuditEvent.Outcome.FAILURE,
            bcc_error_code=code,
            detail=f"the instances holding it could not be listed: {error}",
        )
        reason = read_failure_reason(error)
        raise UnbindStopped(
            LIST_FAILED.format(reason=reason),
            http_status=503,
            code="instances_unlisted",
            keypair_request=keypair_request,
        ) from error
    return [instance.instance_id for instance in instances]
