"""A throwaway self-signed certificate for the sandbox's TLS mode.

TLS mode exists to show that clients refuse a certificate nobody vouched for, and that
they accept it once told to trust it (``verify=cert_path``). The certificate names
``localhost`` and ``127.0.0.1``, lasts a day, and its key never leaves a private
temporary directory that :meth:`SelfSignedCertificate.remove` deletes.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import ssl
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY = timedelta(days=1)


class SelfSignedCertificate:
    def __init__(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())  # fast, unlike RSA
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "BCC sandbox (self-signed)")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            # A trust anchor that strict verifiers (Python 3.13's default) also accept.
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        self._directory = Path(tempfile.mkdtemp(prefix="bcc-sandbox-tls-"))  # mode 0700
        self.cert_path = self._directory / "cert.pem"
        self._key_path = self._directory / "key.pem"
        self.cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        descriptor = os.open(self._key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as key_file:
            key_file.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_path, self._key_path)
        return context

    def remove(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)
