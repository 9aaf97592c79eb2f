"""Understanding a public key someone pastes or uploads for import, before BCC sees it.

``public_key_inspect`` either returns what was understood (type, size, the fingerprints
``ssh-keygen -lf`` prints, the comment, and the normalized one-line form to send to BCC) or
raises ``PublicKeyRefused`` with one sentence per reason and a stable ``code``.

What is accepted is what BCC imports and is still safe: ``ssh-rsa`` of at least 2048 bits and
``ecdsa-sha2-nistp256/384/521``. BCC also takes ``ssh-dss``, but OpenSSH 7.0 (2015) disabled
DSA, so the portal refuses it; BCC does not list Ed25519.

The key itself is read by ``cryptography``'s SSH loaders (``load_ssh_public_identity`` tells a
certificate from a key). The line is split on whitespace only to find its fields, and the
base64 field must decode strictly to exactly the blob ``cryptography`` re-encodes: its loader
tolerates stray characters and trailing bytes, and a key whose fingerprint here differed from
the one ``ssh-keygen -lf`` prints on the person's own file would be worse than a refusal.

Security: the most dangerous paste is a private key. It is recognised by its armour (PEM,
OpenSSH, SSH2 and PuTTY headers) before anything tries to parse it. Every refusal carries a
fixed sentence, the input's size or line count, or a key type name from a fixed list, never a
byte of the input. Refusals are raised outside any ``except`` block, so that no library
exception (a ``UnicodeDecodeError`` holds all of the input) hangs off ``__cause__`` or
``__context__``. Django's error reports (``sensitive_variables``) hide the locals of the
functions that hold the text, should an unexpected exception escape them.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from keypairs.bcc.fingerprints import blob_md5_fingerprint, blob_sha256_fingerprint
from keypairs.key_material_errors import KeyMaterialError

MAX_INPUT_BYTES = 16 * 1024
MIN_RSA_BITS = 2048
ACCEPTED_TYPES = ("ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
DSA_TYPE = "ssh-dss"
CERTIFICATE_SUFFIX = "-cert-v01@openssh.com"
# Key types people may hold that BCC does not list: a refusal names them (and only them: a
# name that is not on this list may be anything the person pasted).
KNOWN_UNSUPPORTED_TYPES = (
    "ssh-ed25519",
    "ssh-ed448",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
)
# How the first field of a line that claims to be a key begins (used to tell authorized_keys
# options, which come before the type, from text that is no key at all).
KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-", "rsa-sha2-")

# The armour of every private key format people have on their disks. A private key is
# refused whatever else surrounds it.
PRIVATE_KEY_MARKERS = (
    "PRIVATE KEY-----",  # PEM: OPENSSH, RSA, EC, DSA, PKCS#8 and ENCRYPTED PRIVATE KEY
    "PRIVATE KEY ----",  # SSH2 (RFC 4716 style, ssh.com and old PuTTYgen exports)
    "PuTTY-User-Key-File-",  # PuTTY's .ppk
)
SSH2_PUBLIC_KEY_MARKER = "---- BEGIN SSH2 PUBLIC KEY ----"

PRIVATE_KEY = _("This is a private key: never paste it anywhere. Nothing was stored or sent.")
TOO_LARGE = _("This is larger than 16 KiB, far larger than any public key. Paste the single line of your .pub file.")
UNDECODABLE = _("This is not plain text. A public key is one line of text, such as the contents of id_ecdsa.pub.")
EMPTY = _("Paste a public key, or choose a .pub file.")
SEVERAL_KEYS = _("This holds %(count)d lines. Import one public key at a time: the single line of one .pub file.")
SSH2_FORMAT = _(
    "This is a public key in the SSH2 format that PuTTYgen saves. Paste the one line from PuTTYgen's box "
    '"Public key for pasting into OpenSSH authorized_keys file" instead.'
)
OPTIONS = _(
    'This line starts with authorized_keys options (such as from="..." or command="..."). '
    "Paste the key alone: its type (such as ssh-rsa), its base64 text and an optional comment."
)
NOT_A_PUBLIC_KEY = _(
    "This is not an OpenSSH public key. A public key is one line: its type (such as ssh-rsa or "
    "ecdsa-sha2-nistp256), then base64 text, then an optional comment."
)
CERTIFICATE = _(
    "This is an SSH certificate, not a public key. BCC imports plain public keys: paste the .pub file "
    "the certificate was made for (the one without -cert in its name)."
)
DSA = _(
    "This is a DSA key (ssh-dss). BCC would take it, but OpenSSH disabled DSA keys in 2015 (OpenSSH 7.0) "
    "because they are too weak. Use an RSA key of at least 2048 bits or an ECDSA key, or generate one "
    "in your browser."
)
UNSUPPORTED_TYPE_NAMED = _(
    "BCC does not accept %(key_type)s keys. It accepts ssh-rsa keys of at least 2048 bits and ECDSA keys "
    "(ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521). Make one of those, or generate one "
    "in your browser."
)
UNSUPPORTED_TYPE = _(
    "BCC does not accept this type of key. It accepts ssh-rsa keys of at least 2048 bits and ECDSA keys "
    "(ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521). Make one of those, or generate one "
    "in your browser."
)
RSA_TOO_SMALL = _(
    "This RSA key has %(bits)d bits; BCC needs at least 2048 (3072 is better). Make a new key, or "
    "generate one in your browser."
)
COMMENT_INVALID = _("The comment after the key holds invisible or control characters. Remove them, or the comment.")


class PublicKeyRefused(KeyMaterialError):
    """One refusal: ``code`` for programs (stable), ``message`` for people (translated).

    Neither, nor ``args`` or ``repr``, ever holds a byte of what was pasted.
    """


@dataclass(frozen=True)
class InspectedPublicKey:
    key_type: str  # "ssh-rsa", "ecdsa-sha2-nistp256" ...
    bits: int
    sha256_fingerprint: str  # "SHA256:..." as ssh-keygen -lf prints it
    md5_fingerprint: str  # "MD5:aa:bb:..." as ssh-keygen -E md5 -lf prints it
    comment: str
    openssh_line: str  # "type base64 comment" (or "type base64"): what BCC is sent


@sensitive_variables()
def public_key_inspect(text: str | bytes) -> InspectedPublicKey:
    """What ``text`` (a pasted key, or the bytes of an uploaded ``.pub`` file) holds, or a refusal."""
    decoded = _decoded(text)
    if any(marker in decoded for marker in PRIVATE_KEY_MARKERS):
        raise PublicKeyRefused("private_key", PRIVATE_KEY)
    if SSH2_PUBLIC_KEY_MARKER in decoded:
        raise PublicKeyRefused("ssh2_format", SSH2_FORMAT)
    lines = [line.strip() for line in decoded.splitlines() if line.strip()]
    if not lines:
        raise PublicKeyRefused("empty", EMPTY)
    if len(lines) > 1:
        raise PublicKeyRefused("several_keys", gettext(SEVERAL_KEYS) % {"count": len(lines)})
    return _inspect_line(lines[0])


@sensitive_variables()
def _decoded(text: str | bytes) -> str:
    """The input as text, its size checked before anything else looks at it."""
    if isinstance(text, str):
        # A character is at least one byte: a string this long is too large whatever it holds.
        if len(text) > MAX_INPUT_BYTES:
            raise PublicKeyRefused("too_large", TOO_LARGE)
        size = _utf8_size(text)
        if size is None:  # lone surrogates
            raise PublicKeyRefused("undecodable", UNDECODABLE)
        if size > MAX_INPUT_BYTES:
            raise PublicKeyRefused("too_large", TOO_LARGE)
        return text
    if not isinstance(text, bytes):
        raise TypeError("public_key_inspect takes str or bytes")
    if len(text) > MAX_INPUT_BYTES:
        raise PublicKeyRefused("too_large", TOO_LARGE)
    # Windows PowerShell's ">" writes UTF-16 with a byte order mark; Notepad may add a UTF-8 one.
    encoding = "utf-16" if text.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        return text.decode(encoding)
    except UnicodeDecodeError:
        pass  # raised below, outside this block: the UnicodeDecodeError holds the input
    raise PublicKeyRefused("undecodable", UNDECODABLE)


@sensitive_variables()
def _utf8_size(text: str) -> int | None:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None  # not raised from here: the UnicodeEncodeError holds the input


@sensitive_variables()
def _inspect_line(line: str) -> InspectedPublicKey:
    fields = line.split(None, 2)
    key_type = fields[0]
    if not _looks_like_key_type(key_type):
        if any(_looks_like_key_type(field) for field in line.split()[1:]):
            raise PublicKeyRefused("options", OPTIONS)
        raise PublicKeyRefused("not_a_public_key", NOT_A_PUBLIC_KEY)
    if len(fields) < 2:
        raise PublicKeyRefused("not_a_public_key", NOT_A_PUBLIC_KEY)
    key_and_blob = f"{key_type} {fields[1]}".encode("ascii", errors="replace")
    if key_type.endswith(CERTIFICATE_SUFFIX):
        _refuse_certificate(key_and_blob)
    if key_type == DSA_TYPE:
        raise PublicKeyRefused("dsa", DSA)
    if key_type not in ACCEPTED_TYPES:
        if key_type in KNOWN_UNSUPPORTED_TYPES:
            raise PublicKeyRefused("unsupported_type", gettext(UNSUPPORTED_TYPE_NAMED) % {"key_type": key_type})
        raise PublicKeyRefused("unsupported_type", UNSUPPORTED_TYPE)
    key = _loaded(key_and_blob)
    normalized = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")
    normalized_type, normalized_base64 = normalized.split(" ")
    blob = binascii.a2b_base64(normalized_base64)
    if normalized_type != key_type or _strict_base64(fields[1]) != blob:
        raise PublicKeyRefused("not_a_public_key", NOT_A_PUBLIC_KEY)
    bits = key.key_size if isinstance(key, rsa.RSAPublicKey) else key.curve.key_size
    if isinstance(key, rsa.RSAPublicKey) and bits < MIN_RSA_BITS:
        raise PublicKeyRefused("rsa_too_small", gettext(RSA_TOO_SMALL) % {"bits": bits})
    comment = fields[2].strip() if len(fields) > 2 else ""
    if any(unicodedata.category(character) in ("Cc", "Cf") for character in comment):
        raise PublicKeyRefused("comment_invalid", COMMENT_INVALID)
    return InspectedPublicKey(
        key_type=key_type,
        bits=bits,
        sha256_fingerprint=blob_sha256_fingerprint(blob),
        md5_fingerprint=blob_md5_fingerprint(blob),
        comment=comment,
        openssh_line=f"{normalized} {comment}" if comment else normalized,
    )


def _looks_like_key_type(field: str) -> bool:
    return field in ACCEPTED_TYPES or field in KNOWN_UNSUPPORTED_TYPES or field.startswith(KEY_TYPE_PREFIXES)


@sensitive_variables()
def _refuse_certificate(key_and_blob: bytes) -> None:
    """A ``*-cert-v01@openssh.com`` line: a certificate if it reads as one, else not a key at all."""
    identity: object = None
    try:
        identity = serialization.load_ssh_public_identity(key_and_blob)
    except UnsupportedAlgorithm:  # a certificate over a key type cryptography does not read (DSA)
        identity = serialization.SSHCertificate
    except ValueError:
        pass
    # Raised out here, not in an except block, so that no library exception is its __context__.
    if identity is serialization.SSHCertificate or isinstance(identity, serialization.SSHCertificate):
        raise PublicKeyRefused("certificate", CERTIFICATE)
    raise PublicKeyRefused("not_a_public_key", NOT_A_PUBLIC_KEY)


@sensitive_variables()
def _loaded(key_and_blob: bytes) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    key: object = None
    # Refused below, outside the suppressing block: no library exception is attached.
    with contextlib.suppress(ValueError, UnsupportedAlgorithm):
        key = serialization.load_ssh_public_identity(key_and_blob)
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise PublicKeyRefused("not_a_public_key", NOT_A_PUBLIC_KEY)
    return key


@sensitive_variables()
def _strict_base64(encoded: str) -> bytes | None:
    try:
        return binascii.a2b_base64(encoded.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
