"""Guided rotation: replace a key pair on its instances with a new one of the same owner's.

The developer picks a key pair of theirs (created or imported, same region, not bound elsewhere);
the portal binds it to every instance the old one is bound to (which replaces the old one there,
BCC's rule) and then deletes the old one. Each step goes through its service and is audited there
(``keypairs.services.binding.keypair_bind``, ``keypairs.services.delete.keypair_delete``):
``bind_requested``, ``bound`` (and ``bind_failed``), ``replaced_on_instance`` on the old key
pair, then ``delete_requested``, ``deleted``.

Resumable without any state of its own: where the rotation stands is read from BCC each time
(one uncached instance walk, ``keypairs.keypair_instances``): the instances still holding the
old key pair are the ones left to do, those holding the new one are done. A step that fails
(an instance starting, BCC down) stops the rotation with the old key pair kept; running it again
binds the rest and then deletes the old one.

Time limits carry over: an instance the old key pair held under a rule, an approved request or an
expiry (``InstanceBinding``) gets the new key pair with the same ones, so rotating never extends
anyone's access. The new key pair may already be bound only where this rotation bound it (its
binding recorded the old key pair as replaced): a key pair bound elsewhere is refused, so a
rotation cannot widen where a key pair works.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from keypairs.audit import Origin, ensure_outside_transaction
from keypairs.bcc.errors import BccError
from keypairs.bcc.models import Instance
from keypairs.keypair_instances import instances_in_region
from keypairs.models import InstanceBinding, KeyPairRequest
from keypairs.services import _owned
from keypairs.services.bcc_failures import read_failure_reason
from keypairs.services.binding import TargetInstance, keypair_bind
from keypairs.services.delete import DeleteResult, keypair_delete
from keypairs.services.errors import ServiceFailed, ServiceRefused

logger = logging.getLogger(__name__)

Status = KeyPairRequest.Status

NOT_LIVE = _("Only a key pair that exists in BCC can be replaced, or replace another.")
SAME_KEYPAIR = _("Choose another key pair than the one being replaced.")
OTHER_REGION = _("Choose a key pair in the same region ({region}): BCC binds key pairs within their region.")
BOUND_ELSEWHERE = _(
    "Key pair {name} is already bound to other instances ({instances}): choose one that is not bound, so that "
    "replacing does not give it access anywhere new."
)
NOTHING_TO_REPLACE = _("No instance holds this key pair, so there is nothing to replace: you can simply delete it.")
INSTANCES_UNREAD = _(
    "BCC could not say which instances hold these key pairs ({reason}). Nothing was changed; please try again."
)
STOPPED = _(
    "BCC did not bind {name} to {instances}, which still hold the old key pair; the old key pair was not deleted. "
    "The instances already done keep the new one. Continue once the instances are running or stopped."
)
BIND_FAILED = _("{reason} The old key pair was kept; nothing is lost, and you can continue later.")
DELETE_FAILED = _("{name} now holds every instance; the old key pair is not deleted yet: {reason}")


@dataclass(frozen=True)
class RotationState:
    """Where a rotation from ``old`` to ``new`` stands, as BCC says now."""

    old: KeyPairRequest
    new: KeyPairRequest | None
    to_do: tuple[Instance, ...]  # still holding the old key pair
    done: tuple[Instance, ...] = ()  # holding the new key pair where this rotation bound it
    elsewhere: tuple[Instance, ...] = field(default=(), repr=False)  # holding the new key pair, not ours


@dataclass(frozen=True)
class RotationResult:
    """A rotation finished: the instances bound to the new key pair now, and the old one's deletion."""

    new: KeyPairRequest
    bound: tuple[str, ...]
    deleted: DeleteResult


def rotation_state(*, old: KeyPairRequest, new: KeyPairRequest | None) -> RotationState:
    """Read where the rotation stands (one uncached walk); raises ``ServiceFailed`` when BCC cannot say."""
    try:
        instances = instances_in_region(region=old.region)
    except (BccError, ImproperlyConfigured) as error:
        logger.warning("Could not list the instances in %s for a rotation: %s", old.region, error)
        message = str(INSTANCES_UNREAD).format(reason=read_failure_reason(error))
        raise ServiceFailed(message, http_status=503, code="instances_unlisted") from error
    to_do = tuple(instance for instance in instances if instance.keypair_id == old.keypair_id)
    if new is None or not new.keypair_id:
        return RotationState(old, new, to_do)
    holding_new = [instance for instance in instances if instance.keypair_id == new.keypair_id]
    ours = set(
        InstanceBinding.objects.filter(
            keypair_request=new, state=InstanceBinding.State.BOUND, replaced_keypair_id=old.keypair_id
        ).values_list("instance_id", flat=True)
    )
    done = tuple(instance for instance in holding_new if instance.instance_id in ours)
    elsewhere = tuple(instance for instance in holding_new if instance.instance_id not in ours)
    return RotationState(old, new, to_do, done, elsewhere)


def keypair_rotate(*, user, old: KeyPairRequest, new: KeyPairRequest, origin: Origin) -> RotationResult:
    """Bind ``new`` where ``old`` is bound, then delete ``old``; see the module docstring.

    Raises ``ServiceRefused`` when the pair cannot rotate (not the user's, not in BCC, another
    region, ``new`` bound elsewhere, nothing to replace) and ``ServiceFailed`` when a step failed:
    the old key pair is kept, and calling again continues where it stopped.
    """
    ensure_outside_transaction()
    for keypair_request in (old, new):
        _owned.refuse_unless_owned(user=user, keypair_request=keypair_request)
        if keypair_request.status != Status.CREATED or not keypair_request.keypair_id:
            raise ServiceRefused(str(NOT_LIVE), http_status=409, code="not_in_bcc")
    if old.pk == new.pk:
        raise ServiceRefused(str(SAME_KEYPAIR), http_status=400, code="same_keypair")
    if old.region != new.region:
        raise ServiceRefused(str(OTHER_REGION).format(region=old.region), http_status=400, code="other_region")
    state = rotation_state(old=old, new=new)
    if state.elsewhere:
        names = ", ".join(instance.instance_id for instance in state.elsewhere)
        raise ServiceRefused(
            str(BOUND_ELSEWHERE).format(name=new.name, instances=names), http_status=409, code="bound_elsewhere"
        )
    if not state.to_do and not state.done:
        raise ServiceRefused(str(NOTHING_TO_REPLACE), http_status=409, code="nothing_to_replace")
    bound = _bind_where_old_was(user=user, old=old, new=new, to_do=state.to_do, origin=origin)
    try:
        deleted = keypair_delete(user=user, keypair_request=old, origin=origin)
    except ServiceFailed as failure:
        message = str(DELETE_FAILED).format(name=new.name, reason=failure.message)
        raise ServiceFailed(message, http_status=failure.http_status, code=failure.code, keypair_request=old) from None
    return RotationResult(new=new, bound=bound + tuple(i.instance_id for i in state.done), deleted=deleted)


def _bind_where_old_was(
    *, user, old: KeyPairRequest, new: KeyPairRequest, to_do: Sequence[Instance], origin: Origin
) -> tuple[str, ...]:
    """Bind ``new`` on ``to_do``, with the old bindings' limits, one call per set of limits; the ids bound."""
    limits = {
        binding.instance_id: (binding.rule, binding.access_request, binding.expires_at)
        for binding in InstanceBinding.objects.filter(
            keypair_request=old, state=InstanceBinding.State.BOUND, instance_id__in=[i.instance_id for i in to_do]
        ).select_related("rule", "access_request")
    }
    groups: dict[tuple, list[Instance]] = {}
    for instance in to_do:
        groups.setdefault(limits.get(instance.instance_id, (None, None, None)), []).append(instance)
    bound: list[str] = []
    failed: list[str] = []
    for (rule, access_request, expires_at), instances in groups.items():
        targets = [TargetInstance(i.instance_id, i.name, old.keypair_id) for i in instances]
        try:
            result = keypair_bind(
                actor=user,
                keypair_request=new,
                instances=targets,
                origin=origin,
                rule=rule,
                access_request=access_request,
                expires_at=expires_at,
            )
        except ServiceFailed as failure:
            message = str(BIND_FAILED).format(reason=failure.message)
            raise ServiceFailed(
                message, http_status=failure.http_status, code=failure.code, keypair_request=old
            ) from None
        bound.extend(result.bound)
        failed.extend(result.failed)
    if failed:
        message = str(STOPPED).format(name=new.name, instances=", ".join(failed))
        raise ServiceFailed(message, http_status=409, code="rotation_stopped", keypair_request=old)
    return tuple(bound)
