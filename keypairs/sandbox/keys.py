"""SSH key material: generating key pairs for "create", checking public keys for "import".

Choices where BCC documents nothing precise (and what the portal can rely on):

- ``privateKey`` is the traditional OpenSSL PEM, ``-----BEGIN RSA PRIVATE KEY-----``
  (PKCS#1), unencrypted: what ``ssh`` and PuTTYgen read without conversion.
- ``publicKey`` is the OpenSSH one-line form ``ssh-rsa AAAA...``, with no comment.
- ``fingerPrint`` is the MD5 of the public key blob as lower-case colon-separated hex,
  ``ssh-keygen -l -E md5`` without its ``MD5:`` prefix.
- ``keypairId`` is ``k-`` followed by 8 random base62 characters.

Imported keys are checked by reading the wire format inside the base64 blob (RFC 4253
section 6.6, RFC 5656 section 3.1): the key type written inside must equal the one in
front, and the fields must be all there, with nothing left over. RSA and ECDSA keys are
also loaded with ``cryptography``, which checks the numbers (an ECDSA point must lie on
its curve). DSA is only checked structurally, because ``cryptography`` has deprecated it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import string
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keypairs.sandbox.errors import SandboxError

RSA_KEY_SIZE = 2048
KEYPAIR_ID_PREFIX = "k-"
KEYPAIR_ID_LENGTH = 8
_BASE62 = string.ascii_letters + string.digits

# Key type -> the fields after the type string in its blob ("mpint" and "string" both
# have the SSH length-prefixed encoding; the distinction is kept for reading only).
_BLOB_FIELDS = {
    "ssh-rsa": ("e", "n"),
    "ssh-dss": ("p", "q", "g", "y"),
    "ecdsa-sha2-nistp256": ("curve", "point"),
    "ecdsa-sha2-nistp384": ("curve", "point"),
    "ecdsa-sha2-nistp521": ("curve", "point"),
}
# Uncompressed point length (0x04 || X || Y) per curve.
_ECDSA_POINT_LENGTH = {"nistp256": 65, "nistp384": 97, "nistp521": 133}

PUBLIC_KEY_FORMAT_INVALID = (
    "The public key must be one line in OpenSSH format: ssh-rsa, ssh-dss or ecdsa-sha2-* followed by base64."
)


@dataclass(frozen=True, repr=False)
class GeneratedKeypair:
    private_key: str
    public_key: str
    fingerprint: str
    blob: bytes

    def __repr__(self) -> str:  # the private key must never reach a log through repr()
        return f"GeneratedKeypair(fingerprint={self.fingerprint!r}, private_key='***')"


@dataclass(frozen=True)
class PublicKey:
    key_type: str
    blob: bytes
    text: str  # as the caller gave it, trimmed (a trailing comment is kept)

    @property
    def fingerprint(self) -> str:
        return md5_fingerprint(self.blob)


def new_keypair_id() -> str:
    return KEYPAIR_ID_PREFIX + "".join(secrets.choice(_BASE62) for _ in range(KEYPAIR_ID_LENGTH))


def md5_fingerprint(blob: bytes) -> str:
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def generate_rsa_keypair() -> GeneratedKeypair:
    """A fresh RSA key pair. Slow (tens of milliseconds): never call it holding a lock."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_line = (
        private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    )
    blob = base64.b64decode(public_line.split()[1])
    return GeneratedKeypair(
        private_key=private_pem, public_key=public_line, fingerprint=md5_fingerprint(blob), blob=blob
    )


def parse_public_key(text: str) -> PublicKey:
    """Check an OpenSSH public key line; raise ``Keypair.PublicKeyFormatInvalid`` if it is not one."""
    stripped = text.strip()
    parts = stripped.split(None, 2)
    if "\n" in stripped or "\r" in stripped or len(parts) < 2 or parts[0] not in _BLOB_FIELDS:
        raise _invalid()
    key_type, encoded = parts[0], parts[1]
    try:
        blob = binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error:
        raise _invalid() from None
    fields = _read_blob(blob)
    if fields is None or fields[0] != key_type.encode() or len(fields) != 1 + len(_BLOB_FIELDS[key_type]):
        raise _invalid()
    if key_type.startswith("ecdsa-"):
        curve = key_type.removeprefix("ecdsa-sha2-")
        if fields[1] != curve.encode() or len(fields[2]) != _ECDSA_POINT_LENGTH[curve] or fields[2][0] != 4:
            raise _invalid()
    if key_type != "ssh-dss":
        try:
            serialization.load_ssh_public_key(f"{key_type} {encoded}".encode())
        except (ValueError, TypeError):
            raise _invalid() from None
    return PublicKey(key_type=key_type, blob=blob, text=stripped)


def _read_blob(blob: bytes) -> list[bytes] | None:
    """Split an SSH wire-format blob into its length-prefixed fields; None if it is not one."""
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            return None
        (length,) = struct.unpack_from(">I", blob, offset)
        offset += 4
        if length == 0 or offset + length > len(blob):
            return None
        fields.append(blob[offset : offset + length])
        offset += length
    return fields or None


def _invalid() -> SandboxError:
    return SandboxError("Keypair.PublicKeyFormatInvalid", PUBLIC_KEY_FORMAT_INVALID)
