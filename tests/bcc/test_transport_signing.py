"""Every attempt is signed as bce-auth-v1 says, and URLs are built safely.

The first test prepares a request the way the transport does for every attempt (endpoint,
path, query, body) and checks its signed headers against the published known-answer vector,
so the whole seam (request line, Host, query encoding, signed header list) is checked, not
only the pure signer.
"""

import itertools
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keypairs.bcc import signer
from keypairs.bcc.client import BccClient
from keypairs.bcc.transport import Transport, build_query, host_header, validate_endpoint

CREDS = signer.Credentials("a" * 32, "b" * 32)
VECTOR_TIME = datetime(2015, 4, 27, 8, 23, 49, tzinfo=UTC)


def transport(endpoint, clock=lambda: VECTOR_TIME):
    return Transport(credentials=CREDS, endpoint=endpoint, region="bj", clock=clock)


def parse_query(text: str) -> list[tuple[str, str | None]]:
    """The query string read back as a server reads it: ``rename`` gives ``("rename", None)``; ``+`` stays ``+``."""
    pairs: list[tuple[str, str | None]] = []
    for item in text.split("&"):
        if not item:
            continue
        key, equals, value = item.partition("=")
        pairs.append((unquote(key), unquote(value) if equals else None))
    return pairs


def test_a_list_request_prepared_by_the_transport_matches_the_known_answer_vector():
    sender = transport("https://bcc.bj.baidubce.com")
    prepared = sender.prepare("GET", "/v2/keypair", query=[("maxKeys", "1000"), ("name", "中文-key/1")])
    headers = sender.signed_headers(prepared)
    assert headers["Authorization"] == (
        f"bce-auth-v1/{'a' * 32}/2015-04-27T08:23:49Z/1800/host;x-bce-date/"
        "7bf37becb3238e468aafd797b283543bc7c0fef6a2ffffe32e456d6baf134cab"
    )
    assert headers["x-bce-date"] == "2015-04-27T08:23:49Z"
    assert headers["Host"] == "bcc.bj.baidubce.com"
    assert prepared.target == "/v2/keypair?maxKeys=1000&name=%E4%B8%AD%E6%96%87-key%2F1"


def test_a_request_with_a_body_also_signs_its_content_type_and_length():
    body = b'{"name":"newName"}'
    sender = transport("http://127.0.0.1:8900/gz")
    prepared = sender.prepare("PUT", "/v2/keypair/k-1", query=[("rename", None)], body={"name": "newName"})
    assert (prepared.target, prepared.payload) == ("/gz/v2/keypair/k-1?rename", body)
    authorization = sender.signed_headers(prepared)["Authorization"]
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
    sender = transport("https://bcc.bj.baidubce.com", clock=clock)
    prepared = sender.prepare("GET", "/v2/keypair")
    first, second = sender.signed_headers(prepared), sender.signed_headers(prepared)
    assert (first["x-bce-date"], second["x-bce-date"]) == ("2015-04-27T08:23:49Z", "2015-04-27T08:23:50Z")
    assert second["Authorization"] != first["Authorization"]
    assert "x-bce-date" not in prepared.headers


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
