"""Create: a real RSA key pair, its private key handed out once, BCC's name and description rules."""

import base64
import hashlib
import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from sandbox_http import assert_bce_error

KEYPAIR_ID = re.compile(r"k-[A-Za-z0-9]{8}")


def test_it_creates_a_key_pair_with_a_private_key_that_matches_its_public_key(sandbox, bcc):
    response = bcc.create("web01", "for the web servers")

    assert response.status_code == 200, response.text
    keypair = response.json()["keypair"]
    assert KEYPAIR_ID.fullmatch(keypair["keypairId"])
    assert keypair["name"] == "web01"
    assert keypair["description"] == "for the web servers"
    assert keypair["regionId"] == "bj"
    assert keypair["instanceCount"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", keypair["createdTime"])
    assert keypair["privateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    private = serialization.load_pem_private_key(keypair["privateKey"].encode(), password=None)
    assert private.key_size == 2048
    public_line = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert keypair["publicKey"] == public_line.decode()
    digest = hashlib.md5(base64.b64decode(keypair["publicKey"].split()[1]), usedforsecurity=False).hexdigest()
    assert keypair["fingerPrint"] == ":".join(digest[i : i + 2] for i in range(0, 32, 2))
    assert [stored["keypairId"] for stored in sandbox.keypairs(region="bj")] == [keypair["keypairId"]]


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
def test_ssh_keygen_reads_the_private_key_and_agrees_on_the_fingerprint(bcc, tmp_path):
    keypair = bcc.create("checked").json()["keypair"]
    private_file = tmp_path / "id_rsa"
    private_file.write_text(keypair["privateKey"])
    private_file.chmod(0o600)

    derived = subprocess.run(["ssh-keygen", "-y", "-f", private_file], capture_output=True, text=True, check=True)
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "md5", "-f", private_file], capture_output=True, text=True, check=True
    )

    assert derived.stdout.split()[:2] == keypair["publicKey"].split()[:2]
    assert f"MD5:{keypair['fingerPrint']}" in listed.stdout


def test_it_accepts_the_python_sdk_form_with_the_create_flag(sandbox, bcc):
    response = bcc.request("POST", "/v2/keypair", query=[("create", None)], json={"name": "sdkStyle"})
    assert response.status_code == 200, response.text
    assert response.json()["keypair"]["description"] == ""
    assert [keypair["name"] for keypair in sandbox.keypairs()] == ["sdkStyle"]


def test_the_private_key_is_never_stored_nor_shown_again(sandbox, bcc):
    created = bcc.create("once").json()["keypair"]
    detail = bcc.get(created["keypairId"]).json()["keypair"]
    listed = bcc.list().json()["keypairs"]

    assert "privateKey" not in detail
    assert all("privateKey" not in keypair for keypair in listed)
    assert all("privateKey" not in keypair for keypair in sandbox.keypairs())
    assert created["privateKey"] not in repr(sandbox.sandbox.store.__dict__)


def test_it_stamps_the_creation_time_from_its_clock(sandbox, bcc):
    sandbox.clock = lambda: datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    keypair = bcc.create("clocked", timestamp=datetime(2026, 1, 2, 3, 4, 0, tzinfo=UTC)).json()["keypair"]
    assert keypair["createdTime"] == "2026-01-02T03:04:05Z"


def test_it_allows_two_key_pairs_with_the_same_name(sandbox, bcc):
    first = bcc.create("twin").json()["keypair"]
    second = bcc.create("twin").json()["keypair"]
    assert first["keypairId"] != second["keypairId"]
    assert len(sandbox.keypairs()) == 2


@pytest.mark.parametrize(
    "name",
    ["a", "A" * 65, "Key-1_2/3.4", "a密钥对", "x" + "钥" * 64],
    ids=["one-letter", "65-letters", "punctuation", "chinese-after-letter", "65-with-chinese"],
)
def test_it_accepts_names_within_the_rules(bcc, name):
    response = bcc.create(name)
    assert response.status_code == 200, response.text
    assert response.json()["keypair"]["name"] == name


@pytest.mark.parametrize(
    "name",
    ["", "A" * 66, "1key", "-key", "密钥", "key pair", "key@home", "ключ", "key\n", "_key"],
    ids=[
        "empty",
        "66-letters",
        "digit-first",
        "dash-first",
        "chinese-first",
        "space",
        "at-sign",
        "cyrillic",
        "newline",
        "underscore-first",
    ],
)
def test_it_rejects_names_outside_the_rules(sandbox, bcc, name):
    assert_bce_error(bcc.create(name), 400, "Keypair.KeypairNameInvalid")
    assert sandbox.keypairs() == []


@pytest.mark.parametrize(
    "description",
    ["", "d" * 140, "web servers, batch 2. key_a=b-c:d/e", "给网站用的，第二批。"],
    ids=["empty", "140", "ascii-punctuation", "chinese-punctuation"],
)
def test_it_accepts_descriptions_within_the_rules(bcc, description):
    response = bcc.create("described", description)
    assert response.status_code == 200, response.text
    assert response.json()["keypair"]["description"] == description


@pytest.mark.parametrize(
    "description",
    ["d" * 141, "semi;colon", "quote'", "emoji 🙂", "tab\there", "exclaim!"],
    ids=["141", "semicolon", "quote", "emoji", "tab", "exclamation"],
)
def test_it_rejects_descriptions_outside_the_rules(sandbox, bcc, description):
    assert_bce_error(bcc.create("described", description), 400, "Keypair.KeypairDescriptionInvalid")
    assert sandbox.keypairs() == []


def test_it_refuses_to_create_beyond_the_quota_of_the_region(sandbox, bcc):
    sandbox.quota = 2
    assert bcc.create("one").status_code == 200
    assert bcc.create("two").status_code == 200

    assert_bce_error(bcc.create("three"), 413, "Keypair.KeypairQuotaExceedLimit")
    assert len(sandbox.keypairs()) == 2
    assert bcc.for_region("gz").create("elsewhere").status_code == 200  # the quota is per region


def test_deleting_a_key_pair_frees_its_place_in_the_quota(sandbox, bcc):
    sandbox.quota = 1
    first = bcc.create("one").json()["keypair"]
    assert_bce_error(bcc.create("two"), 413, "Keypair.KeypairQuotaExceedLimit")
    assert bcc.delete(first["keypairId"]).status_code == 200
    assert bcc.create("two").status_code == 200


class TestClientToken:
    def test_a_replay_answers_with_the_same_key_pair_without_its_private_key(self, sandbox, bcc):
        first = bcc.create("tokened", "d", query=[("clientToken", "token-1")])
        again = bcc.create("tokened", "d", query=[("clientToken", "token-1")])

        assert first.status_code == again.status_code == 200
        original, replayed = first.json()["keypair"], again.json()["keypair"]
        assert "privateKey" in original
        assert "privateKey" not in replayed
        assert replayed["keypairId"] == original["keypairId"]
        assert replayed["publicKey"] == original["publicKey"]
        assert len(sandbox.keypairs()) == 1

    def test_a_token_reused_with_other_parameters_is_refused(self, sandbox, bcc):
        bcc.create("tokened", query=[("clientToken", "token-2")])
        other = bcc.create("otherName", query=[("clientToken", "token-2")])
        assert_bce_error(other, 403, "IdempotentParameterMismatch")
        assert len(sandbox.keypairs()) == 1

    def test_a_token_is_per_region(self, sandbox, bcc):
        bcc.create("tokened", query=[("clientToken", "token-3")])
        bcc.for_region("gz").create("tokened", query=[("clientToken", "token-3")])
        assert len(sandbox.keypairs(region="bj")) == len(sandbox.keypairs(region="gz")) == 1

    def test_a_token_expires_after_24_hours(self, sandbox, bcc):
        now = datetime(2026, 5, 1, tzinfo=UTC)
        sandbox.clock = lambda: now
        first = bcc.create("tokened", query=[("clientToken", "token-4")], timestamp=now).json()["keypair"]
        later = datetime(2026, 5, 2, 0, 0, 1, tzinfo=UTC)
        sandbox.clock = lambda: later
        fresh = bcc.create("tokened", query=[("clientToken", "token-4")], timestamp=later).json()["keypair"]
        assert fresh["keypairId"] != first["keypairId"]
        assert "privateKey" in fresh

    def test_a_failed_call_does_not_use_the_token_up(self, sandbox, bcc):
        sandbox.quota = 0
        assert_bce_error(
            bcc.create("tokened", query=[("clientToken", "token-5")]), 413, "Keypair.KeypairQuotaExceedLimit"
        )
        sandbox.quota = 5
        retried = bcc.create("tokened", query=[("clientToken", "token-5")])
        assert "privateKey" in retried.json()["keypair"]

    def test_a_replay_of_a_deleted_key_pair_answers_as_it_was(self, sandbox, bcc):
        created = bcc.create("gone", query=[("clientToken", "token-6")]).json()["keypair"]
        bcc.delete(created["keypairId"])
        replayed = bcc.create("gone", query=[("clientToken", "token-6")])
        assert replayed.status_code == 200
        assert replayed.json()["keypair"]["keypairId"] == created["keypairId"]
        assert sandbox.keypairs() == []

    def test_a_token_longer_than_64_characters_is_refused(self, bcc):
        assert_bce_error(bcc.create("tokened", query=[("clientToken", "t" * 65)]), 400, "InvalidHTTPRequest")
