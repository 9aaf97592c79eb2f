"""The sandbox's key pairs and instances, in memory, one account per (access key, region).

BCC keeps key pairs and instances per account and per region, and counts the quota
there, so the store does too. An account is made the first time it is used, with its
region's seeded instances (``seed.py``). Everything is behind one lock, held only for
dictionary work: the slow part of a create (generating the RSA key) happens before
:meth:`KeypairStore.add`.

Choices where BCC documents nothing:

- Duplicate names are allowed. BCC defines no error for them, and a key pair is
  identified by its ``keypairId``; a portal must never rely on names being unique.
- Listing is in creation order. ``marker`` is the ``keypairId`` to start from
  (inclusive) and ``nextMarker`` the first one of the next page, as in BCC's other list
  calls. A marker whose key pair was deleted meanwhile still works (paging resumes at
  the next one in order); a marker this account never issued is ``InvalidHTTPRequest``.
- The ``name`` filter of list is an exact match.
- Binding is kept on the instance (``StoredInstance.keypair_id``) and nowhere else: a key
  pair's ``instanceCount`` is counted from the instances, so it cannot disagree with them,
  and ``DeleteKeypairInUse`` follows from it.
- Attach and detach check each instance (bcc-keypair-api.md, "Binding"): it must exist
  (``Keypair.InstanceNotExist``), run Linux (``Keypair.UnsupportOsType``) and be Running or
  Stopped (``Keypair.InstanceStatusForbidden``); attach also refuses an instance that
  already holds this key pair (``Keypair.AttachAttachedKeypair``). An instance holds one key
  pair, so attaching replaces the one it had. Instances that pass are changed, those that
  fail are answered in ``failedInstanceIdList``; when every instance fails, nothing changed
  and the answer is the first instance's error. Detaching an instance that does not hold
  the key pair does nothing. A repeated id counts once. BCC reboots a running instance to
  make a binding take effect; the sandbox does not play the reboot (the status stays).
- Instances list in the order they were added; ``marker`` works as for key pairs, with
  instance ids, and a page that is the last one has no ``nextMarker``. The detail of an
  unknown instance is ``Keypair.InstanceNotExist`` too (the reference gives no other code).
- ``clientToken`` (create and import): the same token with the same parameters within
  24 hours answers with the key pair the first call made, as it is now (or as it was, if
  it was deleted since), and never with its private key: a private key is given out
  once, ever. Concurrent calls with one token wait for the first one to finish.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from keypairs.sandbox.errors import SandboxError
from keypairs.sandbox.instances import BINDABLE_STATUSES, InstanceFilter, StoredInstance, check_status
from keypairs.sandbox.seed import InstanceSeed

DEFAULT_QUOTA = 500
CLIENT_TOKEN_LIFETIME = timedelta(hours=24)

KEYPAIR_NOT_EXIST = "The key pair does not exist in this region."
DELETE_IN_USE = "The key pair is attached to an instance; detach it first."
QUOTA_EXCEEDED = "The key pair quota of this region ({quota}) is reached."
PUBLIC_KEY_EXISTS = "This public key is already imported in this region."
IDEMPOTENT_MISMATCH = "This clientToken was used with other parameters."
UNKNOWN_MARKER = "marker is not a key pair id of this region."
UNKNOWN_INSTANCE_MARKER = "marker is not an instance id of this region."
INSTANCE_NOT_EXIST = "The instance {instance_id} does not exist in this region."
UNSUPPORTED_OS = "The instance {instance_id} runs Windows; key pairs bind to Linux instances only."
STATUS_FORBIDDEN = "The instance {instance_id} is {status}; it must be Running or Stopped."
ALREADY_ATTACHED = "The key pair is already bound to the instance {instance_id}."
INSTANCE_EXISTS = "An instance with the id {instance_id} already exists in this region."


class Scope(NamedTuple):
    access_key_id: str
    region: str


@dataclass
class StoredKeypair:
    keypair_id: str
    name: str
    description: str
    public_key: str
    fingerprint: str
    blob: bytes  # the public key's wire form: what "already imported" compares
    region: str
    created_time: datetime

    def to_model(self, instance_count: int) -> dict[str, Any]:
        """The KeypairModel BCC answers with (never a private key: it is not stored)."""
        return {
            "keypairId": self.keypair_id,
            "name": self.name,
            "description": self.description,
            "publicKey": self.public_key,
            "fingerPrint": self.fingerprint,
            "regionId": self.region,
            "instanceCount": instance_count,
            "createdTime": self.created_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@dataclass
class _TokenRecord:
    parameters: Hashable
    expires_at: datetime
    pending: bool = True
    keypair_id: str | None = None
    snapshot: dict[str, Any] | None = None


@dataclass
class _Account:
    keypairs: dict[str, StoredKeypair] = field(default_factory=dict)  # creation order
    issued: dict[str, int] = field(default_factory=dict)  # every id ever issued -> its place in order
    tokens: dict[str, _TokenRecord] = field(default_factory=dict)
    instances: dict[str, StoredInstance] = field(default_factory=dict)  # the order they were added
    instance_order: dict[str, int] = field(default_factory=dict)  # every instance id ever added -> its place

    def bound_counts(self) -> Counter[str]:
        return Counter(instance.keypair_id for instance in self.instances.values() if instance.keypair_id)

    def keypair_model(self, keypair: StoredKeypair, counts: Counter[str] | None = None) -> dict[str, Any]:
        return keypair.to_model((counts if counts is not None else self.bound_counts())[keypair.keypair_id])

    def instance_model(self, instance: StoredInstance) -> dict[str, Any]:
        bound = self.keypairs.get(instance.keypair_id or "")
        return instance.to_model(bound.name if bound else "")


@dataclass(frozen=True)
class Page:
    keypairs: list[dict[str, Any]]
    next_marker: str | None


@dataclass(frozen=True)
class InstancePage:
    instances: list[dict[str, Any]]
    next_marker: str | None


class KeypairStore:
    def __init__(self, *, quota: int = DEFAULT_QUOTA, seed: InstanceSeed | None = None) -> None:
        self.quota = quota
        self.seed = seed or InstanceSeed()
        self._lock = threading.Condition()
        self._accounts: dict[Scope, _Account] = {}
        self._sequence = 0

    def reset(self) -> None:
        with self._lock:
            self._accounts.clear()
            self._lock.notify_all()

    # --- reads -----------------------------------------------------------------------

    def get(self, scope: Scope, keypair_id: str) -> dict[str, Any]:
        with self._lock:
            return self._account(scope).keypair_model(self._find(scope, keypair_id))

    def list(self, scope: Scope, *, marker: str | None, max_keys: int, name: str | None) -> Page:
        with self._lock:
            account = self._account(scope)
            start = 0
            if marker:
                if marker not in account.issued:
                    raise SandboxError("InvalidHTTPRequest", UNKNOWN_MARKER)
                start = account.issued[marker]
            matching = [
                keypair
                for keypair in account.keypairs.values()
                if account.issued[keypair.keypair_id] >= start and (name is None or keypair.name == name)
            ]
            page = matching[:max_keys]
            next_marker = matching[max_keys].keypair_id if len(matching) > max_keys else None
            counts = account.bound_counts()
            models = [account.keypair_model(keypair, counts) for keypair in page]
            return Page(keypairs=models, next_marker=next_marker)

    def all(self, scope: Scope) -> list[dict[str, Any]]:
        with self._lock:
            account = self._account(scope)
            counts = account.bound_counts()
            return [account.keypair_model(keypair, counts) for keypair in account.keypairs.values()]

    def list_instances(self, scope: Scope, *, marker: str | None, max_keys: int, where: InstanceFilter) -> InstancePage:
        with self._lock:
            account = self._account(scope)
            start = 0
            if marker:
                if marker not in account.instance_order:
                    raise SandboxError("InvalidHTTPRequest", UNKNOWN_INSTANCE_MARKER)
                start = account.instance_order[marker]
            matching = [
                instance
                for instance in account.instances.values()
                if account.instance_order[instance.instance_id] >= start and where.matches(instance)
            ]
            next_marker = matching[max_keys].instance_id if len(matching) > max_keys else None
            models = [account.instance_model(instance) for instance in matching[:max_keys]]
            return InstancePage(instances=models, next_marker=next_marker)

    def get_instance(self, scope: Scope, instance_id: str) -> dict[str, Any]:
        with self._lock:
            account = self._account(scope)
            return account.instance_model(_instance(account, instance_id))

    def all_instances(self, scope: Scope) -> list[dict[str, Any]]:
        with self._lock:
            account = self._account(scope)
            return [account.instance_model(instance) for instance in account.instances.values()]

    # --- writes ----------------------------------------------------------------------

    def check_room(self, scope: Scope, *, blob: bytes | None = None) -> None:
        """Fail early, before the slow part; :meth:`add` checks again under the lock."""
        with self._lock:
            self._check_room(self._account(scope), blob)

    def add(self, scope: Scope, keypair: StoredKeypair, *, client_token: str | None = None) -> dict[str, Any]:
        with self._lock:
            account = self._account(scope)
            self._check_room(account, keypair.blob)
            self._sequence += 1
            account.keypairs[keypair.keypair_id] = keypair
            account.issued[keypair.keypair_id] = self._sequence
            model = account.keypair_model(keypair)
            record = account.tokens.get(client_token) if client_token else None
            if record is not None:
                record.pending, record.keypair_id, record.snapshot = False, keypair.keypair_id, model
                self._lock.notify_all()
            return model

    def delete(self, scope: Scope, keypair_id: str) -> None:
        with self._lock:
            self._find(scope, keypair_id)
            account = self._account(scope)
            if account.bound_counts()[keypair_id]:
                raise SandboxError("Keypair.DeleteKeypairInUse", DELETE_IN_USE)
            del account.keypairs[keypair_id]

    def rename(self, scope: Scope, keypair_id: str, name: str) -> None:
        with self._lock:
            self._find(scope, keypair_id).name = name

    def update_description(self, scope: Scope, keypair_id: str, description: str) -> None:
        with self._lock:
            self._find(scope, keypair_id).description = description

    def attach(self, scope: Scope, keypair_id: str, instance_ids: list[str]) -> list[str]:
        """Bind the key pair where allowed (replacing what was bound there); returns the failed ids."""
        with self._lock:
            self._find(scope, keypair_id)

            def refusal(instance: StoredInstance) -> SandboxError | None:
                if instance.keypair_id == keypair_id:
                    return SandboxError(
                        "Keypair.AttachAttachedKeypair", ALREADY_ATTACHED.format(instance_id=instance.instance_id)
                    )
                return None

            allowed = self._allowed(self._account(scope), instance_ids, refusal)
            for instance in allowed:
                instance.keypair_id = keypair_id
            return _failed(instance_ids, allowed)

    def detach(self, scope: Scope, keypair_id: str, instance_ids: list[str]) -> list[str]:
        """Unbind the key pair from those of the instances that hold it; returns the failed ids."""
        with self._lock:
            self._find(scope, keypair_id)
            allowed = self._allowed(self._account(scope), instance_ids, lambda instance: None)
            for instance in allowed:
                if instance.keypair_id == keypair_id:
                    instance.keypair_id = None
            return _failed(instance_ids, allowed)

    # --- instances (seed, control endpoint, tests) -----------------------------------

    def add_instances(self, scope: Scope, new: list[StoredInstance]) -> list[dict[str, Any]]:
        """Add unbound instances, all or none (an id taken in this account refuses them all)."""
        with self._lock:
            account = self._account(scope)
            seen: set[str] = set()
            for instance in new:
                if instance.instance_id in account.instances or instance.instance_id in seen:
                    raise SandboxError("InappropriateJSON", INSTANCE_EXISTS.format(instance_id=instance.instance_id))
                seen.add(instance.instance_id)
            for instance in new:
                self._put_instance(account, instance)
            return [account.instance_model(instance) for instance in new]

    def set_instance_status(self, scope: Scope, instance_id: str, status: str) -> dict[str, Any]:
        with self._lock:
            account = self._account(scope)
            instance = _instance(account, instance_id)
            instance.status = check_status(status)
            return account.instance_model(instance)

    def remove_instance(self, scope: Scope, instance_id: str) -> None:
        """The instance is released: it goes, and with it its binding."""
        with self._lock:
            account = self._account(scope)
            _instance(account, instance_id)
            del account.instances[instance_id]

    # --- client tokens ---------------------------------------------------------------

    def claim_token(self, scope: Scope, token: str, parameters: Hashable, now: datetime) -> dict[str, Any] | None:
        """The key pair to answer with again, or None when this call now owns the token.

        The owner must end with :meth:`add` (passing the token) or :meth:`release_token`.
        """
        with self._lock:
            while True:
                account = self._account(scope)
                record = account.tokens.get(token)
                if record is not None and not record.pending and record.expires_at <= now:
                    record = None
                if record is None:
                    account.tokens[token] = _TokenRecord(parameters=parameters, expires_at=now + CLIENT_TOKEN_LIFETIME)
                    return None
                if record.parameters != parameters:
                    raise SandboxError("IdempotentParameterMismatch", IDEMPOTENT_MISMATCH)
                if not record.pending:
                    current = account.keypairs.get(record.keypair_id or "")
                    return account.keypair_model(current) if current is not None else dict(record.snapshot or {})
                self._lock.wait()

    def release_token(self, scope: Scope, token: str) -> None:
        """The owner of a token failed: forget the token, so a retry starts afresh."""
        with self._lock:
            account = self._account(scope)
            record = account.tokens.get(token)
            if record is not None and record.pending:
                del account.tokens[token]
            self._lock.notify_all()

    # --- helpers (lock held) ---------------------------------------------------------

    def _account(self, scope: Scope) -> _Account:
        account = self._accounts.get(scope)
        if account is None:
            account = self._accounts[scope] = _Account()
            for instance in self.seed.for_region(scope.region):
                self._put_instance(account, instance)
        return account

    def _put_instance(self, account: _Account, instance: StoredInstance) -> None:
        self._sequence += 1
        account.instances[instance.instance_id] = instance
        account.instance_order[instance.instance_id] = self._sequence

    def _allowed(
        self,
        account: _Account,
        instance_ids: list[str],
        refusal: Callable[[StoredInstance], SandboxError | None],
    ) -> list[StoredInstance]:
        """The instances a bind or unbind may change; raises the first refusal when none may."""
        allowed: list[StoredInstance] = []
        first_error: SandboxError | None = None
        for instance_id in dict.fromkeys(instance_ids):  # in order, each once
            try:
                instance = _instance(account, instance_id)
                error = _binding_refusal(instance) or refusal(instance)
            except SandboxError as missing:
                error = missing
            if error is None:
                allowed.append(instance)
            elif first_error is None:
                first_error = error
        if not allowed and first_error is not None:
            raise first_error
        return allowed

    def _find(self, scope: Scope, keypair_id: str) -> StoredKeypair:
        keypair = self._account(scope).keypairs.get(keypair_id)
        if keypair is None:
            raise SandboxError("Keypair.KeypairNotExist", KEYPAIR_NOT_EXIST)
        return keypair

    def _check_room(self, account: _Account, blob: bytes | None) -> None:
        if len(account.keypairs) >= self.quota:
            raise SandboxError("Keypair.KeypairQuotaExceedLimit", QUOTA_EXCEEDED.format(quota=self.quota))
        if blob is not None and any(keypair.blob == blob for keypair in account.keypairs.values()):
            raise SandboxError("Keypair.KeypairPublicKeyExist", PUBLIC_KEY_EXISTS)


def _instance(account: _Account, instance_id: str) -> StoredInstance:
    instance = account.instances.get(instance_id)
    if instance is None:
        raise SandboxError("Keypair.InstanceNotExist", INSTANCE_NOT_EXIST.format(instance_id=instance_id))
    return instance


def _binding_refusal(instance: StoredInstance) -> SandboxError | None:
    """What BCC says to binding or unbinding a key pair on this instance, if it refuses."""
    if instance.is_windows:
        return SandboxError("Keypair.UnsupportOsType", UNSUPPORTED_OS.format(instance_id=instance.instance_id))
    if instance.status not in BINDABLE_STATUSES:
        message = STATUS_FORBIDDEN.format(instance_id=instance.instance_id, status=instance.status)
        return SandboxError("Keypair.InstanceStatusForbidden", message)
    return None


def _failed(requested: list[str], allowed: list[StoredInstance]) -> list[str]:
    done = {instance.instance_id for instance in allowed}
    return [instance_id for instance_id in dict.fromkeys(requested) if instance_id not in done]
