"""BceAuth signs requests as bce-auth-v1 says, on every attempt, and URLs are built safely.

The first test runs a request prepared by requests through BceAuth and checks the result
against the published known-answer vector, so the whole seam (URL parsing, Host, query
decoding, signed header list) is checked, not only the pure signer.
"""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from keypairs.bcc import signer
from keypairs.bcc.client import BccClient
from keypairs.bcc.transport import BceAuth, build_query, host_header, parse_query, validate_endpoint

CREDS = signer.Credentials("a" * 32, "b" * 32)
VECTOR_TIME = datetime(2015, 4, 27, 8, 23, 49, tzinfo=UTC)


def prepare(method, url, *, json_body=None, clock=lambda: VECTOR_TIME):
    request = requests.Request(method, url, data=json_body, auth=BceAuth(CREDS, clock=clock))
    if json_body is not None:
        request.headers["Content-Type"] = "application/json;charset=utf-8"
    return request.prepare()


def test_a_list_request_signed_through_requests_matches_the_known_answer_vector():
    query = build_query([("maxKeys", "1000"), ("name", "中文-key/1")])
    prepared = prepare("GET", f"https://bcc.bj.baidubce.com/v2/keypair?{query}")
    assert prepared.headers["Authorization"] == (
        f"bce-auth-v1/{'a' * 32}/2015-04-27T08:23:49Z/1800/host;x-bce-date/"
        "7bf37becb3238e468aafd797b283543bc7c0fef6a2ffffe32e456d6baf134cab"
    )
    assert prepared.headers["x-bce-date"] == "2015-04-27T08:23:49Z"
    assert prepared.headers["Host"] == "bcc.bj.baidubce.com"


def test_a_request_with_a_body_also_signs_its_content_type_and_length():
    body = b'{"name":"newName"}'
    prepared = prepare("PUT", "http://127.0.0.1:8900/gz/v2/keypair/k-1?rename", json_body=body)
    authorization = prepared.headers["Authorization"]
    assert "/content-length;content-type;host;x-bce-date/" in authorization
    expected = signer.authorization(
        method="PUT",
        path="/gz/v2/keypair/k-1",
        query=[("rename", None)],
        headers={
            "Host": "127.0.0.1:8900",
            "Content-Type": "application/json;charset=utf-8",
            "Content-Length": str(len(body)),
            "x-bce-date": "2015-04-27T08:23:49Z",
        },
        credentials=CREDS,
        timestamp=VECTOR_TIME,
        signed_headers=["host", "x-bce-date", "content-type", "content-length"],
    )
    assert authorization == expected


def test_every_signing_reads_the_clock_again():
    times = itertools.count()
    clock = lambda: VECTOR_TIME + timedelta(seconds=next(times))  # noqa: E731
    auth = BceAuth(CREDS, clock=clock)
    first = auth(requests.Request("GET", "https://bcc.bj.baidubce.com/v2/keypair").prepare())
    first_stamp, first_signature = first.headers["x-bce-date"], first.headers["Authorization"]
    second = auth(first)
    assert (first_stamp, second.headers["x-bce-date"]) == ("2015-04-27T08:23:49Z", "2015-04-27T08:23:50Z")
    assert second.headers["Authorization"] != first_signature


@pytest.mark.parametrize(
    ("scheme", "host", "port", "expected"),
    [
        ("https", "bcc.bj.baidubce.com", None, "bcc.bj.baidubce.com"),
        ("https", "bcc.bj.baidubce.com", 443, "bcc.bj.baidubce.com"),
        ("http", "127.0.0.1", 80, "127.0.0.1"),
        ("http", "127.0.0.1", 8900, "127.0.0.1:8900"),
        ("https", "127.0.0.1", 80, "127.0.0.1:80"),
        ("http", "::1", 8900, "[::1]:8900"),
    ],
)
def test_the_signed_host_carries_the_port_only_when_it_is_not_the_default(scheme, host, port, expected):
    assert host_header(scheme, host, port) == expected


def test_a_valueless_flag_is_written_bare_and_read_back_as_a_flag():
    assert build_query([("rename", None)]) == "rename"
    assert build_query([("import", None), ("clientToken", "t 1+/")]) == "import&clientToken=t%201%2B%2F"
    assert parse_query("import&clientToken=t%201%2B%2F") == [("import", None), ("clientToken", "t 1+/")]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1), st.one_of(st.none(), st.text()))))
def test_any_query_survives_a_round_trip(query):
    assert parse_query(build_query(query)) == query


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://bcc.bj.baidubce.com",
        "bcc.bj.baidubce.com",
        "https://",
        "https://ak:sk@bcc.bj.baidubce.com",
        "https://bcc.bj.baidubce.com?x=1",
        "https://bcc.bj.baidubce.com:99999",
    ],
)
def test_it_refuses_an_endpoint_that_is_not_a_plain_http_url(endpoint):
    with pytest.raises(ValueError):
        validate_endpoint(endpoint)


def test_an_endpoint_keeps_its_path_prefix_without_a_trailing_slash():
    assert validate_endpoint("http://127.0.0.1:8900/gz/") == "http://127.0.0.1:8900/gz"


@pytest.mark.parametrize("verify", [False, "", None])
def test_tls_verification_cannot_be_turned_off(verify):
    with pytest.raises(ValueError, match="cannot be turned off"):
        BccClient(credentials=CREDS, endpoint="https://bcc.bj.baidubce.com", region="bj", verify=verify)


def test_a_ca_bundle_that_does_not_exist_is_refused_up_front(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        BccClient(
            credentials=CREDS, endpoint="https://bcc.bj.baidubce.com", region="bj", verify=str(tmp_path / "no.pem")
        )


@pytest.mark.parametrize("keypair_id", ["", "../k-1", "k-1/../../x", "k 1", ".hidden", "k-1?rename", "k" * 65])
def test_it_refuses_a_keypair_id_that_could_change_the_url(keypair_id):
    client = BccClient(credentials=CREDS, endpoint="http://127.0.0.1:9", region="bj")
    with pytest.raises(ValueError, match=r"^Not a BCC key pair id\.$"):
        client.get_keypair(keypair_id)


def test_a_client_repr_never_shows_its_credentials():
    client = BccClient(credentials=CREDS, endpoint="http://127.0.0.1:9/bj", region="bj")
    assert repr(client) == "BccClient(region='bj', endpoint='http://127.0.0.1:9/bj')"
    assert "b" * 32 not in repr(client.__dict__)
