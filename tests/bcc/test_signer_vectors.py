"""The signer against the known-answer vectors of shared/reference/bce-auth-v1.md.

Each vector is checked in both forms BCC accepts: the default header set (empty
signedHeaders) and the explicit ``host;x-bce-date`` list the client sends.
"""

import pytest

from keypairs.bcc import signer

CREDS = signer.Credentials("a" * 32, "b" * 32)
STAMP = "2015-04-27T08:23:49Z"
PREFIX = f"bce-auth-v1/{'a' * 32}/{STAMP}/1800"

BOS_HEADERS = {
    "Host": "bj.bcebos.com",
    "Date": "Mon, 27 Apr 2015 16:23:49 +0800",
    "Content-Type": "text/plain",
    "Content-Length": "8",
    "Content-Md5": "NFzcPqhviddjRNnSOGo4rw==",
    "x-bce-date": STAMP,
}
BOS_QUERY = [("partNumber", "9"), ("uploadId", "a44cc9bab11cbd156984767aad637851")]
BOS_PATH = "/v1/test/myfolder/readme.txt"

JSON_HEADERS = {"Host": "bcc.bj.baidubce.com", "Content-Type": "application/json;charset=utf-8", "x-bce-date": STAMP}


def sign(method, path, query, headers, signed_headers=()):
    return signer.authorization(
        method=method,
        path=path,
        query=query,
        headers=headers,
        credentials=CREDS,
        timestamp=STAMP,
        signed_headers=signed_headers,
    )


def test_signing_key_matches_the_documented_value():
    assert signer.signing_key(CREDS.secret_access_key, PREFIX) == (
        "1d5ce5f464064cbee060330d973218821825ac6952368a482a592e6615aef479"
    )


def test_canonical_request_matches_the_documented_text():
    expected = "\n".join(
        [
            "PUT",
            "/v1/test/myfolder/readme.txt",
            "partNumber=9&uploadId=a44cc9bab11cbd156984767aad637851",
            "content-length:8",
            "content-md5:NFzcPqhviddjRNnSOGo4rw%3D%3D",
            "content-type:text%2Fplain",
            "host:bj.bcebos.com",
            "x-bce-date:2015-04-27T08%3A23%3A49Z",
        ]
    )
    assert signer.canonical_request("PUT", BOS_PATH, BOS_QUERY, BOS_HEADERS) == expected


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "signed", "expected"),
    [
        (
            "PUT",
            BOS_PATH,
            BOS_QUERY,
            BOS_HEADERS,
            (),
            "/d74a04362e6a848f5b39b15421cb449427f419c95a480fd6b8cf9fc783e2999e",
        ),
        (
            "PUT",
            BOS_PATH,
            BOS_QUERY,
            BOS_HEADERS,
            ("host", "x-bce-date"),
            "host;x-bce-date/1b8de5a23a56eef657c69f94c621e7acd227d049a4ba577f537d5e5cebf0cf32",
        ),
        (
            "POST",
            "/v2/keypair",
            [],
            {**JSON_HEADERS, "Content-Length": "56"},
            (),
            "/f6f846fd5fc07317a2113633295eb636e140b07b64b89236eb271e61dc5ca530",
        ),
        (
            "POST",
            "/v2/keypair",
            [],
            {**JSON_HEADERS, "Content-Length": "56"},
            ("host", "x-bce-date"),
            "host;x-bce-date/dd8d51f4c174ebbe456b4bcf3800197b7f56f2e962b868be11cbaa9222473f13",
        ),
        (
            "POST",
            "/v2/keypair",
            [("create", None)],
            {**JSON_HEADERS, "Content-Length": "56"},
            ("host", "x-bce-date"),
            "host;x-bce-date/f33ffe9c6ac97586d2c8ff7886304b53831979979c6cc7cfa7c3a73e584aa7be",
        ),
        (
            "GET",
            "/v2/keypair",
            [("maxKeys", "1000"), ("name", "中文-key/1")],
            {"Host": "bcc.bj.baidubce.com", "x-bce-date": STAMP},
            ("host", "x-bce-date"),
            "host;x-bce-date/7bf37becb3238e468aafd797b283543bc7c0fef6a2ffffe32e456d6baf134cab",
        ),
        (
            "PUT",
            "/v2/keypair/k-h4NDJPhY",
            [("rename", None)],
            {**JSON_HEADERS, "Content-Length": "19"},
            (),
            "/cade866d7d95629a54845898434b03f735af5766e5f50f2747d6e06b3ae61390",
        ),
        (
            "PUT",
            "/v2/keypair/k-h4NDJPhY",
            [("rename", None)],
            {**JSON_HEADERS, "Content-Length": "19"},
            ("host", "x-bce-date"),
            "host;x-bce-date/ee5ba82dd8122ec2d12533ec196a94905130921cdfbe0fa86f8deabf0ef78149",
        ),
    ],
    ids=[
        "bos-default",
        "bos-explicit",
        "create-default",
        "create-explicit",
        "create-flag-explicit",
        "list-unicode-explicit",
        "rename-default",
        "rename-explicit",
    ],
)
def test_known_answer_vectors(method, path, query, headers, signed, expected):
    assert sign(method, path, query, headers, signed) == f"{PREFIX}/{expected}"


def test_a_valueless_flag_signs_as_key_equals():
    assert signer.canonical_query_string([("rename", None)]) == "rename="


def test_query_authorization_parameter_is_dropped_and_pairs_sorted_as_whole_strings():
    query = [("b", "2"), ("Authorization", "x"), ("a", "z"), ("a", "1")]
    assert signer.canonical_query_string(query) == "a=1&a=z&b=2"


def test_uri_encode_uses_upper_case_hex_and_percent20_for_space():
    assert signer.uri_encode("a b/c~é") == "a%20b%2Fc~%C3%A9"
    assert signer.canonical_uri("/a b/c") == "/a%20b/c"
    assert signer.canonical_uri("") == "/"


def test_empty_header_values_are_not_signed():
    assert signer.canonical_headers({"Host": "h", "Content-Md5": "  "}) == "host:h"


def test_credentials_repr_hides_the_secret():
    assert "b" * 32 not in repr(CREDS)
