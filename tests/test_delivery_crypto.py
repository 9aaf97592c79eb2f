"""The encryption that keeps a waiting private key unreadable without its download token."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from keypairs.delivery_crypto import (
    DeliveryDecryptionError,
    decrypt_private_key,
    encrypt_private_key,
    new_download_token,
    token_hash,
)

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----\n"
)
OWNER_ID = 7
REF = "keypair-request:5f0c1b1e-8f7a-4f59-9a5a-0d3c7f7f2a11"


def _encrypt(token: str, **overrides):
    arguments = {"private_key_pem": PEM, "token": token, "owner_id": OWNER_ID, "delivery_ref": REF, **overrides}
    return encrypt_private_key(**arguments)


def _decrypt(salt: bytes, nonce: bytes, ciphertext: bytes, token: str, **overrides) -> str:
    arguments = {"token": token, "owner_id": OWNER_ID, "delivery_ref": REF, **overrides}
    return decrypt_private_key(salt=salt, nonce=nonce, ciphertext=ciphertext, **arguments)


def test_a_download_token_is_32_random_bytes_in_urlsafe_base64():
    token = new_download_token()

    assert len(token) == 43
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert new_download_token() != token


def test_the_token_hash_is_its_sha256_in_hex():
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_the_owner_gets_the_private_key_back_with_the_token():
    token = new_download_token()
    salt, nonce, ciphertext = _encrypt(token)

    assert _decrypt(salt, nonce, ciphertext, token) == PEM
    assert (len(salt), len(nonce), len(ciphertext)) == (16, 12, len(PEM.encode()) + 16)


def test_the_ciphertext_shows_nothing_of_the_key():
    _, _, ciphertext = _encrypt(new_download_token())

    assert b"PRIVATE KEY" not in ciphertext
    assert b"MIIEowIBAAKCAQEA" not in ciphertext


def test_the_same_key_encrypts_differently_every_time():
    token = new_download_token()

    first, second = _encrypt(token), _encrypt(token)

    assert first[0] != second[0]
    assert first[1] != second[1]
    assert first[2] != second[2]


def test_the_format_is_hkdf_then_aes_gcm_bound_to_the_owner_and_delivery():
    # An independent implementation of the documented format, so that a change to it
    # (which would strand keys waiting during a deploy) cannot go unnoticed.
    token = new_download_token()
    salt, nonce, ciphertext = _encrypt(token)
    binding = b"bcc-portal/delivery/v1|7|" + REF.encode()

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=binding).derive(token.encode())

    assert AESGCM(key).decrypt(nonce, ciphertext, binding).decode() == PEM


@pytest.mark.parametrize(
    ("what", "overrides"),
    [
        ("another token", {"token": "x" * 43}),
        ("another owner", {"owner_id": OWNER_ID + 1}),
        ("another delivery", {"delivery_ref": REF + "0"}),
    ],
)
def test_it_does_not_decrypt_with(what, overrides):
    token = new_download_token()
    salt, nonce, ciphertext = _encrypt(token)

    with pytest.raises(DeliveryDecryptionError):
        _decrypt(salt, nonce, ciphertext, **{"token": token, **overrides})


def test_it_does_not_decrypt_a_tampered_ciphertext():
    token = new_download_token()
    salt, nonce, ciphertext = _encrypt(token)
    tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]

    with pytest.raises(DeliveryDecryptionError):
        _decrypt(salt, nonce, tampered, token)


def test_it_does_not_decrypt_with_another_rows_salt():
    token = new_download_token()
    _, nonce, ciphertext = _encrypt(token)
    other_salt, _, _ = _encrypt(token)

    with pytest.raises(DeliveryDecryptionError):
        _decrypt(other_salt, nonce, ciphertext, token)


def test_a_decryption_failure_says_nothing_about_the_key_or_token():
    token = new_download_token()
    salt, nonce, ciphertext = _encrypt(token)

    with pytest.raises(DeliveryDecryptionError) as raised:
        _decrypt(salt, nonce, ciphertext, new_download_token())

    assert str(raised.value) == "The private key could not be decrypted."
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_it_decrypts_from_the_memoryview_postgresql_returns():
    token = new_download_token()
    salt, nonce, ciphertext = _encrypt(token)

    assert _decrypt(memoryview(salt), memoryview(nonce), memoryview(ciphertext), token) == PEM


@settings(max_examples=100, deadline=None)
@given(private_key_pem=st.text(min_size=1, max_size=4000), owner_id=st.integers(min_value=1, max_value=2**63 - 1))
def test_any_text_survives_the_round_trip(private_key_pem, owner_id):
    token = new_download_token()

    salt, nonce, ciphertext = encrypt_private_key(
        private_key_pem=private_key_pem, token=token, owner_id=owner_id, delivery_ref=REF
    )

    assert _decrypt(salt, nonce, ciphertext, token, owner_id=owner_id) == private_key_pem
    assert hashlib.sha256(token.encode()).hexdigest() == token_hash(token)


KEY = "k" * 40


def test_a_resubmitted_form_derives_the_same_download_token_and_another_form_a_different_one():
    from keypairs.delivery_crypto import download_token_for

    form_token = "Q" * 43
    token = download_token_for(form_token=form_token, browser_session="s", server_key=KEY)
    assert token == download_token_for(form_token=form_token, browser_session="s", server_key=KEY)
    assert token != download_token_for(form_token="R" * 43, browser_session="s", server_key=KEY)
    assert form_token not in token


def test_the_database_keeps_neither_the_form_token_nor_the_download_token():
    from keypairs.delivery_crypto import download_token_for, form_token_hash, token_hash

    form_token = "Q" * 43
    download_token = download_token_for(form_token=form_token, browser_session="s", server_key=KEY)
    stored = {form_token_hash(form_token), token_hash(download_token)}
    # Neither stored hash is the other token's hash: one cannot be computed from the other.
    assert token_hash(form_token) not in stored
    assert download_token not in stored
    assert form_token_hash(form_token) != token_hash(download_token)
