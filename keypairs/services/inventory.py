"""What a portal admin does with an unowned key pair in the BCC inventory: assign it to a person, or delete it.

- ``inventory_assign``: the person (an active developer) gets a ``KeyPairRequest`` of kind
  ``assigned`` for it, linked from the entry, so it is in their "My key pairs" and they can delete
  it there like any other. BCC is asked once (a detail call) for the key pair's values now,
  public key included; if BCC cannot be reached, the entry's values from the last sync are used
  (no public key then). Audited ``assigned``: the admin is the actor, the detail names the owner.
- ``inventory_delete``: BCC's delete through ``keypairs.services.delete`` (its sentences, its
  ``delete_requested`` / ``deleted`` / ``delete_failed`` rows, the reason "deleted from the BCC
  inventory" ending each); the entry gets ``gone_at``. A key pair bound to instances is refused
  before BCC is called (BCC would refuse it too).

Both refuse an entry that is owned or gone, and anyone without the permission to change the
inventory (auditors: view only). The entry is re-read and written with conditional UPDATEs,
so two admins acting at once on the same entry do it once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from keypairs.audit import Origin, audit_record, ensure_outside_transaction
from keypairs.bcc.fingerprints import sha256_fingerprint_or_blank
from keypairs.bcc_state import Presence, keypair_in_bcc
from keypairs.models import AuditEvent, BccInventoryEntry, KeyPairRequest
from keypairs.services import delete
from keypairs.services._auditor import auditor_for
from keypairs.services.errors import ServiceRefused
from portal.auth.roles import CHANGE_INVENTORY, may_create_keypairs

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome

NOT_ALLOWED = _("Only portal admins can assign or delete key pairs from the BCC inventory.")
NO_SUCH_ENTRY = _("There is no such key pair in the BCC inventory.")
OWNED = _(
    "Key pair {name} already belongs to {owner} in the portal: only unowned key pairs can be assigned or deleted here."
)
GONE = _("Key pair {name} is no longer in BCC: there is nothing to assign or delete.")
GONE_NOW = _(
    "BCC no longer has key pair {name}: it was deleted outside the portal. The next sync marks it gone. "
    "Nothing was assigned."
)
NOT_A_DEVELOPER = _("{person} cannot own key pairs: pick an active person with the developer role.")
NO_SUCH_PERSON = _("There is no such person.")
ASSIGNED = _("Key pair {name} now belongs to {person}: it is in their “My key pairs”, where they can delete it.")
BOUND = ngettext_lazy(
    "Key pair {name} is bound to %(count)d instance: BCC refuses to delete a bound key pair. "
    "Unbind it first; nothing was deleted.",
    "Key pair {name} is bound to %(count)d instances: BCC refuses to delete a bound key pair. "
    "Unbind it first; nothing was deleted.",
    "count",
)
DELETED = _("Key pair {name} is deleted from BCC.")
ALREADY_GONE = _("BCC no longer had key pair {name}: it had already been deleted outside the portal.")

ASSIGNED_DETAIL = "assigned to {owner} from the BCC inventory"
DELETE_WHY = "deleted from the BCC inventory"


@dataclass(frozen=True)
class InventoryDeleteResult:
    entry: BccInventoryEntry
    already_gone: bool

    @property
    def message(self) -> str:
        return str(ALREADY_GONE if self.already_gone else DELETED).format(name=self.entry.name)


def inventory_assign(*, actor, entry_id: int, owner_id: int, origin: Origin) -> KeyPairRequest:
    """Make ``owner`` the owner of the unowned entry ``entry_id``; returns the new record (see the module docstring)."""
    ensure_outside_transaction()
    entry = _unowned_entry(actor=actor, entry_id=entry_id)
    owner = get_user_model().objects.filter(pk=owner_id).first()
    if owner is None:
        raise ServiceRefused(str(NO_SUCH_PERSON), http_status=400, code="no_such_person")
    if not may_create_keypairs(owner):
        raise ServiceRefused(NOT_A_DEVELOPER.format(person=owner.get_username()), http_status=400, code="not_developer")

    lookup = keypair_in_bcc(region=entry.region, keypair_id=entry.keypair_id)
    if lookup.presence is Presence.GONE:
        raise ServiceRefused(GONE_NOW.format(name=entry.name), http_status=409, code="gone")
    held = lookup.keypair
    now = timezone.now()
    record = KeyPairRequest(
        owner=owner,
        kind=KeyPairRequest.Kind.ASSIGNED,
        status=KeyPairRequest.Status.CREATED,
        # Never a form's: random and unique, so the create form's resubmission check never meets it.
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        region=entry.region,
        keypair_id=entry.keypair_id,
        name=held.name if held else entry.name,
        description=held.description if held else entry.description,
        public_key=held.public_key if held else "",
        fingerprint_bcc=held.fingerprint if held else entry.fingerprint,
        fingerprint_sha256=sha256_fingerprint_or_blank(held.public_key if held else ""),
        bcc_created_at=(held.created_time if held else None) or entry.bcc_created_at,
        completed_at=now,
    )
    with transaction.atomic():
        record.save()
        won = BccInventoryEntry.objects.filter(pk=entry.pk, record__isnull=True, gone_at__isnull=True).update(
            record=record
        )
        if not won:  # another admin assigned or deleted it in the meantime: nothing is kept
            transaction.set_rollback(True)
    if not won:
        entry = _unowned_entry(actor=actor, entry_id=entry_id)  # raises the sentence that now applies
    audit_record(
        action=Action.ASSIGNED,
        outcome=Outcome.SUCCESS,
        actor=actor,
        origin=origin,
        region=record.region,
        keypair_name=record.name,
        keypair_id=record.keypair_id,
        detail=ASSIGNED_DETAIL.format(owner=owner.get_username()),
    )
    return record


def inventory_delete(*, actor, entry_id: int, origin: Origin) -> InventoryDeleteResult:
    """Delete the unowned entry ``entry_id``'s key pair in BCC; raises ``ServiceRefused`` / ``ServiceFailed``."""
    ensure_outside_transaction()
    entry = _unowned_entry(actor=actor, entry_id=entry_id)
    if entry.instance_count > 0:
        message = BOUND % {"count": entry.instance_count}
        raise ServiceRefused(message.format(name=entry.name), http_status=409, code="bound")
    audit = auditor_for(user=actor, origin=origin, keypair_request=entry, why=DELETE_WHY)
    audit(action=Action.DELETE_REQUESTED, outcome=Outcome.SUCCESS)
    already_gone = delete.delete_in_bcc(target=entry, audit=audit, origin=origin)
    BccInventoryEntry.objects.filter(pk=entry.pk, gone_at__isnull=True).update(gone_at=timezone.now())
    entry.refresh_from_db(fields=["gone_at"])
    detail = delete.DETAIL_ALREADY_GONE if already_gone else delete.DETAIL_DELETED
    audit(action=Action.DELETED, outcome=Outcome.SUCCESS, detail=detail)
    return InventoryDeleteResult(entry=entry, already_gone=already_gone)


def may_change_inventory(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.has_perm(CHANGE_INVENTORY))


def _unowned_entry(*, actor, entry_id: int) -> BccInventoryEntry:
    if not may_change_inventory(actor):
        raise ServiceRefused(str(NOT_ALLOWED), http_status=403, code="not_allowed")
    entry = BccInventoryEntry.objects.select_related("record__owner").filter(pk=entry_id).first()
    if entry is None:
        raise ServiceRefused(str(NO_SUCH_ENTRY), http_status=404, code="not_found")
    if entry.gone_at is not None:
        raise ServiceRefused(GONE.format(name=entry.name), http_status=409, code="gone")
    if entry.record is not None:
        owner = entry.record.owner.get_username()
        raise ServiceRefused(OWNED.format(name=entry.name, owner=owner), http_status=409, code="owned")
    return entry
