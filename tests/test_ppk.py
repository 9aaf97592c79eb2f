"""PuTTY's PPK v3 from the PEM private key BCC returns, checked by PuTTY's own puttygen.

The ``putty`` tests need Debian's ``putty-tools`` (``apt-get install putty-tools``) and skip
without it; CI installs it and requires the group (tests/required_groups.py). The refusals
and the leak checks need nothing and always run.
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import traceback

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from keypairs import ppk
from keypairs.ppk import PpkConversionFailed, ppk_from_pem

PUTTYGEN = shutil.which("puttygen")
SSH_KEYGEN = shutil.which("ssh-keygen")


def needs_putty(test):
    """The ``putty`` group: runs puttygen (and ssh-keygen to compare), skips without them."""
    test = pytest.mark.skipif(SSH_KEYGEN is None, reason="needs OpenSSH's ssh-keygen (openssh-client)")(test)
    test = pytest.mark.skipif(PUTTYGEN is None, reason="needs puttygen (Debian's putty-tools)")(test)
    return pytest.mark.putty(test)


PKCS1 = serialization.PrivateFormat.TraditionalOpenSSL  # RSA PKCS#1, or SEC1 for EC
PKCS8 = serialization.PrivateFormat.PKCS8
KEYS = {
    "rsa 2048 pkcs1": (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), PKCS1),
    "rsa 3072 pkcs8": (lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072), PKCS8),
    "ecdsa p-256 pkcs8": (lambda: ec.generate_private_key(ec.SECP256R1()), PKCS8),
    "ecdsa p-384 pkcs8": (lambda: ec.generate_private_key(ec.SECP384R1()), PKCS8),
    "ecdsa p-521 pkcs8": (lambda: ec.generate_private_key(ec.SECP521R1()), PKCS8),
    "ecdsa p-256 sec1": (lambda: ec.generate_private_key(ec.SECP256R1()), PKCS1),
}


def pem_of(kind: str) -> tuple[bytes, str]:
    """A fresh PEM private key of this kind, and its OpenSSH public key line."""
    make, private_format = KEYS[kind]
    key = make()
    pem = key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return pem, public.decode()


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def ssh_keygen_fingerprint(public_line: str, tmp_path) -> str:
    (tmp_path / "key.pub").write_text(public_line + "\n")
    return run(SSH_KEYGEN, "-lf", str(tmp_path / "key.pub")).split()[1]


@needs_putty
@pytest.mark.parametrize("kind", KEYS)
def test_puttygen_prints_the_fingerprint_ssh_keygen_prints(tmp_path, kind):
    pem, public_line = pem_of(kind)
    (tmp_path / "key.ppk").write_bytes(ppk_from_pem(pem, comment="build-server"))

    listed = run(PUTTYGEN, str(tmp_path / "key.ppk"), "-l").split()
    fingerprint = run(PUTTYGEN, str(tmp_path / "key.ppk"), "-O", "fingerprint").split()

    assert listed[0] == public_line.split()[0]
    assert listed[2] == ssh_keygen_fingerprint(public_line, tmp_path)
    assert fingerprint == listed


@needs_putty
@pytest.mark.parametrize("kind", KEYS)
def test_puttygen_turns_it_back_into_an_openssh_key_with_the_same_public_key(tmp_path, kind):
    pem, public_line = pem_of(kind)
    (tmp_path / "key.ppk").write_bytes(ppk_from_pem(pem, comment="build-server"))

    run(PUTTYGEN, str(tmp_path / "key.ppk"), "-O", "private-openssh", "-o", str(tmp_path / "back.pem"))
    (tmp_path / "back.pem").chmod(0o600)

    assert run(SSH_KEYGEN, "-y", "-f", str(tmp_path / "back.pem")).split()[:2] == public_line.split()
    assert run(PUTTYGEN, str(tmp_path / "key.ppk"), "-O", "public-openssh").split() == [
        *public_line.split(),
        "build-server",
    ]


@needs_putty
@pytest.mark.parametrize("kind", ["rsa 2048 pkcs1", "ecdsa p-256 sec1"])
def test_it_writes_byte_for_byte_what_puttygen_writes_for_the_same_key(tmp_path, kind):
    # puttygen imports PKCS#1 and SEC1 PEM (not PKCS#8): for those, its own file is the answer.
    pem, _public_line = pem_of(kind)
    (tmp_path / "key.pem").write_bytes(pem)
    (tmp_path / "key.pem").chmod(0o600)

    run(PUTTYGEN, str(tmp_path / "key.pem"), "-C", "build-server", "-O", "private", "-o", str(tmp_path / "ref.ppk"))

    assert ppk_from_pem(pem, comment="build-server") == (tmp_path / "ref.ppk").read_bytes()


@needs_putty
def test_a_chinese_comment_survives_puttygen(tmp_path):
    pem, public_line = pem_of("ecdsa p-256 pkcs8")
    (tmp_path / "key.ppk").write_bytes(ppk_from_pem(pem, comment="张三-build.server"))

    assert run(PUTTYGEN, str(tmp_path / "key.ppk"), "-O", "public-openssh").split() == [
        *public_line.split(),
        "张三-build.server",
    ]


@needs_putty
def test_puttygen_refuses_the_file_when_its_comment_is_changed_after_the_mac(tmp_path):
    # The MAC is real: it covers the public half and the comment, as PuTTY checks it.
    pem, _public_line = pem_of("rsa 2048 pkcs1")
    made = ppk_from_pem(pem, comment="build-server")
    (tmp_path / "key.ppk").write_bytes(made.replace(b"Comment: build-server", b"Comment: build-servex"))

    # Loading the private half checks the MAC (listing the fingerprint reads only the public half).
    result = subprocess.run(
        [PUTTYGEN, str(tmp_path / "key.ppk"), "-O", "private-openssh", "-o", str(tmp_path / "back.pem")],
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert "MAC failed" in result.stderr
    assert not (tmp_path / "back.pem").exists()

    assert result.returncode != 0
    assert "MAC" in result.stderr or "MAC" in result.stdout


# -- without PuTTY -------------------------------------------------------------------------


def test_the_file_is_version_3_unencrypted_with_no_key_derivation():
    pem, public_line = pem_of("rsa 2048 pkcs1")

    lines = ppk_from_pem(pem, comment="build-server").decode().split("\n")

    assert lines[:3] == ["PuTTY-User-Key-File-3: ssh-rsa", "Encryption: none", "Comment: build-server"]
    assert not [line for line in lines if line.startswith(("Key-Derivation", "Argon2"))]
    public_count = int(lines[3].removeprefix("Public-Lines: "))
    assert base64.b64decode("".join(lines[4 : 4 + public_count])) == base64.b64decode(public_line.split()[1])
    assert all(len(line) <= 64 for line in lines[4 : 4 + public_count])
    assert lines[-2].startswith("Private-MAC: ") and len(lines[-2]) == len("Private-MAC: ") + 64
    assert lines[-1] == ""  # ends with a line feed; no carriage returns anywhere
    assert "\r" not in "\n".join(lines)


def _pem(key, private_format=PKCS8, encryption=None) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, private_format, encryption or serialization.NoEncryption())


REFUSED = {
    "not pem": (lambda: b"hello", "not_a_private_key", ppk.NOT_A_PRIVATE_KEY),
    "a public key": (
        lambda: (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        ),
        "not_a_private_key",
        ppk.NOT_A_PRIVATE_KEY,
    ),
    "encrypted": (
        lambda: _pem(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            encryption=serialization.BestAvailableEncryption(b"passphrase"),
        ),
        "not_a_private_key",
        ppk.NOT_A_PRIVATE_KEY,
    ),
    "damaged": (
        lambda: _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048), PKCS1).replace(b"M", b"N", 3),
        "not_a_private_key",
        ppk.NOT_A_PRIVATE_KEY,
    ),
    "ed25519": (lambda: _pem(ed25519.Ed25519PrivateKey.generate()), "unsupported_key", ppk.UNSUPPORTED_KEY),
    "secp256k1": (lambda: _pem(ec.generate_private_key(ec.SECP256K1())), "unsupported_key", ppk.UNSUPPORTED_KEY),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_cannot_be_converted_is_refused_with_its_sentence(case):
    make, code, message = REFUSED[case]

    with pytest.raises(PpkConversionFailed) as caught:
        ppk_from_pem(make(), comment="build-server")

    assert caught.value.code == code
    assert str(caught.value) == str(message)


def test_the_sentences_are_these():
    assert str(ppk.NOT_A_PRIVATE_KEY) == (
        "The private key is not an unencrypted PEM key, so it cannot be converted for PuTTY."
    )
    assert (
        str(ppk.UNSUPPORTED_KEY) == "Only RSA and ECDSA (P-256, P-384, P-521) private keys can be converted for PuTTY."
    )
    assert str(ppk.COMMENT_INVALID) == "The comment of a PuTTY key file cannot hold a line break."


@pytest.mark.parametrize("comment", ["two\nlines", "carriage\rreturn"])
def test_a_comment_with_a_line_break_is_refused(comment):
    pem, _public_line = pem_of("ecdsa p-256 pkcs8")

    with pytest.raises(PpkConversionFailed) as caught:
        ppk_from_pem(pem, comment=comment)

    assert caught.value.code == "comment_invalid"
    assert str(caught.value) == str(ppk.COMMENT_INVALID)


@pytest.mark.parametrize("case", ["damaged", "ed25519", "encrypted"])
def test_a_refusal_holds_no_piece_of_the_private_key(case, caplog):
    pem = REFUSED[case][0]()
    body = "".join(line for line in pem.decode().splitlines() if "-----" not in line)
    slices = {body[i : i + 20] for i in range(len(body) - 19)}

    with pytest.raises(PpkConversionFailed) as caught:
        ppk_from_pem(pem, comment="build-server")
    error = caught.value
    logging.getLogger("tests.ppk").exception("conversion refused", exc_info=error)

    assert error.__cause__ is None and error.__context__ is None
    for text in (str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error)), caplog.text):
        assert not [piece for piece in slices if piece in text]
