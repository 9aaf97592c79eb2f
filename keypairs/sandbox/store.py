"""The sandbox's key pairs, in memory, one account per (access key, region).

BCC keeps key pairs per account and per region, and counts the quota there, so the
store does too. Everything is behind one lock, held only for dictionary work: the slow
part of a create (generating the RSA key) happens before :meth:`KeypairStore.add`.

Choices where BCC documents nothing:

- Duplicate names are allowed. BCC defines no error for them, and a key pair is
  identified by its ``keypairId``; a portal must never rely on names being unique.
- Listing is in creation order. ``marker`` is the ``keypairId`` to start from
  (inclusive) and ``nextMarker`` the first one of the next page, as in BCC's other list
  calls. A marker whose key pair was deleted meanwhile still works (paging resumes at
  the next one in order); a marker this account never issued is ``InvalidHTTPRequest``.
- The ``name`` filter of list is an exact match.
- An instance holds one key pair: attaching a key pair to an instance detaches the one
  it had. Instance ids are not checked (the sandbox has no instances); detaching an
  instance that does not hold the key pair does nothing.
- ``clientToken`` (create and import): the same token with the same parameters within
  24 hours answers with the key pair the first call made, as it is now (or as it was, if
  it was deleted since), and never with its private key: a private key is given out
  once, ever. Concurrent calls with one token wait for the first one to finish.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from keypairs.sandbox.errors import SandboxError

DEFAULT_QUOTA = 500
CLIENT_TOKEN_LIFETIME = timedelta(hours=24)

KEYPAIR_NOT_EXIST = "The key pair does not exist in this region."
DELETE_IN_USE = "The key pair is attached to an instance; detach it first."
QUOTA_EXCEEDED = "The key pair quota of this region ({quota}) is reached."
PUBLIC_KEY_EXISTS = "This public key is already imported in this region."
IDEMPOTENT_MISMATCH = "This clientToken was used with other parameters."
UNKNOWN_MARKER = "marker is not a key pair id of this region."


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
    instance_ids: set[str] = field(default_factory=set)

    def to_model(self) -> dict[str, Any]:
        """The KeypairModel BCC answers with (never a private key: it is not stored)."""
        return {
            "keypairId": self.keypair_id,
            "name": self.name,
            "description": self.description,
            "publicKey": self.public_key,
            "fingerPrint": self.fingerprint,
            "regionId": self.region,
            "instanceCount": len(self.instance_ids),
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


@dataclass(frozen=True)
class Page:
    keypairs: list[dict[str, Any]]
    next_marker: str | None


class KeypairStore:
    def __init__(self, *, quota: int = DEFAULT_QUOTA) -> None:
        self.quota = quota
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
            return self._find(scope, keypair_id).to_model()

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
            return Page(keypairs=[keypair.to_model() for keypair in page], next_marker=next_marker)

    def all(self, scope: Scope) -> list[dict[str, Any]]:
        with self._lock:
            return [keypair.to_model() for keypair in self._account(scope).keypairs.values()]

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
            model = keypair.to_model()
            record = account.tokens.get(client_token) if client_token else None
            if record is not None:
                record.pending, record.keypair_id, record.snapshot = False, keypair.keypair_id, model
                self._lock.notify_all()
            return model

    def delete(self, scope: Scope, keypair_id: str) -> None:
        with self._lock:
            keypair = self._find(scope, keypair_id)
            if keypair.instance_ids:
                raise SandboxError("Keypair.DeleteKeypairInUse", DELETE_IN_USE)
            del self._account(scope).keypairs[keypair_id]

    def rename(self, scope: Scope, keypair_id: str, name: str) -> None:
        with self._lock:
            self._find(scope, keypair_id).name = name

    def update_description(self, scope: Scope, keypair_id: str, description: str) -> None:
        with self._lock:
            self._find(scope, keypair_id).description = description

    def attach(self, scope: Scope, keypair_id: str, instance_ids: list[str]) -> None:
        with self._lock:
            keypair = self._find(scope, keypair_id)
            for other in self._account(scope).keypairs.values():
                other.instance_ids.difference_update(instance_ids)
            keypair.instance_ids.update(instance_ids)

    def detach(self, scope: Scope, keypair_id: str, instance_ids: list[str]) -> None:
        with self._lock:
            self._find(scope, keypair_id).instance_ids.difference_update(instance_ids)

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
                    return current.to_model() if current is not None else dict(record.snapshot or {})
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
        return self._accounts.setdefault(scope, _Account())

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
