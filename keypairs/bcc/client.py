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
from keypairs.bcc.models import BindingResult, CallRecord, Instance, Keypair
from keypairs.bcc.transport import RetryMode, Transport

KEYPAIR_PATH = "/v2/keypair"
INSTANCE_PATH = "/v2/instance"
MAX_PAGE_SIZE = 1000
# BCC ids look like `k-y7VWq` and `i-KaRbT3xy`. Anything else is refused before it can reach
# a URL path (no `/`, no `..`), since an id is interpolated into the path.
_RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
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
        filters: list[tuple[str, str | None]] = [("name", name)] if name is not None else []
        return self._pages("list_keypairs", KEYPAIR_PATH, filters, page_size, _read_page)

    def list_keypairs(self, *, name: str | None = None, page_size: int = MAX_PAGE_SIZE) -> list[Keypair]:
        return list(self.iter_keypairs(name=name, page_size=page_size))

    def get_keypair(self, keypair_id: str) -> Keypair:
        return self._transport.call("get_keypair", "GET", _keypair_path(keypair_id), parse=_read_keypair_answer).result

    def iter_instances(
        self,
        *,
        instance_ids: Sequence[str] | None = None,
        instance_names: Sequence[str] | None = None,
        fuzzy_instance_name: str | None = None,
        status: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        zone_name: str | None = None,
        internal_ip: str | None = None,
        private_ips: Sequence[str] | None = None,
        vpc_id: str | None = None,
        dedicated_host_id: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Instance]:
        """Every instance in the region that matches, one page request at a time.

        Filters are BCC's (bcc-keypair-api.md, "Instances"): different ones combine with AND,
        the values of one (``status=["Running", "Stopped"]``) with OR. A tag is ``"key:value"``,
        or ``"key"`` for any value. There is deliberately no key pair filter: BCC does not
        document one; match ``Instance.keypair_id`` instead.
        """
        filters = [
            ("instanceIds", _joined(instance_ids)),
            ("instanceNames", _joined(instance_names)),
            ("fuzzyInstanceName", fuzzy_instance_name),
            ("status", _joined(status)),
            ("tags", _joined(tags)),
            ("zoneName", zone_name),
            ("internalIp", internal_ip),
            ("privateIps", _joined(private_ips)),
            ("vpcId", vpc_id),
            ("dedicatedHostId", dedicated_host_id),
        ]
        given = [(key, value) for key, value in filters if value is not None]
        return self._pages("list_instances", INSTANCE_PATH, given, page_size, _read_instance_page)

    def list_instances(self, **filters: Any) -> list[Instance]:
        """``iter_instances`` as a list (same keyword arguments)."""
        return list(self.iter_instances(**filters))

    def get_instance(self, instance_id: str) -> Instance:
        path = f"{INSTANCE_PATH}/{_resource_id(instance_id, 'instance')}"
        return self._transport.call("get_instance", "GET", path, parse=_read_instance_answer).result

    def _pages(self, operation, path, filters, page_size, parse) -> Iterator[Any]:
        """Follow ``nextMarker`` from page to page, yielding each page's items."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}.")
        marker: str | None = None
        markers_seen: set[str] = set()
        while True:
            query: list[tuple[str, str | None]] = [("maxKeys", str(page_size))]
            if marker:
                query.append(("marker", marker))
            query.extend(filters)
            answer = self._transport.call(operation, "GET", path, query=query, parse=parse)
            items, marker = answer.result
            yield from items
            if marker is None:
                return
            if marker in markers_seen:  # a server that pages in a circle would loop forever
                raise errors.BccBadResponseError(
                    status=answer.status, operation=operation, region=self.region, request_id=answer.request_id
                )
            markers_seen.add(marker)

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

    def attach_keypair(self, keypair_id: str, *, instance_ids: Sequence[str]) -> BindingResult:
        """Bind the key pair to the instances, replacing the key pair each held.

        BCC may bind some and not others: ``failed_instance_ids`` names those it did not.
        When it binds none, it answers with an error instead (``BccApiError``; the code says
        why, e.g. ``Keypair.UnsupportOsType``).
        """
        return self._change_instances("attach_keypair", "attach", keypair_id, instance_ids)

    def detach_keypair(self, keypair_id: str, *, instance_ids: Sequence[str]) -> BindingResult:
        """Unbind the key pair from the instances (one that does not hold it is left alone)."""
        return self._change_instances("detach_keypair", "detach", keypair_id, instance_ids)

    def _change_instances(
        self, operation: str, flag: str, keypair_id: str, instance_ids: Sequence[str]
    ) -> BindingResult:
        if isinstance(instance_ids, str) or not instance_ids or not all(isinstance(i, str) for i in instance_ids):
            raise ValueError("instance_ids must be a non-empty list of instance ids.")
        return self._transport.call(
            operation,
            "PUT",
            _keypair_path(keypair_id),
            query=[(flag, None)],
            body={"instanceIds": list(instance_ids)},
            retry=RetryMode.UNSENT_ONLY,
            parse=_read_binding,
        ).result


# --- Request parts -------------------------------------------------------------------------


def _keypair_path(keypair_id: str) -> str:
    return f"{KEYPAIR_PATH}/{_resource_id(keypair_id, 'key pair')}"


def _resource_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _RESOURCE_ID.fullmatch(value):
        raise ValueError(f"Not a BCC {what} id.")
    return value


def _joined(values: Sequence[str] | None) -> str | None:
    """Several values of one filter, as BCC takes them: comma-separated."""
    if values is None:
        return None
    if isinstance(values, str) or not all(isinstance(value, str) and "," not in value for value in values):
        raise ValueError("A filter takes a list of values without commas.")
    return ",".join(values)


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


def _read_binding(data: Mapping[str, Any], request_id: str | None) -> BindingResult:
    return BindingResult.from_api(data, request_id=request_id)


def _read_instance_answer(data: Mapping[str, Any], request_id: str | None) -> Instance:
    return Instance.from_api(data.get("instance"), request_id=request_id)


def _read_page(data: Mapping[str, Any], request_id: str | None) -> tuple[list[Keypair], str | None]:
    items = data.get("keypairs", [])
    if not isinstance(items, list):
        raise ValueError("keypairs must be a list.")
    return [Keypair.from_api(item, request_id=request_id) for item in items], _next_marker(data)


def _read_instance_page(data: Mapping[str, Any], request_id: str | None) -> tuple[list[Instance], str | None]:
    items = data.get("instances", [])
    if not isinstance(items, list):
        raise ValueError("instances must be a list.")
    return [Instance.from_api(item, request_id=request_id) for item in items], _next_marker(data)


def _next_marker(data: Mapping[str, Any]) -> str | None:
    if data.get("isTruncated") is not True:
        return None
    next_marker = data.get("nextMarker")
    if not isinstance(next_marker, str) or not next_marker:
        raise ValueError("A truncated page must name its nextMarker.")
    return next_marker
