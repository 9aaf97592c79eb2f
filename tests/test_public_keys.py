"""Reading a pasted or uploaded public key for import: what is understood, and every refusal.

Keys are made fresh in each test, with ``cryptography`` and with OpenSSH's ``ssh-keygen``; the
fingerprints must be the very ones ``ssh-keygen -lf`` prints. Refusals are checked against
their exact sentences, and a pasted private key must leave no trace in the exception.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime
import logging
import shutil
import subprocess
import traceback
import warnings

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from keypairs import public_keys
from keypairs.ppk import ppk_from_pem
from keypairs.public_keys import PublicKeyRefused, public_key_inspect

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="needs OpenSSH's ssh-keygen (openssh-client)")

OpenSSH = (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(bits: int = 256) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVES[bits]())


def public_line(private_key, comment: str = "") -> str:
    line = private_key.public_key().public_bytes(*OpenSSH).decode()
    return f"{line} {comment}" if comment else line


def dsa_line() -> str:
    with warnings.catch_warnings():  # cryptography deprecates SSH DSA keys: so do we
        warnings.simplefilter("ignore")
        key = dsa.generate_private_key(1024)  # noqa: S505 (OpenSSH's DSA keys are 1024 bits)
        return key.public_key().public_bytes(*OpenSSH).decode()


def ssh_keygen_says(pub_file) -> tuple[int, str, str]:
    """(bits, SHA256 fingerprint, MD5 fingerprint) as ``ssh-keygen -lf`` prints them."""

    def fields(*hash_args: str) -> list[str]:
        result = subprocess.run(
            [SSH_KEYGEN, *hash_args, "-lf", str(pub_file)], check=True, capture_output=True, text=True
        )
        return result.stdout.split()

    sha256 = fields()
    return int(sha256[0]), sha256[1], fields("-E", "md5")[1]


def refused(text) -> PublicKeyRefused:
    with pytest.raises(PublicKeyRefused) as caught:
        public_key_inspect(text)
    return caught.value


# -- what is accepted -----------------------------------------------------------------------


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("make_key", "key_type", "bits"),
    [
        (lambda: rsa_key(2048), "ssh-rsa", 2048),
        (lambda: rsa_key(3072), "ssh-rsa", 3072),
        (lambda: ec_key(256), "ecdsa-sha2-nistp256", 256),
        (lambda: ec_key(384), "ecdsa-sha2-nistp384", 384),
        (lambda: ec_key(521), "ecdsa-sha2-nistp521", 521),
    ],
)
def test_it_understands_a_key_made_by_cryptography_as_ssh_keygen_does(tmp_path, make_key, key_type, bits):
    line = public_line(make_key(), "alice@laptop")
    (tmp_path / "key.pub").write_text(line + "\n")

    inspected = public_key_inspect(line)

    assert (inspected.key_type, inspected.bits, inspected.comment) == (key_type, bits, "alice@laptop")
    assert (inspected.bits, inspected.sha256_fingerprint, inspected.md5_fingerprint) == ssh_keygen_says(
        tmp_path / "key.pub"
    )
    assert inspected.openssh_line == line


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("key_args", "key_type", "bits"),
    [
        (["-t", "rsa", "-b", "3072"], "ssh-rsa", 3072),
        (["-t", "ecdsa", "-b", "256"], "ecdsa-sha2-nistp256", 256),
        (["-t", "ecdsa", "-b", "521"], "ecdsa-sha2-nistp521", 521),
    ],
)
def test_it_reads_the_pub_file_ssh_keygen_wrote_as_uploaded_bytes(tmp_path, key_args, key_type, bits):
    key_file = tmp_path / "id_key"
    subprocess.run([SSH_KEYGEN, "-q", *key_args, "-N", "", "-C", "bob@build server", "-f", str(key_file)], check=True)
    uploaded = (tmp_path / "id_key.pub").read_bytes()

    inspected = public_key_inspect(uploaded)

    assert (inspected.key_type, inspected.bits, inspected.comment) == (key_type, bits, "bob@build server")
    assert (inspected.bits, inspected.sha256_fingerprint, inspected.md5_fingerprint) == ssh_keygen_says(
        tmp_path / "id_key.pub"
    )
    assert inspected.openssh_line == uploaded.decode().strip()


def test_a_pasted_line_is_normalized_to_type_base64_comment():
    line = public_line(ec_key())
    key_type, encoded = line.split()
    messy = f"\r\n\n   {key_type} \t {encoded}\u00a0  carol@desk  \r\n\n"

    inspected = public_key_inspect(messy)

    assert inspected.openssh_line == f"{key_type} {encoded} carol@desk"
    assert inspected.comment == "carol@desk"


def test_a_key_without_a_comment_is_type_and_base64_only():
    line = public_line(rsa_key())

    inspected = public_key_inspect(line)

    assert inspected.comment == ""
    assert inspected.openssh_line == line


def test_a_comment_keeps_its_inner_spaces_and_its_chinese():
    line = public_line(ec_key())

    inspected = public_key_inspect(f"{line} 张三 的 笔记本")

    assert inspected.comment == "张三 的 笔记本"
    assert inspected.openssh_line == f"{line} 张三 的 笔记本"


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode(),
        lambda text: codecs.BOM_UTF8 + text.encode(),
        lambda text: text.encode("utf-16"),  # what Windows PowerShell's ">" writes
    ],
    ids=["utf-8", "utf-8 with BOM", "utf-16 with BOM"],
)
def test_an_uploaded_file_reads_the_same_as_the_pasted_text(encode):
    line = public_line(rsa_key(), "dave@pc")

    assert public_key_inspect(encode(line + "\r\n")) == public_key_inspect(line)


def test_a_key_padded_to_exactly_16_kib_is_still_read():
    line = public_line(ec_key())
    padded = line + "\n" * (public_keys.MAX_INPUT_BYTES - len(line))

    assert len(padded.encode()) == 16 * 1024
    assert public_key_inspect(padded).openssh_line == line
    assert public_key_inspect(padded.encode()).openssh_line == line


# -- refusals, each with its own sentence ----------------------------------------------------


def test_rsa_under_2048_bits_is_refused_naming_its_size():
    error = refused(public_line(rsa_key(1024)))

    assert error.code == "rsa_too_small"
    assert str(error) == (
        "This RSA key has 1024 bits; BCC needs at least 2048 (3072 is better). Make a new key, or generate "
        "one in your browser."
    )


def test_a_dsa_key_is_refused_saying_openssh_disabled_it_in_2015():
    error = refused(dsa_line())

    assert error.code == "dsa"
    assert str(error) == str(public_keys.DSA)
    assert "BCC would take it, but OpenSSH disabled DSA keys in 2015" in str(error)


def test_an_ed25519_key_is_refused_naming_what_bcc_accepts_and_the_browser_option():
    line = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*OpenSSH).decode()

    error = refused(line + " erin@mac")

    assert error.code == "unsupported_type"
    assert str(error) == (
        "BCC does not accept ssh-ed25519 keys. It accepts ssh-rsa keys of at least 2048 bits and ECDSA keys "
        "(ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521). Make one of those, or generate one "
        "in your browser."
    )


def test_a_security_key_type_is_refused_by_name():
    error = refused("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t frank@yubikey")

    assert error.code == "unsupported_type"
    assert str(error).startswith("BCC does not accept sk-ssh-ed25519@openssh.com keys.")


def test_an_unknown_key_type_is_refused_without_repeating_what_was_pasted():
    error = refused("ssh-made-up-type AAAAEHNzaC1tYWRlLXVwLXR5cGU= x")

    assert error.code == "unsupported_type"
    assert str(error) == str(public_keys.UNSUPPORTED_TYPE)
    assert "made-up" not in str(error)


def test_an_ssh_certificate_made_with_cryptography_is_refused():
    authority = ed25519.Ed25519PrivateKey.generate()
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        serialization.SSHCertificateBuilder()
        .public_key(ec_key().public_key())
        .serial(1)
        .type(serialization.SSHCertificateType.USER)
        .key_id(b"grace")
        .valid_principals([b"root"])
        .valid_after(int(now.timestamp()))
        .valid_before(int(now.timestamp()) + 3600)
        .sign(authority)
    )
    line = certificate.public_bytes().decode()
    assert line.startswith("ecdsa-sha2-nistp256-cert-v01@openssh.com ")

    error = refused(line)

    assert error.code == "certificate"
    assert str(error) == (
        "This is an SSH certificate, not a public key. BCC imports plain public keys: paste the .pub file "
        "the certificate was made for (the one without -cert in its name)."
    )


@needs_ssh_keygen
def test_an_ssh_certificate_signed_by_ssh_keygen_is_refused(tmp_path):
    for name, key_type in (("ca", "ed25519"), ("user", "rsa")):
        subprocess.run([SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-f", str(tmp_path / name)], check=True)
    subprocess.run(
        [SSH_KEYGEN, "-q", "-s", str(tmp_path / "ca"), "-I", "henry", "-n", "root", str(tmp_path / "user.pub")],
        check=True,
        capture_output=True,
    )

    error = refused((tmp_path / "user-cert.pub").read_bytes())

    assert error.code == "certificate"
    assert str(error) == str(public_keys.CERTIFICATE)


def test_two_keys_are_refused_counting_the_lines():
    text = public_line(rsa_key(), "one") + "\n\n" + public_line(ec_key(), "two") + "\n"

    error = refused(text)

    assert error.code == "several_keys"
    assert str(error) == ("This holds 2 lines. Import one public key at a time: the single line of one .pub file.")


@pytest.mark.parametrize(
    "options",
    [
        'from="10.0.0.0/8"',
        'command="/usr/bin/backup --all",no-pty',
        "no-pty,no-port-forwarding",
        'restrict,command="echo a b c"',
    ],
)
def test_authorized_keys_options_before_the_type_are_refused(options):
    error = refused(f"{options} {public_line(rsa_key(), 'ivan@ops')}")

    assert error.code == "options"
    assert str(error) == (
        'This line starts with authorized_keys options (such as from="..." or command="..."). '
        "Paste the key alone: its type (such as ssh-rsa), its base64 text and an optional comment."
    )


@pytest.mark.parametrize(
    "text",
    [
        "x" * (16 * 1024 + 1),
        b"x" * (16 * 1024 + 1),
        "密" * 6000,  # 6,000 characters, 18,000 bytes
        # Too large is decided before anything is parsed: even a private key gets this answer.
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "A" * 17000 + "\n-----END OPENSSH PRIVATE KEY-----\n",
    ],
    ids=["text", "bytes", "chinese text", "a huge private key"],
)
def test_anything_over_16_kib_is_refused(text):
    error = refused(text)

    assert error.code == "too_large"
    assert str(error) == (
        "This is larger than 16 KiB, far larger than any public key. Paste the single line of your .pub file."
    )


@pytest.mark.parametrize("text", ["", "   ", "\n\r\n\t\n", b"", b"\n\n"])
def test_empty_input_is_refused(text):
    error = refused(text)

    assert error.code == "empty"
    assert str(error) == "Paste a public key, or choose a .pub file."


@pytest.mark.parametrize("text", [b"ssh-rsa \xc3\x28AAAA", b"\x89PNG\r\n\x1a\n\x00\x00", "ssh-rsa \ud800"])
def test_undecodable_input_is_refused(text):
    error = refused(text)

    assert error.code == "undecodable"
    assert str(error) == (
        "This is not plain text. A public key is one line of text, such as the contents of id_ecdsa.pub."
    )
    assert error.__context__ is None  # a UnicodeDecodeError would carry all of the input


def _blob_of(line: str) -> bytes:
    return base64.b64decode(line.split()[1])


def _with_blob(key_type: str, blob: bytes) -> str:
    return f"{key_type} {base64.b64encode(blob).decode()}"


@pytest.mark.parametrize(
    "make_text",
    [
        lambda: "hello world",
        lambda: "ssh-rsa",
        lambda: "ssh-rsa not*base64 comment",
        lambda: "ssh-rsa AAAA",
        lambda: _with_blob("ssh-rsa", _blob_of(public_line(ec_key()))),  # an ECDSA key labelled RSA
        lambda: _with_blob("ecdsa-sha2-nistp256", _blob_of(public_line(ec_key(384)))),
        lambda: _with_blob("ssh-rsa", _blob_of(public_line(rsa_key())) + b"\x00\x00\x00"),  # trailing bytes
        lambda: public_line(rsa_key()).replace("AAAA", "AA*AA", 1),  # what a lenient decoder skips
        lambda: public_line(ec_key())[:-12],  # cut short
    ],
    ids=[
        "prose",
        "a type alone",
        "not base64",
        "an empty blob",
        "the wrong type",
        "the wrong curve",
        "trailing bytes",
        "a stray character",
        "cut short",
    ],
)
def test_what_is_not_a_public_key_is_refused(make_text):
    error = refused(make_text())

    assert error.code == "not_a_public_key"
    assert str(error) == (
        "This is not an OpenSSH public key. A public key is one line: its type (such as ssh-rsa or "
        "ecdsa-sha2-nistp256), then base64 text, then an optional comment."
    )
    assert error.__cause__ is None and error.__context__ is None


@needs_ssh_keygen
def test_a_puttygen_style_ssh2_public_key_is_refused_saying_which_line_to_paste(tmp_path):
    subprocess.run([SSH_KEYGEN, "-q", "-t", "rsa", "-N", "", "-f", str(tmp_path / "key")], check=True)
    ssh2 = subprocess.run(
        [SSH_KEYGEN, "-e", "-f", str(tmp_path / "key.pub")], check=True, capture_output=True, text=True
    ).stdout
    assert ssh2.startswith("---- BEGIN SSH2 PUBLIC KEY ----")

    error = refused(ssh2)

    assert error.code == "ssh2_format"
    assert str(error) == str(public_keys.SSH2_FORMAT)


@pytest.mark.parametrize("comment", ["bell\x07here", "right\u202eto-left", "zero\u200bwidth"])
def test_a_comment_with_invisible_or_control_characters_is_refused(comment):
    error = refused(f"{public_line(ec_key())} {comment}")

    assert error.code == "comment_invalid"
    assert str(error) == (
        "The comment after the key holds invisible or control characters. Remove them, or the comment."
    )


def test_what_is_not_text_or_bytes_is_a_programming_error():
    with pytest.raises(TypeError):
        public_key_inspect(None)


def test_each_refusal_has_its_own_sentence_and_code():
    sentences = [
        public_keys.PRIVATE_KEY,
        public_keys.TOO_LARGE,
        public_keys.UNDECODABLE,
        public_keys.EMPTY,
        public_keys.SEVERAL_KEYS,
        public_keys.SSH2_FORMAT,
        public_keys.OPTIONS,
        public_keys.NOT_A_PUBLIC_KEY,
        public_keys.CERTIFICATE,
        public_keys.DSA,
        public_keys.UNSUPPORTED_TYPE_NAMED,
        public_keys.UNSUPPORTED_TYPE,
        public_keys.RSA_TOO_SMALL,
        public_keys.COMMENT_INVALID,
    ]

    assert len({str(sentence) for sentence in sentences}) == len(sentences)


# -- a private key pasted by mistake ---------------------------------------------------------


def _pem(private_key, private_format, encryption=None) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, private_format, encryption or serialization.NoEncryption()
    ).decode()


def _dsa_pem() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = dsa.generate_private_key(1024)  # noqa: S505 (OpenSSH's DSA keys are 1024 bits)
        return _pem(key, serialization.PrivateFormat.TraditionalOpenSSL)


def _putty_file() -> str:
    pem = _pem(rsa_key(), serialization.PrivateFormat.TraditionalOpenSSL).encode()
    return ppk_from_pem(pem, comment="judy").decode()


PRIVATE_KEYS = {
    "openssh": lambda: _pem(ec_key(), serialization.PrivateFormat.OpenSSH),
    "rsa pkcs1": lambda: _pem(rsa_key(), serialization.PrivateFormat.TraditionalOpenSSL),
    "ec sec1": lambda: _pem(ec_key(384), serialization.PrivateFormat.TraditionalOpenSSL),
    "pkcs8": lambda: _pem(rsa_key(), serialization.PrivateFormat.PKCS8),
    "encrypted pkcs8": lambda: _pem(
        ec_key(), serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"passphrase")
    ),
    "dsa": _dsa_pem,
    "putty": _putty_file,
    "after its public key": lambda: (
        public_line(ec_key(), "kim@laptop") + "\n" + _pem(ec_key(), serialization.PrivateFormat.OpenSSH)
    ),
}


def _base64_body(private_text: str) -> str:
    """The key material: every line that is neither armour nor a header, joined."""
    return "".join(
        line for line in private_text.splitlines() if line and "-----" not in line and ": " not in line
    ).replace("\r", "")


def _every_slice(body: str, width: int = 20) -> set[str]:
    return {body[i : i + width] for i in range(len(body) - width + 1)}


@pytest.mark.parametrize("kind", PRIVATE_KEYS)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["pasted", "uploaded"])
def test_a_private_key_is_refused_with_the_warning_sentence(kind, as_bytes):
    private_text = PRIVATE_KEYS[kind]()

    error = refused(private_text.encode() if as_bytes else private_text)

    assert error.code == "private_key"
    assert str(error) == "This is a private key: never paste it anywhere. Nothing was stored or sent."
    assert str(error.message) == public_keys.PRIVATE_KEY


@pytest.mark.parametrize("kind", PRIVATE_KEYS)
def test_a_refused_private_key_leaves_no_trace_in_the_exception(kind, caplog):
    private_text = PRIVATE_KEYS[kind]()
    slices = _every_slice(_base64_body(private_text))
    assert len(slices) > 100  # the check below looks at real key material

    error = refused(private_text)
    logging.getLogger("tests.public_keys").exception("import refused", exc_info=error)

    assert error.__cause__ is None
    assert error.__context__ is None
    seen = [
        str(error),
        repr(error),
        repr(error.args),
        str(error.message),
        "".join(traceback.format_exception(error)),
        caplog.text,
    ]
    for text in seen:
        assert not [piece for piece in slices if piece in text]


def test_the_error_report_django_would_mail_hides_the_pasted_text():
    private_text = PRIVATE_KEYS["rsa pkcs1"]()

    error = refused(private_text)
    frames = ExceptionReporter(None, type(error), error, error.__traceback__).get_traceback_frames()

    ours = [frame for frame in frames if frame["filename"] == public_keys.__file__]
    assert ours
    for frame in ours:
        assert {value for _name, value in frame["vars"]} == {SafeExceptionReporterFilter.cleansed_substitute}


def test_the_strict_decoder_and_the_fingerprint_agree_with_the_bcc_fingerprints_module():
    from keypairs.bcc import fingerprints

    line = public_line(rsa_key(), "leo")
    inspected = public_key_inspect(line)

    assert inspected.sha256_fingerprint == fingerprints.sha256_fingerprint(line)
    assert inspected.md5_fingerprint == fingerprints.md5_fingerprint(line)
    assert binascii.a2b_base64(inspected.openssh_line.split()[1]) == _blob_of(line)
