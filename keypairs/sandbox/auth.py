"""Checks the bce-auth-v1 signature of a request, as BCC does.

The canonical request is rebuilt with the very functions the portal's client signs
with (``keypairs.bcc.signer``), from the request as it arrived: the method, the
percent-decoded path including any region prefix, the decoded query, and the headers
the caller said it signed. So every correctly signed request passes, whatever headers
its author chose to sign (the default set when ``signedHeaders`` is empty, or an
explicit list; every ``x-bce-*`` header in both cases), and any change to a signed part
fails.

Two rules protect against replays and forwarding: ``host`` must be signed (a request
signed for one endpoint cannot be sent to another), and the timestamp must be within
its validity window (no older than its expiration period, at most 15 minutes ahead, to
allow for clock skew). Signatures are compared in constant time.

Order of checks, each with the code BCC answers: the header must parse
(``InvalidHTTPAuthHeader``), the access key must be known (``InvalidAccessKeyId``),
the signature must match (``SignatureDoesNotMatch``), then the time must be valid
(``RequestExpired``).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from keypairs.bcc import signer
from keypairs.sandbox.errors import SandboxError

MAX_CLOCK_SKEW = timedelta(minutes=15)

_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_EXPIRATION = re.compile(r"[0-9]{1,10}")

AUTH_HEADER_MISSING = "The request has no Authorization header."
AUTH_HEADER_INVALID = (
    "The Authorization header must be bce-auth-v1/{accessKeyId}/{timestamp}/{expirationPeriodInSeconds}"
    "/{signedHeaders}/{signature}."
)
TIMESTAMP_INVALID = "The timestamp in the Authorization header must be UTC, formatted yyyy-mm-ddThh:mm:ssZ."
EXPIRATION_INVALID = "expirationPeriodInSeconds in the Authorization header must be a whole number of seconds."
HOST_NOT_SIGNED = "The host header must be signed."
UNKNOWN_ACCESS_KEY = "The access key id does not exist."
SIGNATURE_MISMATCH = "The request signature does not match the signature computed from it."
EXPIRED = "The request timestamp is outside its validity window; check the clock of the caller."


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    path: str  # percent-decoded, region prefix included
    query: list[tuple[str, str]]  # decoded, in the order received
    headers: Mapping[str, str]  # names in any case


@dataclass(frozen=True)
class _AuthHeader:
    access_key_id: str
    timestamp: str
    moment: datetime
    expiration_seconds: int
    signed_headers: tuple[str, ...]
    signature: str


def verify(request: IncomingRequest, *, secrets: Mapping[str, str], now: datetime) -> str:
    """Return the access key id that signed ``request``; raise :class:`SandboxError` if none did."""
    header = _parse(_header(request.headers, "authorization"))
    if header.signed_headers and "host" not in header.signed_headers:
        raise SandboxError("InvalidHTTPAuthHeader", HOST_NOT_SIGNED)
    if not _header(request.headers, "host").strip():
        raise SandboxError("InvalidHTTPAuthHeader", HOST_NOT_SIGNED)
    secret = secrets.get(header.access_key_id)
    if secret is None:
        raise SandboxError("InvalidAccessKeyId", UNKNOWN_ACCESS_KEY)
    prefix = signer.auth_string_prefix(header.access_key_id, header.timestamp, header.expiration_seconds)
    canonical = signer.canonical_request(
        request.method, request.path, request.query, request.headers, header.signed_headers
    )
    expected = signer.signature(signer.signing_key(secret, prefix), canonical)
    if not hmac.compare_digest(expected.encode(), header.signature.encode("utf-8", "replace")):
        raise SandboxError("SignatureDoesNotMatch", SIGNATURE_MISMATCH)
    age = now - header.moment
    if age > timedelta(seconds=header.expiration_seconds) or -age > MAX_CLOCK_SKEW:
        raise SandboxError("RequestExpired", EXPIRED)
    return header.access_key_id


def _header(headers: Mapping[str, str], wanted: str) -> str:
    for name, value in headers.items():
        if name.lower() == wanted:
            return value
    return ""


def _parse(value: str) -> _AuthHeader:
    if not value.strip():
        raise SandboxError("InvalidHTTPAuthHeader", AUTH_HEADER_MISSING)
    parts = value.strip().split("/")
    if len(parts) != 6 or parts[0] != signer.AUTH_VERSION or not parts[1]:
        raise SandboxError("InvalidHTTPAuthHeader", AUTH_HEADER_INVALID)
    _, access_key_id, timestamp, expiration, signed_headers, signature = parts
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SandboxError("InvalidHTTPAuthHeader", TIMESTAMP_INVALID)
    try:
        moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:  # the right shape, but no such date (month 13, February 30)
        raise SandboxError("InvalidHTTPAuthHeader", TIMESTAMP_INVALID) from None
    if not _EXPIRATION.fullmatch(expiration):
        raise SandboxError("InvalidHTTPAuthHeader", EXPIRATION_INVALID)
    names = tuple(name.strip().lower() for name in signed_headers.split(";") if name.strip())
    return _AuthHeader(access_key_id, timestamp, moment, int(expiration), names, signature)
