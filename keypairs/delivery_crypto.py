"""Encryption of a private key while it waits for its one download.

Threat model
------------
BCC returns a new key pair's private key exactly once. Between that response and the
user's download the portal must keep it somewhere, and that somewhere is the database,
which is backed up, replicated and read by more people than the portal's process. So the
database holds the key only as AES-256-GCM ciphertext, under a key derived from a random
download token that the database never sees:

- ``new_download_token()``: 32 random bytes; the token goes only to the owner's browser
  (an HttpOnly cookie) and is never logged, stored, or put in a URL.
- ``token_hash(token)``: SHA-256 of the token, stored to recognise it. A plain hash is
  enough: the token has 256 bits of entropy, so there is nothing to brute-force and no need
  for a slow password hash.
- The AES key is HKDF-SHA256(token, random salt, info naming the owner and the delivery).
  A copy of the database (or a backup) alone therefore reveals no private key; an attacker
  also needs the token, which only the owner's browser holds for a few minutes.
- The owner id and delivery reference are both in the HKDF info and in the GCM associated
  data, so a ciphertext copied onto another user's or another delivery's row does not
  decrypt: the binding fails authentication instead of handing over someone else's key.

- The token of a key pair made by the create form is not drawn at random but derived
  (``download_token_for``) with the server's ``DOWNLOAD_TOKEN_KEY``, from the form's
  one-time token and the submitting browser's session, so that a resubmitted form can set
  the same cookie again. The form token is in the create page and the session key is in
  the database, but neither, nor both, gives the download token without the server's key.

What it does not protect against: an attacker who controls the running portal (it sees
the token and the plaintext at download time) or the owner's browser (it holds the cookie
and the session).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12  # the GCM standard nonce size; random is safe as each key encrypts once
KEY_BYTES = 32  # AES-256
CONTEXT = b"bcc-portal/delivery/v1"
DOWNLOAD_TOKEN_CONTEXT = b"bcc-portal/download-token/v2"
FORM_TOKEN_CONTEXT = b"bcc-portal/form-token/v1|"


class DeliveryDecryptionError(Exception):
    """The ciphertext did not authenticate: wrong token, wrong owner or delivery, or tampering.

    Deliberately says nothing more: which of these it was is not knowable, and the message
    must never carry key material.
    """


def new_download_token() -> str:
    """32 random bytes, URL-safe base64 without padding (43 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode("ascii")


def download_token_for(*, form_token: str, browser_session: str, server_key: str) -> str:
    """The download token of the key pair that a create form makes: HMAC-SHA256 keyed by the
    server's ``DOWNLOAD_TOKEN_KEY`` over the form's one-time token and the submitting
    browser's session.

    Why derived rather than drawn at random: a create form can reach the server twice (a
    double click with JavaScript off, a browser retrying a POST). The browser keeps only the
    last response, and if that is the replay, a random token set by the first response would
    be lost with the private key still waiting. Derived from what both submissions carry, the
    replay can set the same cookie again.

    Why keyed and bound to the session: the form token is in the create page's HTML, so it
    is no secret from anyone who sees that page (another tab or device of the same person,
    a screen share, a saved page). Derived from the form token alone (as it once was), the
    cookie could be computed by anyone holding the page, and a second session of the same
    person downloaded the key without ever receiving the cookie. With the server's key, the
    form token alone gives nothing: the key is only in the portal's environment, never in
    the database, a page or a log. With the session, a second session that resubmits the form
    is answered with a token that opens nothing; only the browser that submitted gets the
    working one back.
    """
    if not server_key:
        raise ValueError("DOWNLOAD_TOKEN_KEY is empty; download tokens cannot be derived.")
    message = b"\x00".join([DOWNLOAD_TOKEN_CONTEXT, form_token.encode("utf-8"), browser_session.encode("utf-8")])
    digest = hmac.new(server_key.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def form_token_hash(form_token: str) -> str:
    """What the database keeps of a create form's one-time token: enough to spot a resubmission."""
    return hashlib.sha256(FORM_TOKEN_CONTEXT + form_token.encode("utf-8")).hexdigest()


def token_hash(token: str) -> str:
    """SHA-256 hex of the token: what the database stores to recognise it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _binding(owner_id: int, delivery_ref: str) -> bytes:
    return b"|".join([CONTEXT, str(int(owner_id)).encode("ascii"), delivery_ref.encode("utf-8")])


def _derive_key(*, token: str, salt: bytes, owner_id: int, delivery_ref: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=_binding(owner_id, delivery_ref))
    return hkdf.derive(token.encode("utf-8"))


def encrypt_private_key(
    *, private_key_pem: str, token: str, owner_id: int, delivery_ref: str
) -> tuple[bytes, bytes, bytes]:
    """Encrypt the PEM for one owner and one delivery. Returns ``(salt, nonce, ciphertext)``.

    The ciphertext includes GCM's 16-byte authentication tag.
    """
    salt = secrets.token_bytes(SALT_BYTES)
    nonce = secrets.token_bytes(NONCE_BYTES)
    key = _derive_key(token=token, salt=salt, owner_id=owner_id, delivery_ref=delivery_ref)
    ciphertext = AESGCM(key).encrypt(nonce, private_key_pem.encode("utf-8"), _binding(owner_id, delivery_ref))
    return salt, nonce, ciphertext


def decrypt_private_key(
    *, salt: bytes, nonce: bytes, ciphertext: bytes, token: str, owner_id: int, delivery_ref: str
) -> str:
    """The PEM back, or DeliveryDecryptionError if anything does not match."""
    key = _derive_key(token=token, salt=bytes(salt), owner_id=owner_id, delivery_ref=delivery_ref)
    try:
        plaintext = AESGCM(key).decrypt(bytes(nonce), bytes(ciphertext), _binding(owner_id, delivery_ref))
    except InvalidTag:
        raise DeliveryDecryptionError("The private key could not be decrypted.") from None
    return plaintext.decode("utf-8")
