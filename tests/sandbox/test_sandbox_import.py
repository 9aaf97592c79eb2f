"""Import: OpenSSH public keys of the types BCC lists, checked inside their base64 blob."""

import base64
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from sandbox_http import assert_bce_error


def openssh(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def mpint(number: int) -> bytes:
    raw = number.to_bytes(number.bit_length() // 8 + 1, "big")  # a leading zero keeps it positive
    return ssh_string(raw)


def dsa_public_key() -> str:
    """Written by hand: cryptography has deprecated serialising DSA keys to OpenSSH."""
    # ssh-dss keys are 1024 bits by definition (FIPS 186-2), hence the small size.
    numbers = dsa.generate_private_key(key_size=1024).public_key().public_numbers()  # noqa: S505
    params = numbers.parameter_numbers
    blob = ssh_string(b"ssh-dss") + mpint(params.p) + mpint(params.q) + mpint(params.g) + mpint(numbers.y)
    return "ssh-dss " + base64.b64encode(blob).decode()


def rewrap(public_key: str, blob: bytes, key_type: str | None = None) -> str:
    return f"{key_type or public_key.split()[0]} {base64.b64encode(blob).decode()}"


RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY = openssh(RSA_PRIVATE)
CURVES = (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1())
ECDSA_KEYS = {curve.name: openssh(ec.generate_private_key(curve)) for curve in CURVES}


@pytest.mark.parametrize(
    "public_key",
    [RSA_KEY, RSA_KEY + " alice@laptop", dsa_public_key(), *ECDSA_KEYS.values()],
    ids=["rsa", "rsa-with-comment", "dsa", "ecdsa-256", "ecdsa-384", "ecdsa-521"],
)
def test_it_imports_the_key_types_bcc_lists(sandbox, bcc, public_key):
    response = bcc.import_key("imported", public_key)

    assert response.status_code == 200, response.text
    keypair = response.json()["keypair"]
    assert "privateKey" not in keypair
    assert keypair["publicKey"] == public_key
    assert keypair["name"] == "imported"
    assert keypair["keypairId"].startswith("k-")
    assert len(keypair["fingerPrint"].split(":")) == 16
    assert [stored["keypairId"] for stored in sandbox.keypairs()] == [keypair["keypairId"]]


def test_it_keeps_the_description_of_an_imported_key(bcc):
    response = bcc.request(
        "PUT",
        "/v2/keypair",
        query=[("import", None)],
        json={"name": "imported", "description": "from my laptop", "publicKey": RSA_KEY},
    )
    assert response.json()["keypair"]["description"] == "from my laptop"


def _blob(public_key: str) -> bytes:
    return base64.b64decode(public_key.split()[1])


MALFORMED = {
    "empty": "",
    "type-only": "ssh-rsa",
    "ed25519": openssh(ed25519.Ed25519PrivateKey.generate()),
    "unknown-type": "ssh-foo " + RSA_KEY.split()[1],
    "not-base64": "ssh-rsa AAAA!!!notbase64",
    "truncated-blob": rewrap(RSA_KEY, _blob(RSA_KEY)[:-10]),
    "trailing-bytes": rewrap(RSA_KEY, _blob(RSA_KEY) + b"\x00\x00\x00\x01x"),
    "type-mismatch": rewrap(ECDSA_KEYS["secp256r1"], _blob(ECDSA_KEYS["secp256r1"]), key_type="ssh-rsa"),
    "curve-mismatch": rewrap(ECDSA_KEYS["secp256r1"], _blob(ECDSA_KEYS["secp256r1"]), key_type="ecdsa-sha2-nistp384"),
    "point-off-curve": rewrap(ECDSA_KEYS["secp256r1"], _blob(ECDSA_KEYS["secp256r1"])[:-1] + b"\x01"),
    "two-lines": RSA_KEY + "\n" + RSA_KEY,
    "authorized-keys-options": 'command="ls" ' + RSA_KEY,
    "pem": RSA_PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode(),
}


@pytest.mark.parametrize("public_key", MALFORMED.values(), ids=MALFORMED.keys())
def test_it_rejects_a_malformed_public_key(sandbox, bcc, public_key):
    assert_bce_error(bcc.import_key("imported", public_key), 400, "Keypair.PublicKeyFormatInvalid")
    assert sandbox.keypairs() == []


def test_it_rejects_a_public_key_already_imported_in_the_region(sandbox, bcc):
    assert bcc.import_key("first", RSA_KEY).status_code == 200

    again = bcc.import_key("second", RSA_KEY + " same-key-other-comment")

    assert_bce_error(again, 400, "Keypair.KeypairPublicKeyExist")
    assert [keypair["name"] for keypair in sandbox.keypairs()] == ["first"]


def test_it_rejects_importing_the_public_half_of_a_created_key_pair(bcc):
    created = bcc.create("made-here").json()["keypair"]
    assert_bce_error(bcc.import_key("copy", created["publicKey"]), 400, "Keypair.KeypairPublicKeyExist")


def test_the_same_public_key_may_be_imported_in_another_region_or_account(sandbox, bcc):
    assert bcc.import_key("bj-copy", RSA_KEY).status_code == 200
    assert bcc.for_region("gz").import_key("gz-copy", RSA_KEY).status_code == 200


def test_a_deleted_key_can_be_imported_again(bcc):
    first = bcc.import_key("first", RSA_KEY).json()["keypair"]
    bcc.delete(first["keypairId"])
    assert bcc.import_key("again", RSA_KEY).status_code == 200


def test_import_counts_towards_the_quota(sandbox, bcc):
    sandbox.quota = 1
    assert bcc.create("created").status_code == 200
    assert_bce_error(bcc.import_key("imported", RSA_KEY), 413, "Keypair.KeypairQuotaExceedLimit")


def test_import_checks_the_name_rules_too(bcc):
    assert_bce_error(bcc.import_key("9lives", RSA_KEY), 400, "Keypair.KeypairNameInvalid")


def test_import_without_a_public_key_is_inappropriate_json(bcc):
    response = bcc.request("PUT", "/v2/keypair", query=[("import", None)], json={"name": "nokey"})
    assert_bce_error(response, 400, "InappropriateJSON")


def test_an_import_replay_with_its_client_token_answers_the_same_key_pair(sandbox, bcc):
    token = [("clientToken", "import-token")]
    first = bcc.import_key("imported", RSA_KEY, query=token).json()["keypair"]
    again = bcc.import_key("imported", RSA_KEY, query=token)
    assert again.status_code == 200
    assert again.json()["keypair"]["keypairId"] == first["keypairId"]
    assert_bce_error(bcc.import_key("renamed", RSA_KEY, query=token), 403, "IdempotentParameterMismatch")
