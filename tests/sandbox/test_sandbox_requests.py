"""How the sandbox reads requests: bodies, unknown paths, kept-alive connections, and what it logs."""

import http.client
import json
import logging

import pytest
from sandbox_http import assert_bce_error

from keypairs.sandbox import operations


@pytest.mark.parametrize("body", [b"{not json", b"", '{"name": "k"}'.encode("utf-16"), b"\xff\xfe"])
def test_a_body_that_is_not_json_is_malformed_json(sandbox, bcc, body):
    response = bcc.request("POST", "/v2/keypair", body=body)
    assert_bce_error(response, 400, "MalformedJSON")
    assert sandbox.keypairs() == []


@pytest.mark.parametrize(
    "payload",
    [["name", "k"], "k", 42, None, {}, {"name": 7}, {"name": "k", "description": 5}, {"description": "d"}],
    ids=["array", "string", "number", "null", "no-name", "name-number", "description-number", "description-only"],
)
def test_json_of_the_wrong_shape_is_inappropriate_json(sandbox, bcc, payload):
    response = bcc.request("POST", "/v2/keypair", body=json.dumps(payload).encode())
    assert_bce_error(response, 400, "InappropriateJSON")
    assert sandbox.keypairs() == []


def test_a_null_description_counts_as_none(bcc):
    response = bcc.request("POST", "/v2/keypair", json={"name": "k", "description": None})
    assert response.status_code == 200
    assert response.json()["keypair"]["description"] == ""


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/v2/image", []),
        ("POST", "/v2/instance", []),
        ("GET", "/v2/instance/i-12345678/extra", []),
        ("GET", "/v1/keypair", []),
        ("PATCH", "/v2/keypair", []),
        ("DELETE", "/v2/keypair", []),
        ("PUT", "/v2/keypair", []),
        ("POST", "/v2/keypair/k-12345678", []),
        ("PUT", "/v2/keypair/k-12345678", []),
        ("PUT", "/v2/keypair/k-12345678", [("rename", None), ("attach", None)]),
        ("GET", "/v2/keypair/k-12345678/extra", []),
    ],
    ids=[
        "other-resource",
        "create-instance",
        "deeper-instance-path",
        "other-version",
        "patch",
        "delete-collection",
        "put-without-import",
        "post-item",
        "put-item-without-action",
        "put-item-two-actions",
        "deeper-path",
    ],
)
def test_an_unknown_path_or_method_is_invalid_uri(bcc, method, path, query):
    response = bcc.request(method, path, query=query, json={"name": "k"})
    assert_bce_error(response, 400, "InvalidURI")


def test_an_unsigned_request_to_an_unknown_path_is_refused_for_its_signature_first(bcc):
    response = bcc.request("GET", "/nowhere", authorization="bce-auth-v1/nope")
    assert_bce_error(response, 400, "InvalidHTTPAuthHeader")


def test_it_answers_many_requests_over_one_kept_alive_connection(sandbox, bcc):
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    sockets = set()
    for path in ["/bj/v2/keypair", "/bj/v2/keypair/k-missing1", "/bj/v2/nowhere"] * 2:
        connection.request("GET", path, headers=bcc.signed_headers("GET", path, host=f"127.0.0.1:{sandbox.port}"))
        response = connection.getresponse()
        response.read()
        assert response.status in (200, 400, 404)
        assert not response.will_close
        sockets.add(id(connection.sock))
    connection.close()
    assert len(sockets) == 1


def test_it_reads_the_body_of_a_refused_request_so_the_connection_stays_usable(bcc):
    assert_bce_error(bcc.create("bad name"), 400, "Keypair.KeypairNameInvalid")
    assert bcc.create("goodName").status_code == 200


def test_it_reads_a_chunked_body(bcc):
    response = bcc.request("POST", "/v2/keypair", body=iter([b'{"name": ', b'"chunky"}']))
    assert response.status_code == 200, response.text
    assert response.json()["keypair"]["name"] == "chunky"


def test_it_refuses_a_body_over_one_megabyte_and_closes_the_connection(sandbox):
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    connection.putrequest("POST", "/v2/keypair")
    connection.putheader("Content-Length", str(2 * 1024 * 1024))
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    assert response.status == 413
    assert response.getheader("Connection") == "close"
    assert b"EntityTooLarge" in body
    connection.close()


def test_it_refuses_a_content_length_that_is_not_a_number(sandbox):
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    connection.putrequest("POST", "/v2/keypair")
    connection.putheader("Content-Length", "lots")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 400
    assert b"InvalidHTTPRequest" in response.read()
    connection.close()


def test_the_request_log_records_method_path_operation_and_status(sandbox, bcc):
    bcc.list()
    bcc.get("k-missing1")
    bcc.request("GET", "/v2/nothing")

    assert sandbox.request_log == [
        ("GET", "/bj/v2/keypair", "list", 200),
        ("GET", "/bj/v2/keypair/k-missing1", "get", 404),
        ("GET", "/bj/v2/nothing", None, 400),
    ]


def test_its_log_lines_carry_no_secret(sandbox, bcc, caplog):
    caplog.set_level(logging.DEBUG, logger="keypairs.sandbox")
    created = bcc.create("logged", query=[("clientToken", "secret-token-value")]).json()["keypair"]
    bcc.list(name="searchedName")

    text = caplog.text
    assert "POST /bj/v2/keypair create 200" in text
    assert "GET /bj/v2/keypair list 200" in text
    for secret in (
        created["privateKey"].splitlines()[1],
        sandbox.secret_access_key,
        "bce-auth-v1",
        "secret-token-value",
        "searchedName",
        "logged",
    ):
        assert secret not in text


def test_every_log_line_names_its_request_id(sandbox, bcc, caplog):
    caplog.set_level(logging.INFO, logger="keypairs.sandbox")
    response = bcc.get("k-missing1")
    assert f"rid={response.headers['x-bce-request-id']}" in caplog.text


def test_an_unexpected_failure_answers_internal_error_and_is_logged(sandbox, bcc, monkeypatch, caplog):
    def broken(call):
        raise RuntimeError("a bug in the sandbox")

    monkeypatch.setitem(operations._OPERATIONS, "list", broken)

    response = bcc.list()

    assert_bce_error(response, 500, "InternalError")
    assert "a bug in the sandbox" not in response.text
    assert "a bug in the sandbox" in caplog.text
    assert sandbox.request_log[-1] == ("GET", "/bj/v2/keypair", "list", 500)
    assert bcc.create("stillWorks").status_code == 200
