"""bce-auth-v1: the signature every BCC request carries.

A pure function of (method, path, query, headers, credentials, time), split into the
steps the reference names so that each can be checked on its own against the
known-answer vectors in ``shared/reference/bce-auth-v1.md``. Nothing here does I/O or
reads the clock: the caller passes the timestamp, so tests freeze it and the transport
re-signs on every attempt with a fresh one.

The BCC sandbox verifies requests with these same functions, which is why canonical
headers take an explicit ``signed_headers`` argument: a verifier must rebuild the
canonical request from whatever the caller chose to sign.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

AUTH_VERSION = "bce-auth-v1"
DEFAULT_EXPIRATION_SECONDS = 1800
# Signed when the caller leaves signedHeaders empty (plus every x-bce-* header).
DEFAULT_SIGNED_HEADERS = frozenset({"host", "content-length", "content-type", "content-md5"})

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# str.translate tables over the UTF-8 bytes read as Latin-1 (one character per byte): an
# unreserved byte stays, any other becomes %XY. One C call instead of a Python loop per byte.
_PERCENT = {byte: f"%{byte:02X}" for byte in range(256) if byte not in _UNRESERVED}
_PERCENT_KEEP_SLASH = {byte: text for byte, text in _PERCENT.items() if byte != 0x2F}
# The same header names, host, content type and paths are encoded on every call: remember them.
# Not more: the date and each key pair's id are new values that would fill a larger cache for
# good (4,096 entries: about 1 MB per worker); the values used on every call stay the most recent.
_ENCODED_CACHE_SIZE = 256


@dataclass(frozen=True, repr=False)
class Credentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never let a secret reach a log through repr()
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """Percent-encode the UTF-8 bytes of ``value``: RFC 3986 unreserved stay, %XY upper-case."""
    return _encode_keep_slash(value) if keep_slash else _encode(value)


@functools.lru_cache(maxsize=_ENCODED_CACHE_SIZE)
def _encode(value: str) -> str:
    return value.encode("utf-8").decode("latin-1").translate(_PERCENT)


@functools.lru_cache(maxsize=_ENCODED_CACHE_SIZE)
def _encode_keep_slash(value: str) -> str:
    return value.encode("utf-8").decode("latin-1").translate(_PERCENT_KEEP_SLASH)


def format_timestamp(moment: datetime) -> str:
    # Clocks here already give UTC: skip the conversion then. An f-string beats strftime.
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def canonical_uri(path: str) -> str:
    return uri_encode(path or "/", keep_slash=True)


def canonical_query_string(query: Iterable[tuple[str, str | None]]) -> str:
    """Sorted ``key=value`` pairs; a valueless flag (``?rename``) becomes ``rename=``."""
    parts = [f"{_encode(key)}={_encode(value or '')}" for key, value in query if key.lower() != "authorization"]
    return "&".join(sorted(parts))


def headers_to_sign(headers: Mapping[str, str], signed_headers: Iterable[str] = ()) -> dict[str, str]:
    """The lower-cased headers that take part in the signature, with trimmed, non-empty values.

    ``signed_headers`` empty means the default set. Every ``x-bce-*`` header is signed in
    both cases, so that a header the server acts on can never be swapped in transit.
    """
    wanted = {name.lower() for name in signed_headers} or DEFAULT_SIGNED_HEADERS
    chosen = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in wanted or lower.startswith("x-bce-"):
            trimmed = (value if isinstance(value, str) else str(value)).strip()
            if trimmed:
                chosen[lower] = trimmed
    return chosen


def canonical_headers(headers: Mapping[str, str], signed_headers: Iterable[str] = ()) -> str:
    return _canonical_headers_of(headers_to_sign(headers, signed_headers))


def _canonical_headers_of(chosen: Mapping[str, str]) -> str:
    return "\n".join(sorted([f"{_encode(name)}:{_encode(value)}" for name, value in chosen.items()]))


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str | None]],
    headers: Mapping[str, str],
    signed_headers: Iterable[str] = (),
) -> str:
    return _canonical_request_of(method, path, query, headers_to_sign(headers, signed_headers))


def _canonical_request_of(method: str, path: str, query: Iterable[tuple[str, str | None]], chosen) -> str:
    return "\n".join(
        [method.upper(), canonical_uri(path), canonical_query_string(query), _canonical_headers_of(chosen)]
    )


def auth_string_prefix(access_key_id: str, timestamp: str, expiration_seconds: int) -> str:
    return f"{AUTH_VERSION}/{access_key_id}/{timestamp}/{expiration_seconds}"


def signing_key(secret_access_key: str, prefix: str) -> str:
    # hmac.digest is the one-shot C path: the same HMAC as hmac.new(...), without the object.
    return hmac.digest(secret_access_key.encode("utf-8"), prefix.encode("utf-8"), "sha256").hex()


def signature(key: str, canonical: str) -> str:
    return hmac.digest(key.encode("utf-8"), canonical.encode("utf-8"), "sha256").hex()


def authorization(
    *,
    method: str,
    path: str,
    query: Iterable[tuple[str, str | None]],
    headers: Mapping[str, str],
    credentials: Credentials,
    timestamp: datetime | str,
    signed_headers: Iterable[str] = (),
    expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS,
) -> str:
    """The whole ``Authorization`` header value.

    ``signed_headers`` empty gives the default form (``//`` in the header); otherwise the
    named headers are listed, lower-cased and sorted, as BCC expects.
    """
    stamp = timestamp if isinstance(timestamp, str) else format_timestamp(timestamp)
    prefix = auth_string_prefix(credentials.access_key_id, stamp, expiration_seconds)
    signed = list(signed_headers)
    chosen = headers_to_sign(headers, signed)  # once: the canonical headers and the list share it
    canonical = _canonical_request_of(method, path, query, chosen)
    listed = ";".join(sorted(chosen)) if signed else ""
    return f"{prefix}/{listed}/{signature(signing_key(credentials.secret_access_key, prefix), canonical)}"
