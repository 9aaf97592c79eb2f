"""Helpers for tests that import a public key through the import form, as a person does."""

from __future__ import annotations

import datetime
import re
import warnings

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from django.test import Client
from django.urls import reverse

IMPORT_URL = reverse("keypair_import")
PREVIEW_URL = reverse("keypair_import_preview")
OpenSSH = (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_line(private_key, comment: str = "") -> str:
    line = private_key.public_key().public_bytes(*OpenSSH).decode()
    return f"{line} {comment}" if comment else line


def private_pem(private_key) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


def dsa_line() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = dsa.generate_private_key(1024)  # noqa: S505 - OpenSSH's DSA keys are 1024 bits
        return key.public_key().public_bytes(*OpenSSH).decode()


def certificate_line() -> str:
    """An OpenSSH user certificate's line: a key BCC must never be given."""
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    certificate = (
        serialization.SSHCertificateBuilder()
        .public_key(ec_key().public_key())
        .serial(1)
        .type(serialization.SSHCertificateType.USER)
        .key_id(b"alice")
        .valid_principals([b"root"])
        .valid_after(now)
        .valid_before(now + 3600)
        .sign(ed25519.Ed25519PrivateKey.generate())
    )
    return certificate.public_bytes().decode()


def open_import_form(client: Client) -> str:
    response = client.get(IMPORT_URL)
    assert response.status_code == 200
    match = re.search(r'<input type="hidden" name="form_token" value="([^"]*)"', response.content.decode())
    assert match, "the import form has no form_token"
    return match.group(1)


def import_key(
    client: Client,
    *,
    public_key: str = "",
    name: str = "laptop",
    description: str = "",
    region: str = "bj",
    form_token: str | None = None,
    public_key_file=None,
):
    if form_token is None:
        form_token = open_import_form(client)
    data = {"name": name, "description": description, "region": region, "form_token": form_token}
    data["public_key"] = public_key
    if public_key_file is not None:
        data["public_key_file"] = public_key_file
    return client.post(IMPORT_URL, data)
