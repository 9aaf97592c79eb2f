"""Answers BCC would never send (wrong shapes, redirects, odd bodies) are refused, not guessed at.

The sandbox always answers correctly, so these use a small loopback server that replays
canned answers, and ``read_answer`` directly for the parsing rules.
"""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keypairs.bcc import errors
from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials
from keypairs.bcc.transport import read_answer


class CannedServer(ThreadingHTTPServer):
    """Answers each request with the next canned (status, body, headers), and remembers the paths."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), CannedHandler)
        self.answers = []
        self.paths = []


class CannedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.paths.append(self.path)
        status, body, headers = self.server.answers.pop(0)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        # A canned Content-Length longer than the body: the answer is cut off mid-body.
        declared = headers.pop("Content-Length", str(len(payload)))
        self.send_header("Content-Length", declared)
        self.send_header("x-bce-request-id", f"canned-{len(self.server.paths)}")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        if int(declared) != len(payload):
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format, *args):
        pass


@pytest.fixture
def canned():
    server = CannedServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(canned):
    with BccClient(
        credentials=Credentials("a" * 32, "b" * 32),
        endpoint=f"http://127.0.0.1:{canned.server_address[1]}/bj",
        region="bj",
        sleep=lambda seconds: None,
    ) as client:
        yield client


def answer(canned, status, body, **headers):
    canned.answers.append((status, body, headers))


def response(status, body, headers=None):
    """``read_answer``'s arguments for an answer: its status, request id header and body."""
    return status, (headers or {}).get("x-bce-request-id"), body


# --- parsing rules ---------------------------------------------------------------------------


def test_an_empty_2xx_body_is_an_empty_answer():
    assert read_answer(*response(200, b"", {"x-bce-request-id": "r-1"})) == (200, "r-1", {})


def test_a_2xx_body_that_is_not_a_json_object_is_a_bad_response():
    for body in (b"[1, 2]", b'"text"', b"<html>", b"\xff\xfe"):
        with pytest.raises(errors.BccBadResponseError) as raised:
            read_answer(*response(200, body, {"x-bce-request-id": "r-1"}))
        assert (raised.value.status, raised.value.request_id) == (200, "r-1")


def test_an_error_without_the_header_takes_its_request_id_from_the_body():
    body = json.dumps({"requestId": "r-body", "code": "InternalError", "message": "boom"}).encode()
    with pytest.raises(errors.BccApiError) as raised:
        read_answer(*response(500, body))
    assert (raised.value.code, raised.value.status, raised.value.request_id) == ("InternalError", 500, "r-body")


@pytest.mark.parametrize("body", [b"", b"{}", b'{"code": 7}', b'{"code": ""}', b"<html>Bad Gateway</html>"])
def test_an_error_status_without_a_bce_error_body_is_a_bad_response(body):
    with pytest.raises(errors.BccBadResponseError) as raised:
        read_answer(*response(503, body))
    assert raised.value.status == 503


def test_a_bad_response_never_carries_the_body_it_could_not_read():
    body = b'{"keypair": {"privateKey": "-----BEGIN RSA PRIVATE KEY----- secret"'
    with pytest.raises(errors.BccBadResponseError) as raised:
        read_answer(*response(200, body))
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__ or raised.value.__context__ is None
    assert "secret" not in str(raised.value)


# --- over HTTP -------------------------------------------------------------------------------


def test_a_create_answered_200_without_a_keypair_is_an_unknown_outcome(client, canned):
    answer(canned, 200, {})
    with pytest.raises(errors.BccOutcomeUnknown) as raised:
        client.create_keypair(name="alice")
    assert (raised.value.reason, raised.value.status, raised.value.request_id) == ("bad_response", 200, "canned-1")
    assert len(canned.paths) == 1


def test_a_get_whose_keypair_has_no_id_is_a_bad_response_and_not_retried(client, canned):
    answer(canned, 200, {"keypair": {"name": "alice"}})
    with pytest.raises(errors.BccBadResponseError) as raised:
        client.get_keypair("k-1")
    assert (raised.value.status, raised.value.attempts) == (200, 1)
    assert client.last_call.outcome == "bad_response"


def test_a_truncated_page_without_a_next_marker_is_a_bad_response(client, canned):
    answer(canned, 200, {"isTruncated": True, "keypairs": [{"keypairId": "k-1"}]})
    with pytest.raises(errors.BccBadResponseError):
        client.list_keypairs()


def test_pages_that_loop_back_to_a_marker_already_seen_stop_with_a_bad_response(client, canned):
    answer(canned, 200, {"isTruncated": True, "nextMarker": "k-2", "keypairs": [{"keypairId": "k-1"}]})
    answer(canned, 200, {"isTruncated": True, "nextMarker": "k-2", "keypairs": [{"keypairId": "k-2"}]})
    with pytest.raises(errors.BccBadResponseError):
        client.list_keypairs()
    assert canned.paths == ["/bj/v2/keypair?maxKeys=1000", "/bj/v2/keypair?maxKeys=1000&marker=k-2"]


def test_a_read_whose_answer_is_cut_off_mid_body_is_retried_on_a_new_connection(client, canned):
    answer(canned, 200, b'{"keypairs": [{"keypairId": "k-1"', **{"Content-Length": "500"})
    answer(canned, 200, {"keypairs": []})
    assert client.list_keypairs() == []
    assert client.last_call.attempts == 2


def test_a_delete_whose_answer_is_cut_off_mid_body_is_a_lost_connection_not_retried(client, canned):
    answer(canned, 200, b'{"requestId": "r', **{"Content-Length": "500"})
    with pytest.raises(errors.BccConnectionLostError) as raised:
        client.delete_keypair("k-1")
    assert (raised.value.sent, raised.value.attempts) == (True, 1)
    assert len(canned.paths) == 1


def test_a_create_whose_answer_is_cut_off_mid_body_is_an_unknown_outcome(client, canned):
    answer(canned, 200, b'{"keypair": {"keypairId": "k-1", "privateKey": "-----BEGIN', **{"Content-Length": "900"})
    with pytest.raises(errors.BccOutcomeUnknown) as raised:
        client.create_keypair(name="alice")
    assert raised.value.reason == "connection_lost"
    assert len(canned.paths) == 1
    # The bytes that did arrive (here the start of a private key) are kept nowhere in the
    # chain of exceptions behind the error, which an error reporter may record whole.
    for error in exception_chain(raised.value):
        assert b"BEGIN" not in repr((vars(error), error.args)).encode()
        assert "BEGIN" not in repr((vars(error), error.args))


def exception_chain(error):
    seen, stack = set(), [error]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseException) and id(item) not in seen:
            seen.add(id(item))
            yield item
            stack.extend([item.__cause__, item.__context__, *item.args, *vars(item).values()])


def test_a_redirect_is_not_followed(client, canned):
    answer(canned, 301, b"", Location="http://example.invalid/v2/keypair")
    with pytest.raises(errors.BccBadResponseError) as raised:
        client.list_keypairs()
    assert raised.value.status == 301
    assert len(canned.paths) == 1


def test_the_request_line_carries_the_documented_paths_and_flags(client, canned):
    for body in (b"", b"", b"", {"keypair": {"keypairId": "k-9"}}, b""):
        answer(canned, 200, body)
    client.rename_keypair("k-1", name="x")
    client.update_keypair_description("k-1", description="y")
    client.delete_keypair("k-1")
    client.import_keypair(name="n", public_key="ssh-ed25519 AAAA", client_token="tok-1")
    client.attach_keypair("k-1", instance_ids=["i-1"])
    assert canned.paths == [
        "/bj/v2/keypair/k-1?rename",
        "/bj/v2/keypair/k-1?updateDesc",
        "/bj/v2/keypair/k-1",
        "/bj/v2/keypair?import&clientToken=tok-1",
        "/bj/v2/keypair/k-1?attach",
    ]
