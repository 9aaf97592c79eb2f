"""Fingerprints of an OpenSSH public key line, exactly as ``ssh-keygen -lf`` prints them.

``SHA256:`` + unpadded base64 of SHA-256 over the key blob (OpenSSH's default), and
``MD5:`` + colon-separated hex (``ssh-keygen -E md5``, and the form older consoles show).
The blob is the base64 field of the line, decoded; options before the key type
(authorized_keys style) are not accepted.

The ``blob_*`` functions are the one place a fingerprint is computed: the line functions
here (for the lines BCC returns) and ``keypairs.public_keys`` (for keys people paste, which
it checks far more strictly) both hash through them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

INVALID_PUBLIC_KEY = "This is not an OpenSSH public key line."


@dataclass(frozen=True)
class PublicKey:
    key_type: str
    blob: bytes
    comment: str = ""


def parse_public_key(line: str) -> PublicKey:
    """Split ``type base64 [comment]`` and check that the blob names the same key type."""
    fields = line.strip().split(None, 2)
    if len(fields) < 2:
        raise ValueError(INVALID_PUBLIC_KEY)
    key_type, encoded = fields[0], fields[1]
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(INVALID_PUBLIC_KEY) from None
    if _blob_key_type(blob) != key_type:
        raise ValueError(INVALID_PUBLIC_KEY)
    return PublicKey(key_type=key_type, blob=blob, comment=fields[2] if len(fields) > 2 else "")


def sha256_fingerprint(line: str) -> str:
    return blob_sha256_fingerprint(parse_public_key(line).blob)


def sha256_fingerprint_or_blank(line: str) -> str:
    """``sha256_fingerprint``, or "" for a line that is not a public key (BCC's answer lacked one)."""
    try:
        return sha256_fingerprint(line)
    except ValueError:
        return ""


def md5_fingerprint(line: str) -> str:
    return blob_md5_fingerprint(parse_public_key(line).blob)


def blob_sha256_fingerprint(blob: bytes) -> str:
    """``SHA256:`` + unpadded base64 of the SHA-256 of an SSH wire-format public key blob."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def blob_md5_fingerprint(blob: bytes) -> str:
    """``MD5:`` + colon-separated hex of the MD5 of an SSH wire-format public key blob."""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return "MD5:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def fingerprint_matches(line: str, fingerprint: str) -> bool:
    """Whether ``fingerprint`` (``SHA256:...``, ``MD5:aa:bb...`` or bare ``aa:bb...``) is this key's."""
    given = fingerprint.strip()
    if given.startswith("SHA256:"):
        return given.rstrip("=") == sha256_fingerprint(line)
    return "MD5:" + given.removeprefix("MD5:").lower() == md5_fingerprint(line)


def _blob_key_type(blob: bytes) -> str | None:
    """The first SSH wire-format string of the blob: the key type it encodes."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length == 0 or len(blob) < 4 + length:
        return None
    try:
        return blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None
