"""A tiny bce-auth-v1 client for the sandbox tests: real signing, real HTTP, nothing hidden.

It signs with ``keypairs.bcc.signer`` (the portal client's signer) and sends with
``requests``, and lets a test break any part of the request on purpose: the headers
signed, the timestamp, the Authorization header, the bytes sent after signing.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from keypairs.bcc import signer

DEFAULT_SIGNED = ("host", "x-bce-date")
Query = Iterable[tuple[str, str | None]]


def encode_query(query: Query) -> str:
    return "&".join(
        signer.uri_encode(key) if value is None else f"{signer.uri_encode(key)}={signer.uri_encode(value)}"
        for key, value in query
    )


class SignedClient:
    def __init__(
        self,
        base_url: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        region: str | None = "bj",
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = signer.Credentials(access_key_id, secret_access_key)
        self.region = region
        self.verify = verify
        self.session = requests.Session()

    def for_region(self, region: str | None) -> SignedClient:
        other = SignedClient(
            self.base_url, self.credentials.access_key_id, self.credentials.secret_access_key, region=region
        )
        other.session = self.session
        other.verify = self.verify
        return other

    def with_keys(self, access_key_id: str, secret_access_key: str) -> SignedClient:
        other = SignedClient(self.base_url, access_key_id, secret_access_key, region=self.region, verify=self.verify)
        other.session = self.session
        return other

    def path(self, path: str) -> str:
        """The path as sent: ``/v2/...`` under this client's region prefix, if it has one."""
        return f"/{self.region}{path}" if self.region else path

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        signed_headers: Iterable[str] = DEFAULT_SIGNED,
        timestamp: datetime | str | None = None,
        expiration_seconds: int = signer.DEFAULT_EXPIRATION_SECONDS,
        authorization: str | None = None,
        tamper: Callable[[requests.PreparedRequest], None] | None = None,
        prefixed: bool = True,
        timeout: float = 10,
    ) -> requests.Response:
        full_path = self.path(path) if prefixed else path
        query = list(query)
        if json is not None:
            body = jsonlib.dumps(json).encode()
        stamp = timestamp if timestamp is not None else datetime.now(UTC)
        stamp_text = stamp if isinstance(stamp, str) else signer.format_timestamp(stamp)
        sent_headers = {"Host": urlsplit(self.base_url).netloc, "x-bce-date": stamp_text}
        if body is not None:
            sent_headers["Content-Type"] = "application/json;charset=utf-8"
        url = self.base_url + signer.uri_encode(full_path, keep_slash=True)
        if query:
            url += "?" + encode_query(query)
        prepared = self.session.prepare_request(requests.Request(method, url, data=body, headers=sent_headers))
        # Extra headers join after requests' own checks, which refuse some values BCC signs
        # (leading spaces, say): they are signed as text and sent as UTF-8 bytes.
        signing_view = {**prepared.headers, **(headers or {})}
        prepared.headers["Authorization"] = authorization or signer.authorization(
            method=method,
            path=full_path,
            query=query,
            headers=signing_view,
            credentials=self.credentials,
            timestamp=stamp,
            signed_headers=signed_headers,
            expiration_seconds=expiration_seconds,
        )
        for name, value in (headers or {}).items():
            prepared.headers[name] = value.encode("utf-8")
        if tamper is not None:
            tamper(prepared)
        return self.session.send(prepared, timeout=timeout, verify=self.verify)

    def signed_headers(self, method: str, path: str, *, host: str, body: bytes = b"") -> dict[str, str]:
        """Headers for a hand-made request (http.client) to ``path`` as given, signed with host and x-bce-date."""
        stamp = signer.format_timestamp(datetime.now(UTC))
        headers = {"Host": host, "x-bce-date": stamp, "Content-Length": str(len(body))}
        headers["Authorization"] = signer.authorization(
            method=method,
            path=path,
            query=[],
            headers=headers,
            credentials=self.credentials,
            timestamp=stamp,
            signed_headers=DEFAULT_SIGNED,
        )
        return headers

    # --- the key pair operations, spelled as BCC spells them -----------------------

    def create(self, name: str = "key01", description: str | None = None, **kwargs: Any) -> requests.Response:
        body = {"name": name} if description is None else {"name": name, "description": description}
        return self.request("POST", "/v2/keypair", json=body, **kwargs)

    def import_key(self, name: str, public_key: str, **kwargs: Any) -> requests.Response:
        query = [("import", None), *kwargs.pop("query", [])]
        return self.request("PUT", "/v2/keypair", query=query, json={"name": name, "publicKey": public_key}, **kwargs)

    def list(self, **params: str) -> requests.Response:
        return self.request("GET", "/v2/keypair", query=list(params.items()))

    def get(self, keypair_id: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", f"/v2/keypair/{keypair_id}", **kwargs)

    def delete(self, keypair_id: str) -> requests.Response:
        return self.request("DELETE", f"/v2/keypair/{keypair_id}")

    def action(self, keypair_id: str, flag: str, body: Any) -> requests.Response:
        return self.request("PUT", f"/v2/keypair/{keypair_id}", query=[(flag, None)], json=body)


def assert_bce_error(response: requests.Response, status: int, code: str) -> dict:
    """The answer is BCC's error body with this status and code, and names its request id."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    body = response.json()
    assert body["code"] == code, body
    assert body["requestId"] == response.headers["x-bce-request-id"]
    assert body["message"]
    return body
