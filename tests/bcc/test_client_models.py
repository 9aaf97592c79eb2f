"""Keypair.from_api reads BCC's KeypairModel, tolerates what is missing, and hides private keys."""

from datetime import UTC, datetime

import pytest

from keypairs.bcc.models import CallRecord, Keypair

FULL = {
    "keypairId": "k-y7VWq",
    "name": "keypair01",
    "description": "some description",
    "publicKey": "ssh-rsa AAAAB3Nza test",
    "privateKey": "-----BEGIN RSA PRIVATE KEY-----\nMIIsecret\n-----END RSA PRIVATE KEY-----\n",
    "fingerPrint": "f8:1d:a3",
    "regionId": "bj",
    "instanceCount": 2,
    "createdTime": "2018-01-27T13:23:13Z",
}


def test_it_reads_every_field_of_a_keypair_model():
    keypair = Keypair.from_api(FULL, request_id="req-1")
    assert keypair == Keypair(
        keypair_id="k-y7VWq",
        name="keypair01",
        description="some description",
        public_key="ssh-rsa AAAAB3Nza test",
        fingerprint="f8:1d:a3",
        region_id="bj",
        instance_count=2,
        created_time=datetime(2018, 1, 27, 13, 23, 13, tzinfo=UTC),
        private_key=FULL["privateKey"],
        request_id="req-1",
    )


def test_it_reads_the_create_time_spelling_some_docs_use():
    keypair = Keypair.from_api({"keypairId": "k-1", "createTime": "2018-01-27T13:23:13Z"})
    assert keypair.created_time == datetime(2018, 1, 27, 13, 23, 13, tzinfo=UTC)


def test_a_time_without_an_offset_is_taken_as_utc_and_other_offsets_are_converted():
    assert Keypair.from_api({"keypairId": "k-1", "createdTime": "2018-01-27T13:23:13"}).created_time == datetime(
        2018, 1, 27, 13, 23, 13, tzinfo=UTC
    )
    assert Keypair.from_api({"keypairId": "k-1", "createdTime": "2018-01-27T21:23:13+08:00"}).created_time == (
        datetime(2018, 1, 27, 13, 23, 13, tzinfo=UTC)
    )


def test_it_tolerates_missing_and_odd_optional_fields():
    keypair = Keypair.from_api({"keypairId": "k-1", "instanceCount": "x", "createdTime": "yesterday", "name": None})
    assert keypair == Keypair(keypair_id="k-1")
    assert keypair.private_key is None
    assert keypair.created_time is None


def test_an_instance_count_sent_as_text_is_read_as_a_number():
    assert Keypair.from_api({"keypairId": "k-1", "instanceCount": "3"}).instance_count == 3


@pytest.mark.parametrize("data", [None, [], "k-1", {}, {"keypairId": ""}, {"keypairId": 7}, {"name": "x"}])
def test_it_refuses_what_is_not_a_keypair_model(data):
    with pytest.raises(ValueError):
        Keypair.from_api(data)


def test_the_private_key_never_shows_in_repr_or_str():
    keypair = Keypair.from_api(FULL)
    assert "MIIsecret" not in repr(keypair)
    assert "MIIsecret" not in str(keypair)
    assert "private_key" not in repr(keypair)
    assert "k-y7VWq" in repr(keypair)


def test_a_keypair_is_immutable():
    keypair = Keypair.from_api(FULL)
    with pytest.raises(AttributeError):
        keypair.name = "other"


def test_a_call_record_is_ok_only_when_its_outcome_is_ok():
    record = CallRecord("get_keypair", "bj", "ok", 200, "req", 1, 12)
    assert record.ok
    assert not CallRecord("get_keypair", "bj", "Keypair.KeypairNotExist", 404, "req", 1, 12).ok
