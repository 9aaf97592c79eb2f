"""PuTTY's private key file (PPK version 3, unencrypted) from the PEM private key BCC returns.

PuTTY reads only its own format, and PuTTYgen cannot import PKCS#8 (``BEGIN PRIVATE KEY``),
so a Windows developer offered only ``.pem`` would need a tool and a conversion step. The
portal converts at download time instead: ``ppk_from_pem`` takes PKCS#1 RSA
(``BEGIN RSA PRIVATE KEY``, what BCC's create returns), SEC1 EC and PKCS#8 RSA or ECDSA
(P-256, P-384, P-521), unencrypted, as ``cryptography`` loads them.

The format (PuTTY's manual, appendix C "PPK file format", and ``sshpubk.c``):

    PuTTY-User-Key-File-3: <algorithm>
    Encryption: none
    Comment: <comment>
    Public-Lines: <n>        then the public blob, base64, 64 characters a line
    Private-Lines: <m>       then the private blob, likewise
    Private-MAC: <hex>

With ``Encryption: none`` there are no ``Key-Derivation``/``Argon2-*`` lines and Argon2 is
not run: cipher key, IV and MAC key are all zero-length, the private blob is not padded,
and the MAC is HMAC-SHA-256 under an empty key over the SSH strings algorithm, encryption,
comment, public blob and private blob. The private blob is ``mpint d, p, q, iqmp`` for RSA
(``iqmp`` = q⁻¹ mod p) and ``mpint`` private scalar for ECDSA; the public blob is the
OpenSSH wire form ``cryptography`` writes.

Security: the result is the private key, unencrypted, as the PEM was: the caller hands it
out once and keeps it nowhere. Refusals carry fixed sentences, are raised outside any
``except`` block (no library exception holding the key hangs off them), and the functions
that hold key material are under ``sensitive_variables`` for Django's error reports.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import struct

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from keypairs.key_material_errors import KeyMaterialError

FORMAT_VERSION = 3
ENCRYPTION = "none"
LINE_LENGTH = 64
SUPPORTED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)

NOT_A_PRIVATE_KEY = _("The private key is not an unencrypted PEM key, so it cannot be converted for PuTTY.")
UNSUPPORTED_KEY = _("Only RSA and ECDSA (P-256, P-384, P-521) private keys can be converted for PuTTY.")
COMMENT_INVALID = _("The comment of a PuTTY key file cannot hold a line break.")


class PpkConversionFailed(KeyMaterialError):
    """Why no PPK was made: ``code`` for programs, ``message`` for people; never key material."""


@sensitive_variables()
def ppk_from_pem(pem: bytes, *, comment: str) -> bytes:
    """The PPK v3 file (unencrypted, LF line ends) holding the key in ``pem``, with ``comment``."""
    if "\r" in comment or "\n" in comment:
        raise PpkConversionFailed("comment_invalid", COMMENT_INVALID)
    key = _private_key(pem)
    algorithm, public_blob = _public_blob(key)
    private_blob = _private_blob(key)
    comment_bytes = comment.encode("utf-8")
    mac_input = b"".join(
        _string(field) for field in (algorithm.encode(), ENCRYPTION.encode(), comment_bytes, public_blob, private_blob)
    )
    # An unencrypted file's MAC key is empty; the MAC still ties the halves together.
    mac = hmac.new(b"", mac_input, hashlib.sha256).hexdigest()
    lines = [
        f"PuTTY-User-Key-File-{FORMAT_VERSION}: {algorithm}".encode(),
        f"Encryption: {ENCRYPTION}".encode(),
        b"Comment: " + comment_bytes,
        *_counted_base64("Public-Lines", public_blob),
        *_counted_base64("Private-Lines", private_blob),
        f"Private-MAC: {mac}".encode(),
    ]
    return b"\n".join(lines) + b"\n"


@sensitive_variables()
def _private_key(pem: bytes) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    key: object = None
    # TypeError: encrypted; ValueError: not PEM or damaged. Refused below, outside the
    # suppressing block, so no library exception is attached to the refusal.
    with contextlib.suppress(ValueError, TypeError, UnsupportedAlgorithm):
        key = serialization.load_pem_private_key(pem, password=None)
    if key is None:
        raise PpkConversionFailed("not_a_private_key", NOT_A_PRIVATE_KEY)
    if isinstance(key, rsa.RSAPrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, SUPPORTED_CURVES):
        return key
    raise PpkConversionFailed("unsupported_key", UNSUPPORTED_KEY)


def _public_blob(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[str, bytes]:
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    algorithm, encoded = line.decode("ascii").split(" ")
    return algorithm, base64.b64decode(encoded)


@sensitive_variables()
def _private_blob(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        return b"".join(_mpint(value) for value in (numbers.d, numbers.p, numbers.q, numbers.iqmp))
    return _mpint(key.private_numbers().private_value)


def _counted_base64(header: str, blob: bytes) -> list[bytes]:
    encoded = base64.b64encode(blob)
    chunks = [encoded[i : i + LINE_LENGTH] for i in range(0, len(encoded), LINE_LENGTH)]
    return [f"{header}: {len(chunks)}".encode(), *chunks]


def _string(data: bytes) -> bytes:
    """RFC 4251 ``string``: a uint32 length, then the bytes."""
    return struct.pack(">I", len(data)) + data


def _mpint(value: int) -> bytes:
    """RFC 4251 ``mpint`` of a non-negative integer: big-endian, minimal, a 0x00 before a high bit."""
    if value < 0:
        raise ValueError("PPK integers here are never negative")
    data = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return _string(data)
