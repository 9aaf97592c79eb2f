"""The sandbox checks bce-auth-v1 as BCC does, through real HTTP with real signatures."""

import http.client
import json
from datetime import UTC, datetime, timedelta

import pytest
from sandbox_http import SignedClient, assert_bce_error

from keypairs.sandbox import SandboxServer

FROZEN = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen(sandbox):
    sandbox.clock = lambda: FROZEN
    return sandbox


def test_it_accepts_a_request_signed_with_host_and_x_bce_date(bcc):
    response = bcc.list()
    assert response.status_code == 200
    assert response.json()["keypairs"] == []


def test_it_accepts_a_request_signed_with_the_default_header_set(bcc):
    response = bcc.create("defaultSigned", signed_headers=())
    assert response.status_code == 200, response.text
    assert bcc.request("GET", "/v2/keypair", signed_headers=()).status_code == 200


def test_it_accepts_any_explicit_list_that_includes_host(bcc):
    response = bcc.create("explicit", signed_headers=("host", "content-type", "content-length"))
    assert response.status_code == 200, response.text


def test_it_accepts_an_unprefixed_path_as_region_bj(sandbox, bcc):
    unprefixed = bcc.for_region(None)
    assert unprefixed.create("onBj").status_code == 200
    assert [keypair["name"] for keypair in sandbox.keypairs(region="bj")] == ["onBj"]


def test_every_answer_carries_a_request_id(bcc):
    first, second = bcc.list(), bcc.list()
    assert first.headers["x-bce-request-id"] != second.headers["x-bce-request-id"]
    assert len(first.headers["x-bce-request-id"]) == 36
    assert first.headers["Content-Type"] == "application/json;charset=UTF-8"


def test_it_rejects_a_request_without_authorization(bcc):
    response = bcc.request("GET", "/v2/keypair", authorization=" ")
    assert_bce_error(response, 400, "InvalidHTTPAuthHeader")


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential=x",
        "bce-auth-v2/{ak}/2026-03-01T12:00:00Z/1800/host/" + "0" * 64,
        "bce-auth-v1/{ak}/2026-03-01T12:00:00Z/1800/host",
        "bce-auth-v1/{ak}/2026-03-01 12:00:00/1800/host/" + "0" * 64,
        "bce-auth-v1/{ak}/2026-13-01T12:00:00Z/1800/host/" + "0" * 64,
        "bce-auth-v1/{ak}/2026-03-01T12:00:00Z/half-an-hour/host/" + "0" * 64,
        "bce-auth-v1/{ak}/2026-03-01T12:00:00Z/-5/host/" + "0" * 64,
    ],
    ids=["other-scheme", "other-version", "too-few-parts", "bad-timestamp", "no-such-date", "words", "negative"],
)
def test_it_rejects_an_unparsable_authorization_header(bcc, authorization):
    response = bcc.request("GET", "/v2/keypair", authorization=authorization.format(ak=bcc.credentials.access_key_id))
    assert_bce_error(response, 400, "InvalidHTTPAuthHeader")


def test_it_rejects_a_signature_that_leaves_host_unsigned(bcc):
    response = bcc.request("GET", "/v2/keypair", signed_headers=("x-bce-date",))
    assert_bce_error(response, 400, "InvalidHTTPAuthHeader")


def test_it_rejects_an_unknown_access_key(sandbox, bcc):
    stranger = bcc.with_keys("f" * 32, "e" * 32)
    assert_bce_error(stranger.list(), 403, "InvalidAccessKeyId")


def test_it_rejects_a_signature_made_with_the_wrong_secret(bcc):
    impostor = bcc.with_keys(bcc.credentials.access_key_id, "0" * 32)
    assert_bce_error(impostor.create("stolen"), 400, "SignatureDoesNotMatch")


def test_it_rejects_a_body_header_changed_after_signing(bcc):
    def swap_content_type(prepared):
        prepared.headers["Content-Type"] = "text/plain"

    response = bcc.create("tampered", signed_headers=(), tamper=swap_content_type)
    assert_bce_error(response, 400, "SignatureDoesNotMatch")


def test_it_rejects_a_request_sent_to_another_host_than_signed(bcc):
    response = bcc.request("GET", "/v2/keypair", headers={"Host": "bcc.bj.baidubce.com"})
    assert response.status_code == 200  # signed for that host: fine
    forwarded = bcc.request(
        "GET", "/v2/keypair", tamper=lambda prepared: prepared.headers.__setitem__("Host", "bcc.gz.baidubce.com")
    )
    assert_bce_error(forwarded, 400, "SignatureDoesNotMatch")


def test_it_rejects_a_region_prefix_changed_after_signing(bcc):
    def move_to_gz(prepared):
        prepared.url = prepared.url.replace("/bj/", "/gz/")

    response = bcc.request("GET", "/v2/keypair", tamper=move_to_gz)
    assert_bce_error(response, 400, "SignatureDoesNotMatch")


def test_it_accepts_a_timestamp_within_its_expiration_period(frozen, bcc):
    response = bcc.request("GET", "/v2/keypair", timestamp=FROZEN - timedelta(seconds=1799))
    assert response.status_code == 200


def test_it_rejects_a_timestamp_older_than_its_expiration_period(frozen, bcc):
    response = bcc.request("GET", "/v2/keypair", timestamp=FROZEN - timedelta(seconds=1801))
    assert_bce_error(response, 400, "RequestExpired")


def test_it_honours_the_expiration_period_the_caller_chose(frozen, bcc):
    stamp = FROZEN - timedelta(seconds=120)
    assert bcc.request("GET", "/v2/keypair", timestamp=stamp, expiration_seconds=300).status_code == 200
    short = bcc.request("GET", "/v2/keypair", timestamp=stamp, expiration_seconds=60)
    assert_bce_error(short, 400, "RequestExpired")


def test_it_allows_fifteen_minutes_of_clock_skew_ahead(frozen, bcc):
    ahead = bcc.request("GET", "/v2/keypair", timestamp=FROZEN + timedelta(minutes=15))
    assert ahead.status_code == 200
    too_far = bcc.request("GET", "/v2/keypair", timestamp=FROZEN + timedelta(minutes=15, seconds=1))
    assert_bce_error(too_far, 400, "RequestExpired")


def test_it_accepts_any_of_several_configured_key_pairs():
    with SandboxServer(credentials={"a" * 32: "b" * 32, "c" * 32: "d" * 32}) as server:
        assert server.access_key_id == "a" * 32
        for access_key_id, secret in server.credentials.items():
            client = SignedClient(server.url, access_key_id, secret)
            assert client.list().status_code == 200


def test_it_generates_random_hex_keys_when_given_none(sandbox):
    assert len(sandbox.access_key_id) == 32 and int(sandbox.access_key_id, 16) >= 0
    assert len(sandbox.secret_access_key) == 32 and int(sandbox.secret_access_key, 16) >= 0
    assert sandbox.secret_access_key not in repr(sandbox)


def test_the_signature_covers_the_query_string(bcc):
    def add_query_value(prepared):
        prepared.url = prepared.url.replace("maxKeys=1", "maxKeys=2")

    response = bcc.request("GET", "/v2/keypair", query=[("maxKeys", "1")], tamper=add_query_value)
    assert_bce_error(response, 400, "SignatureDoesNotMatch")


def test_the_known_answer_vector_for_create_is_accepted():
    """The reference's create vector, replayed at its own moment against a sandbox with its keys."""
    moment = datetime(2015, 4, 27, 8, 23, 49, tzinfo=UTC)
    with SandboxServer(credentials={"a" * 32: "b" * 32}, clock=lambda: moment) as server:
        body = b'{"name": "keypair01", "description": "some description"}'
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.putrequest("POST", "/v2/keypair", skip_host=True, skip_accept_encoding=True)
        for name, value in {
            "Host": "bcc.bj.baidubce.com",
            "Content-Type": "application/json;charset=utf-8",
            "Content-Length": "56",
            "x-bce-date": "2015-04-27T08:23:49Z",
            "Authorization": f"bce-auth-v1/{'a' * 32}/2015-04-27T08:23:49Z/1800/host;x-bce-date/"
            "dd8d51f4c174ebbe456b4bcf3800197b7f56f2e962b868be11cbaa9222473f13",
        }.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
    assert response.status == 200, payload
    assert json.loads(payload)["keypair"]["createdTime"] == "2015-04-27T08:23:49Z"
