"""List: paging with marker/nextMarker, the name filter, and isolation between regions and accounts."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sandbox_http import SignedClient, assert_bce_error

from keypairs.sandbox import SandboxServer


def imported(bcc, name):
    """Import rather than create: listing tests need many key pairs, not RSA key generation."""
    public_key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    response = bcc.import_key(name, public_key)
    assert response.status_code == 200, response.text
    return response.json()["keypair"]["keypairId"]


@pytest.fixture
def five(bcc):
    return [imported(bcc, f"key{index}") for index in range(5)]


def test_an_empty_region_lists_nothing(bcc):
    assert bcc.list().json() == {"marker": "", "isTruncated": False, "nextMarker": "", "maxKeys": 1000, "keypairs": []}


def test_it_lists_in_creation_order_with_the_model_fields(bcc, five):
    body = bcc.list().json()
    assert [keypair["keypairId"] for keypair in body["keypairs"]] == five
    assert set(body["keypairs"][0]) == {
        "keypairId",
        "name",
        "description",
        "publicKey",
        "fingerPrint",
        "regionId",
        "instanceCount",
        "createdTime",
    }


def test_it_pages_with_marker_and_next_marker(bcc, five):
    seen, marker, pages = [], "", 0
    while True:
        body = bcc.list(maxKeys="2", marker=marker).json()
        pages += 1
        assert body["maxKeys"] == 2
        assert body["marker"] == marker
        seen += [keypair["keypairId"] for keypair in body["keypairs"]]
        if not body["isTruncated"]:
            assert body["nextMarker"] == ""
            break
        assert body["nextMarker"] == five[len(seen)]
        marker = body["nextMarker"]
    assert pages == 3
    assert seen == five


def test_paging_survives_the_deletion_of_the_next_marker(bcc, five):
    first_page = bcc.list(maxKeys="2").json()
    assert bcc.delete(first_page["nextMarker"]).status_code == 200

    rest = bcc.list(maxKeys="10", marker=first_page["nextMarker"]).json()

    assert [keypair["keypairId"] for keypair in rest["keypairs"]] == five[3:]


def test_a_marker_that_was_never_issued_is_refused(bcc, five):
    assert_bce_error(bcc.list(marker="k-nonsense"), 400, "InvalidHTTPRequest")


@pytest.mark.parametrize("max_keys", ["0", "-1", "ten", "1.5"])
def test_it_refuses_a_max_keys_that_is_not_a_positive_number(bcc, max_keys):
    assert_bce_error(bcc.list(maxKeys=max_keys), 400, "InvalidHTTPRequest")


def test_a_max_keys_above_1000_gives_pages_of_1000(bcc):
    assert bcc.list(maxKeys="5000").json()["maxKeys"] == 1000


def test_the_name_filter_matches_whole_names(bcc):
    wanted = [imported(bcc, "web"), imported(bcc, "web")]
    imported(bcc, "web2")
    imported(bcc, "database")

    body = bcc.list(name="web").json()

    assert [keypair["keypairId"] for keypair in body["keypairs"]] == wanted
    assert bcc.list(name="nothing").json()["keypairs"] == []


def test_the_name_filter_pages_too(bcc):
    wanted = [imported(bcc, "same") for _ in range(3)]
    imported(bcc, "other")
    first = bcc.list(name="same", maxKeys="2").json()
    second = bcc.list(name="same", maxKeys="2", marker=first["nextMarker"]).json()
    assert [keypair["keypairId"] for keypair in first["keypairs"] + second["keypairs"]] == wanted
    assert second["isTruncated"] is False


def test_a_key_pair_created_in_gz_is_not_listed_in_bj(sandbox, bcc):
    gz = bcc.for_region("gz")
    gz_id = imported(gz, "southern")

    assert bcc.list().json()["keypairs"] == []
    assert [keypair["keypairId"] for keypair in gz.list().json()["keypairs"]] == [gz_id]
    assert gz.get(gz_id).json()["keypair"]["regionId"] == "gz"
    assert_bce_error(bcc.get(gz_id), 404, "Keypair.KeypairNotExist")
    assert sandbox.keypairs(region="bj") == []


def test_the_region_can_come_from_the_host_header(bcc):
    gz_unprefixed = bcc.for_region(None)
    response = gz_unprefixed.request(
        "POST", "/v2/keypair", json={"name": "byHost"}, headers={"Host": "bcc.gz.baidubce.com"}
    )
    assert response.json()["keypair"]["regionId"] == "gz"
    assert [keypair["name"] for keypair in bcc.for_region("gz").list().json()["keypairs"]] == ["byHost"]


def test_another_access_key_sees_none_of_these_key_pairs(bcc):

    with SandboxServer(credentials={"a" * 32: "1" * 32, "b" * 32: "2" * 32}) as server:
        alice = SignedClient(server.url, "a" * 32, "1" * 32)
        bob = SignedClient(server.url, "b" * 32, "2" * 32)
        alice_id = imported(alice, "alices")

        assert bob.list().json()["keypairs"] == []
        assert_bce_error(bob.get(alice_id), 404, "Keypair.KeypairNotExist")
        assert_bce_error(bob.delete(alice_id), 404, "Keypair.KeypairNotExist")
        assert server.keypairs(access_key_id="b" * 32) == []
        assert [keypair["keypairId"] for keypair in server.keypairs(access_key_id="a" * 32)] == [alice_id]
