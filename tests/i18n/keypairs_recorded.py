"""Key pairs for the i18n tests, cheaply: a public key imported into the BCC sandbox, recorded as the portal's.

Creating one through the create service makes the sandbox generate an RSA key (up to a second on a
busy machine, past the client's read timeout); these tests are about words, not about creating, so
they import a public key made here (BCC takes RSA keys) instead and record it as a live key pair of its owner.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from keypairs.bcc.factory import get_client
from keypairs.models import KeyPairRequest


def imported(name: str, region: str = "bj") -> str:
    """A key pair made outside the portal (imported straight into the sandbox): its id."""
    public_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return get_client(region).import_keypair(name=name, public_key=public_key).keypair_id


def recorded(owner, name: str, region: str = "bj") -> KeyPairRequest:
    """A live key pair of ``owner``, in the sandbox and in the portal's records."""
    keypair_id = imported(name, region)
    now = timezone.now()
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        region=region,
        name=name,
        status=KeyPairRequest.Status.CREATED,
        keypair_id=keypair_id,
        bcc_created_at=now,
        completed_at=now,
    )
