"""``BccClient``: BCC's key pair operations, typed, over the signed transport.

One client per region (the factory caches them per process). Every call either returns a
typed result or raises a ``BccError`` (see ``errors``). ``client.last_call`` is the
``CallRecord`` (request id, status, attempts, latency) of the last call made by the current
thread, success or failure. The portal's services do not read it (results and errors carry
the request id and latency they audit); it is there for what measures the client from outside:
the tests that count attempts and retries, and ``bench/growth.py``, which separates BCC's share
of a create's time from the portal's.

Create and import are never repeated once the request may have reached BCC: a failure then
raises ``BccOutcomeUnknown`` (the key pair may exist, its private key lost). They are retried
only when the request certainly never left (connection refused, connect timeout), which
cannot create anything twice. See ``transport`` for the retry policy of every operation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from keypairs.bcc import errors, signer
from keypairs.bcc.models import CallRecord, Keypair
from keypairs.bcc.transport import RetryMode, Transport

KEYPAIR_PATH = "/v2/keypair"
MAX_PAGE_SIZE = 1000
# BCC ids look like `k-y7VWq`. Anything else is refused before it can reach a URL path
# (no `/`, no `..`), since an id is interpolated into the path.
_KEYPAIR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CLIENT_TOKEN = re.compile(r"[\x21-\x7e]{1,64}")  # printable ASCII, at most 64 (Go SDK rule)


class BccClient:
    def __init__(
        self,
        *,
        credentials: signer.Credentials,
        endpoint: str,
        region: str,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
        max_attempts: int = 3,
        verify: bool | str = True,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.region = region
        self._transport = Transport(
            credentials=credentials,
            endpoint=endpoint,
            region=region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
            verify=verify,
            clock=clock,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"BccClient(region={self.region!r}, endpoint={self.endpoint!r})"

    @property
    def endpoint(self) -> str:
        return self._transport.endpoint

    @property
    def last_call(self) -> CallRecord | None:
        """The last call this thread made with this client: request id, status, attempts, latency."""
        return self._transport.last_call

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> BccClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- create and import: never repeated once possibly sent ------------------------------

    def create_keypair(self, *, name: str, description: str = "", client_token: str | None = None) -> Keypair:
        """Create a key pair. The result is the only place its private key will ever appear.

        ``private_key`` is ``None`` when BCC answers a replay of ``client_token`` (the same
        token and parameters as an earlier create): the key pair is the earlier one, and its
        private key was given out then, once.
        """
        body = {"name": name, **({"description": description} if description else {})}
        query = _token_query(client_token)
        return self._create("create_keypair", "POST", query, body, errors.OUTCOME_UNKNOWN_CREATE, _read_keypair_answer)

    def import_keypair(
        self, *, name: str, public_key: str, description: str = "", client_token: str | None = None
    ) -> Keypair:
        body = {"name": name, **({"description": description} if description else {}), "publicKey": public_key}
        query = [("import", None), *_token_query(client_token)]
        return self._create("import_keypair", "PUT", query, body, errors.OUTCOME_UNKNOWN_IMPORT, _read_imported)

    def _create(self, operation, method, query, body, unknown_message, parse) -> Keypair:
        try:
            answer = self._transport.call(
                operation, method, KEYPAIR_PATH, query=query, body=body, retry=RetryMode.UNSENT_ONLY, parse=parse
            )
        except errors.BccTransportError as exc:
            if exc.sent:
                raise errors.BccOutcomeUnknown.from_error(unknown_message, exc) from exc
            raise
        return answer.result

    # --- reads --------------------------------------------------------------------------

    def iter_keypairs(self, *, name: str | None = None, page_size: int = MAX_PAGE_SIZE) -> Iterator[Keypair]:
        """Every key pair in the region (``name`` filters), one page request at a time."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}.")
        marker: str | None = None
        markers_seen: set[str] = set()
        while True:
            query: list[tuple[str, str | None]] = [("maxKeys", str(page_size))]
            if marker:
                query.append(("marker", marker))
            if name is not None:
                query.append(("name", name))
            answer = self._transport.call("list_keypairs", "GET", KEYPAIR_PATH, query=query, parse=_read_page)
            keypairs, marker = answer.result
            yield from keypairs
            if marker is None:
                return
            if marker in markers_seen:  # a server that pages in a circle would loop forever
                raise errors.BccBadResponseError(
                    status=answer.status, operation="list_keypairs", region=self.region, request_id=answer.request_id
                )
            markers_seen.add(marker)

    def list_keypairs(self, *, name: str | None = None, page_size: int = MAX_PAGE_SIZE) -> list[Keypair]:
        return list(self.iter_keypairs(name=name, page_size=page_size))

    def get_keypair(self, keypair_id: str) -> Keypair:
        return self._transport.call("get_keypair", "GET", _keypair_path(keypair_id), parse=_read_keypair_answer).result

    # --- changes ------------------------------------------------------------------------

    def delete_keypair(self, keypair_id: str) -> None:
        self._transport.call("delete_keypair", "DELETE", _keypair_path(keypair_id), retry=RetryMode.UNSENT_ONLY)

    def rename_keypair(self, keypair_id: str, *, name: str) -> None:
        self._transport.call(
            "rename_keypair", "PUT", _keypair_path(keypair_id), query=[("rename", None)], body={"name": name}
        )

    def update_keypair_description(self, keypair_id: str, *, description: str) -> None:
        self._transport.call(
            "update_keypair_description",
            "PUT",
            _keypair_path(keypair_id),
            query=[("updateDesc", None)],
            body={"description": description},
        )

    def attach_keypair(self, keypair_id: str, *, instance_ids: Sequence[str]) -> None:
        self._change_instances("attach_keypair", "attach", keypair_id, instance_ids)

    def detach_keypair(self, keypair_id: str, *, instance_ids: Sequence[str]) -> None:
        self._change_instances("detach_keypair", "detach", keypair_id, instance_ids)

    def _change_instances(self, operation: str, flag: str, keypair_id: str, instance_ids: Sequence[str]) -> None:
        if isinstance(instance_ids, str) or not instance_ids or not all(isinstance(i, str) for i in instance_ids):
            raise ValueError("instance_ids must be a non-empty list of instance ids.")
        self._transport.call(
            operation,
            "PUT",
            _keypair_path(keypair_id),
            query=[(flag, None)],
            body={"instanceIds": list(instance_ids)},
            retry=RetryMode.UNSENT_ONLY,
        )


# --- Request parts -------------------------------------------------------------------------


def _keypair_path(keypair_id: str) -> str:
    if not isinstance(keypair_id, str) or not _KEYPAIR_ID.fullmatch(keypair_id):
        raise ValueError("Not a BCC key pair id.")
    return f"{KEYPAIR_PATH}/{keypair_id}"


def _token_query(client_token: str | None) -> list[tuple[str, str | None]]:
    if client_token is None:
        return []
    if not _CLIENT_TOKEN.fullmatch(client_token):
        raise ValueError("client_token must be 1 to 64 printable ASCII characters.")
    return [("clientToken", client_token)]


# --- Answer readers (a ValueError means "wrong shape") --------------------------------------


def _read_keypair_answer(data: Mapping[str, Any], request_id: str | None) -> Keypair:
    return Keypair.from_api(data.get("keypair"), request_id=request_id)


def _read_imported(data: Mapping[str, Any], request_id: str | None) -> Keypair:
    # An imported key pair has no private key at BCC; drop one if a server ever sent it.
    return replace(_read_keypair_answer(data, request_id), private_key=None)


def _read_page(data: Mapping[str, Any], request_id: str | None) -> tuple[list[Keypair], str | None]:
    items = data.get("keypairs", [])
    if not isinstance(items, list):
        raise ValueError("keypairs must be a list.")
    keypairs = [Keypair.from_api(item, request_id=request_id) for item in items]
    if data.get("isTruncated") is not True:
        return keypairs, None
    next_marker = data.get("nextMarker")
    if not isinstance(next_marker, str) or not next_marker:
        raise ValueError("A truncated page must name its nextMarker.")
    return keypairs, next_marker
