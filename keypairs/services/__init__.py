"""The write side of key pairs: one module per thing a service does, one way to fail.

- ``create``: ``keypair_create``, BCC's create with the one-time form, limits, delivery and
  reconciliation of a lost answer.
- ``delete``: ``keypair_delete``, BCC's delete; the record's end and the waiting private key erased.
- ``unbind_then_delete``: ``keypair_unbind_all_then_delete``, a bound key pair unbound from every
  instance that holds it, then deleted (stopping before the delete when any still holds it).
- ``change``: ``keypair_change, BCC's rename and description update, each audited with old and new.
- ``bcc_failures``: what every service reads the same way in BCC's errors.
- ``_intent``: the steps create and import share (the intent before BCC, limits, failures settled);
  ``_owned``: what change and delete share; ``_auditor``: a key pair's audit rows. Private to the package.
- ``import_``: ``keypair_import``, BCC's import of a public key the developer holds, with the
  same one-time form and limits; a lost answer is settled by keeping the key pair.
- ``bcc_sync``: ``keypair_records_sync`` and ``keypair_record_sync``, the portal's records brought
  in line with BCC's state (changed or deleted outside the portal), each change audited once.
- ``bind_under_rules``: ``keypair_bind_under_rules``, the bind page's POST: the access rules checked
  again on BCC's state of that moment, then ``binding.keypair_bind`` or an access request.
- ``access_requests``: ``access_request_create`` and ``access_request_withdraw``, the requester's side.
- ``errors``: ``ServiceError`` and its two kinds, ``ServiceRefused`` (nothing was done) and
  ``ServiceFailed`` (the attempt is recorded), raised by every service here.

Services take keyword-only, typed arguments, are named ``<entity>_<action>``, take the
request's ``keypairs.audit.Origin`` as ``origin=``, and return their result or raise a
``ServiceError``. Views import them from here. Delivery claims and reports live in
``keypairs.delivery``, reconciliation in ``keypairs.reconcile``.
"""

from keypairs.services._intent import FORM_NOT_YOURS
from keypairs.services.bcc_failures import SETTINGS_INCOMPLETE
from keypairs.services.bcc_sync import RecordsSync, keypair_record_sync, keypair_records_sync
from keypairs.services.change import ChangeResult, keypair_change
from keypairs.services.create import (
    ANSWERED_TOO_LATE,
    FORM_ALREADY_USED,
    NOT_STORED,
    ORPHANED,
    CreateResult,
    keypair_create,
)
from keypairs.services.delete import DeleteResult, keypair_delete
from keypairs.services.errors import ServiceError, ServiceFailed, ServiceRefused
from keypairs.services.import_ import ImportResult, PublicKeyAlreadyInBcc, keypair_import
from keypairs.services.unbind_then_delete import keypair_unbind_all_then_delete

__all__ = [
    "ANSWERED_TOO_LATE",
    "FORM_ALREADY_USED",
    "FORM_NOT_YOURS",
    "NOT_STORED",
    "ORPHANED",
    "SETTINGS_INCOMPLETE",
    "ChangeResult",
    "CreateResult",
    "DeleteResult",
    "ImportResult",
    "PublicKeyAlreadyInBcc",
    "RecordsSync",
    "ServiceError",
    "ServiceFailed",
    "ServiceRefused",
    "keypair_change",
    "keypair_create",
    "keypair_delete",
    "keypair_import",
    "keypair_record_sync",
    "keypair_records_sync",
    "keypair_unbind_all_then_delete",
]
