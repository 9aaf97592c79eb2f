"""Fingerprints match what `ssh-keygen -lf` prints.

Known answers for fixed keys (recorded with OpenSSH's ssh-keygen) always run; the
comparison with a live ssh-keygen over freshly made keys runs when it is installed.
"""

import re
import shutil
import subprocess

import pytest

from keypairs.bcc import fingerprints

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAWxyAkeQ/iq+OTNO69eeLx2JufBSAN2wNA0u9AHAJKM alice@example"
RSA_1024 = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCYg9sTfxECU85TXYLtHyfklIEwEVhOM/tjWJCVwAmTsOiyCAuFvg3QZi0Gcll5B/VIQKFkAXSv"
    "ey+zW0xRuaZS6SKfGz4Xa85aYLPf7AdFwSsLf8EZDZs9Ry0bexMjprZ3IkSgNFb5dU14F/BINGWJjsaSW5ReXWM+/BEvO4wx1Q== bob@example"
)
KNOWN = [
    (
        ED25519,
        "SHA256:F6pdewf5h+SzeFEJhw8B+GV7pl+EehD/EMKs6G5OJKA",
        "MD5:6b:a5:46:8f:81:61:4b:e7:bb:e9:93:e3:f2:20:31:d5",
    ),
    (
        RSA_1024,
        "SHA256:wGKmhN4KcesS1oddH/viJWj0fgMG/BnlTwPxW9pPwik",
        "MD5:f8:1d:a3:55:e6:73:a1:b3:59:3a:09:cb:ed:47:b7:37",
    ),
]
SSH_KEYGEN = shutil.which("ssh-keygen")


@pytest.mark.parametrize(("line", "sha256", "md5"), KNOWN)
def test_it_gives_the_fingerprints_ssh_keygen_printed_for_a_fixed_key(line, sha256, md5):
    assert fingerprints.sha256_fingerprint(line) == sha256
    assert fingerprints.md5_fingerprint(line) == md5


def test_the_comment_and_surrounding_whitespace_do_not_change_the_fingerprint():
    key_type, blob, _comment = RSA_1024.split(" ")
    assert fingerprints.sha256_fingerprint(f"  {key_type}   {blob}\n") == KNOWN[1][1]
    assert fingerprints.sha256_fingerprint(f"{key_type} {blob} a comment with spaces") == KNOWN[1][1]


def test_it_parses_the_type_the_blob_and_the_comment():
    key = fingerprints.parse_public_key(ED25519)
    assert key.key_type == "ssh-ed25519"
    assert key.comment == "alice@example"
    assert key.blob.startswith(b"\x00\x00\x00\x0bssh-ed25519")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "ssh-rsa",
        "ssh-rsa not*base64",
        "ssh-rsa AAAA",
        # an ed25519 blob labelled as rsa
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAWxyAkeQ/iq+OTNO69eeLx2JufBSAN2wNA0u9AHAJKM",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----",
    ],
)
def test_it_refuses_what_is_not_a_public_key_line(line):
    with pytest.raises(ValueError, match=re.escape(fingerprints.INVALID_PUBLIC_KEY)):
        fingerprints.sha256_fingerprint(line)


@pytest.mark.parametrize(
    "given",
    [
        "SHA256:wGKmhN4KcesS1oddH/viJWj0fgMG/BnlTwPxW9pPwik",
        "SHA256:wGKmhN4KcesS1oddH/viJWj0fgMG/BnlTwPxW9pPwik=",
        "MD5:f8:1d:a3:55:e6:73:a1:b3:59:3a:09:cb:ed:47:b7:37",
        "f8:1d:a3:55:e6:73:a1:b3:59:3a:09:cb:ed:47:b7:37",
        "F8:1D:A3:55:E6:73:A1:B3:59:3A:09:CB:ED:47:B7:37",
    ],
)
def test_it_matches_a_fingerprint_in_any_form_bcc_or_ssh_keygen_shows(given):
    assert fingerprints.fingerprint_matches(RSA_1024, given)


def test_it_does_not_match_another_keys_fingerprint():
    assert not fingerprints.fingerprint_matches(RSA_1024, KNOWN[0][1])
    assert not fingerprints.fingerprint_matches(RSA_1024, KNOWN[0][2])


@pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen is not installed; the known answers above still ran")
@pytest.mark.parametrize("key_args", [["-t", "rsa", "-b", "2048"], ["-t", "ecdsa", "-b", "256"], ["-t", "ed25519"]])
def test_it_agrees_with_ssh_keygen_on_fresh_keys(tmp_path, key_args):
    key_file = tmp_path / "key"
    subprocess.run([SSH_KEYGEN, "-q", *key_args, "-N", "", "-C", "test", "-f", str(key_file)], check=True)
    public_line = (tmp_path / "key.pub").read_text()

    def printed(*hash_args):
        output = subprocess.run(
            [SSH_KEYGEN, *hash_args, "-lf", str(tmp_path / "key.pub")], check=True, capture_output=True, text=True
        )
        return output.stdout.split()[1]

    assert fingerprints.sha256_fingerprint(public_line) == printed()
    assert fingerprints.md5_fingerprint(public_line) == printed("-E", "md5")
