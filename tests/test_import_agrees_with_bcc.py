"""The portal's import and BCC (the sandbox, which follows ../shared/reference) agree on key types.

The portal is stricter than BCC on purpose (DSA and RSA under 2048 bits are refused as unsafe),
but never looser: every key the portal accepts, BCC imports; every type BCC does not list, the
portal refuses before BCC is asked. A key the portal passes and BCC then refuses would reach the
person as a BCC error instead of the portal's own sentence.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from keypairs.bcc.errors import BccApiError
from keypairs.bcc.factory import get_client
from keypairs.public_keys import PublicKeyRefused, public_key_inspect


def openssh(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


ACCEPTED_BY_THE_PORTAL = {
    "rsa-2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "rsa-4096": lambda: rsa.generate_private_key(public_exponent=65537, key_size=4096),
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ecdsa-p521": lambda: ec.generate_private_key(ec.SECP521R1()),
}


@pytest.mark.parametrize("kind", sorted(ACCEPTED_BY_THE_PORTAL))
def test_every_key_the_portal_accepts_bcc_imports(portal_on_sandbox, kind):
    line = openssh(ACCEPTED_BY_THE_PORTAL[kind]()) + " someone@laptop"
    inspected = public_key_inspect(line)

    imported = get_client("bj").import_keypair(name=f"agree-{kind}", public_key=inspected.openssh_line)

    assert get_client("bj").get_keypair(imported.keypair_id).name == f"agree-{kind}"
    assert len(portal_on_sandbox.keypairs()) == 1


def test_a_type_bcc_does_not_list_is_refused_by_both(portal_on_sandbox):
    line = openssh(ed25519.Ed25519PrivateKey.generate())

    with pytest.raises(PublicKeyRefused):
        public_key_inspect(line)
    with pytest.raises(BccApiError) as refused:
        get_client("bj").import_keypair(name="agree-ed25519", public_key=line)
    assert refused.value.code == "Keypair.PublicKeyFormatInvalid"


@pytest.mark.filterwarnings("ignore:SSH DSA key support is deprecated")
def test_dsa_bcc_takes_and_the_portal_refuses_as_unsafe(portal_on_sandbox):
    line = openssh(dsa.generate_private_key(key_size=1024))  # noqa: S505 - the only size SSH has, refused here

    with pytest.raises(PublicKeyRefused) as refused:
        public_key_inspect(line)
    assert refused.value.code == "dsa"
    get_client("bj").import_keypair(name="agree-dsa", public_key=line)  # BCC itself takes it
