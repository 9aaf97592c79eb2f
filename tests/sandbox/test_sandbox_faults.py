"""Injected faults, seen from the client's side: what it receives, and what the sandbox did meanwhile."""

import threading
import time

import pytest
import requests
from sandbox_http import SignedClient, assert_bce_error


def test_latency_delays_the_answer_then_answers_normally(sandbox, bcc):
    sandbox.inject("latency", seconds=0.3)
    started = time.monotonic()
    response = bcc.list()
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
        (502, "BadGateway"),
        (504, "GatewayTimeout"),
        (429, "TooManyRequests"),
        (403, "AccessDenied"),
    ],
)
def test_status_answers_a_bce_error_without_acting(sandbox, bcc, status, code):
    sandbox.inject("status", status=status, operation="create")
    assert_bce_error(bcc.create("never"), status, code)
    assert sandbox.keypairs() == []


def test_status_defaults_to_500(sandbox, bcc):
    sandbox.inject("status")
    assert_bce_error(bcc.list(), 500, "InternalError")


def test_drop_closes_the_connection_without_acting(sandbox, bcc):
    sandbox.inject("drop", operation="create")
    with pytest.raises(requests.ConnectionError):
        bcc.create("never")
    assert sandbox.keypairs() == []
    assert sandbox.request_log[-1] == ("POST", "/bj/v2/keypair", "create", None)


def test_commit_then_drop_creates_the_key_pair_but_never_answers(sandbox, bcc):
    sandbox.inject("commit_then_drop", operation="create")
    with pytest.raises(requests.ConnectionError):
        bcc.create("orphan")
    assert [keypair["name"] for keypair in sandbox.keypairs()] == ["orphan"]


def test_commit_then_drop_with_a_client_token_lets_a_retry_find_the_key_pair(sandbox, bcc):
    sandbox.inject("commit_then_drop", operation="create")
    token = [("clientToken", "retry-me")]
    with pytest.raises(requests.ConnectionError):
        bcc.create("retried", query=token)

    retry = bcc.create("retried", query=token)

    assert retry.status_code == 200
    assert retry.json()["keypair"]["keypairId"] == sandbox.keypairs()[0]["keypairId"]
    assert "privateKey" not in retry.json()["keypair"]  # lost with the dropped answer, for good
    assert len(sandbox.keypairs()) == 1


def test_a_fault_after_acting_generates_its_keys_when_injected_not_while_the_client_waits(sandbox, bcc, monkeypatch):
    from keypairs.sandbox import keys

    generated = []
    generate = keys.generate_rsa_keypair
    monkeypatch.setattr(keys, "generate_rsa_keypair", lambda: generated.append(1) or generate())
    sandbox.inject("commit_then_drop", operation="create", count=2)
    assert len(generated) == 2

    for name in ("first", "second"):
        with pytest.raises(requests.ConnectionError):
            bcc.create(name)

    assert len(generated) == 2
    # Each create stored a key of its own: a prepared key is never handed out twice.
    fingerprints = {keypair["fingerPrint"] for keypair in sandbox.keypairs()}
    assert len(fingerprints) == 2


def test_commit_then_hang_outlasts_a_short_read_timeout_after_committing(sandbox, bcc):
    sandbox.inject("commit_then_hang", operation="create", seconds=3)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        bcc.create("slowpoke", timeout=0.5)
    assert time.monotonic() - started < 2
    assert [keypair["name"] for keypair in sandbox.keypairs()] == ["slowpoke"]


def test_commit_then_hang_acts_on_other_operations_too(sandbox, bcc):
    keypair_id = bcc.create("doomed").json()["keypair"]["keypairId"]
    sandbox.inject("commit_then_hang", operation="delete", seconds=2)
    with pytest.raises(requests.ReadTimeout):
        bcc.request("DELETE", f"/v2/keypair/{keypair_id}", timeout=0.3)
    assert sandbox.keypairs() == []


def test_not_json_answers_an_html_page_without_acting(sandbox, bcc):
    sandbox.inject("not_json", operation="create")
    response = bcc.create("never")
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text == "<html>Bad Gateway</html>"
    assert "x-bce-request-id" in response.headers
    assert sandbox.keypairs() == []


def test_not_json_takes_another_status(sandbox, bcc):
    sandbox.inject("not_json", status=504)
    assert bcc.list().status_code == 504


def test_a_fault_applies_to_the_next_count_requests_only(sandbox, bcc):
    sandbox.inject("status", status=503, count=2)
    assert [bcc.list().status_code for _ in range(3)] == [503, 503, 200]
    assert sandbox.faults == []


def test_a_fault_for_one_operation_leaves_the_others_alone(sandbox, bcc):
    sandbox.inject("status", status=500, operation="delete")
    assert bcc.list().status_code == 200
    assert bcc.create("kept").status_code == 200
    assert_bce_error(bcc.delete(sandbox.keypairs()[0]["keypairId"]), 500, "InternalError")
    assert len(sandbox.keypairs()) == 1


def test_faults_are_met_in_the_order_they_were_injected(sandbox, bcc):
    sandbox.inject("status", status=500)
    sandbox.inject("status", status=503)
    assert [bcc.list().status_code for _ in range(3)] == [500, 503, 200]


def test_a_request_refused_for_its_signature_does_not_use_a_fault_up(sandbox, bcc):
    sandbox.inject("status", status=500)
    assert_bce_error(bcc.with_keys("f" * 32, "0" * 32).list(), 403, "InvalidAccessKeyId")
    assert_bce_error(bcc.list(), 500, "InternalError")


def test_clear_faults_forgets_pending_faults(sandbox, bcc):
    sandbox.inject("status", status=500)
    sandbox.clear_faults()
    assert sandbox.faults == []
    assert bcc.list().status_code == 200


def test_reset_forgets_key_pairs_and_faults(sandbox, bcc):
    bcc.create("forgotten")
    sandbox.inject("drop")
    sandbox.reset()
    assert sandbox.faults == []
    assert sandbox.keypairs() == []
    assert sandbox.request_log == []
    assert bcc.list().status_code == 200


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"kind": "explode"}, "kind"),
        ({"kind": "status", "operation": "reboot"}, "operation"),
        ({"kind": "status", "count": 0}, "count"),
        ({"kind": "latency"}, "seconds"),
        ({"kind": "commit_then_hang", "seconds": -1}, "seconds"),
        ({"kind": "status", "status": 200}, "status"),
    ],
)
def test_inject_refuses_arguments_it_cannot_honour(sandbox, arguments, complaint):
    kind = arguments.pop("kind")
    with pytest.raises(ValueError, match=complaint):
        sandbox.inject(kind, **arguments)
    assert sandbox.faults == []


class TestControlEndpoint:
    def control(self, sandbox, method, path, **kwargs):
        client = SignedClient(sandbox.url, sandbox.access_key_id, sandbox.secret_access_key, region=None)
        return client.request(method, path, **kwargs)

    def test_it_injects_a_fault_over_http(self, sandbox, bcc):
        response = self.control(
            sandbox, "POST", "/_sandbox/faults", json={"kind": "status", "status": 503, "operation": "list"}
        )
        assert response.status_code == 200
        assert response.json()["fault"] == {
            "kind": "status",
            "count": 1,
            "operation": "list",
            "status": 503,
            "seconds": None,
        }
        assert self.control(sandbox, "GET", "/_sandbox/faults").json()["faults"][0]["kind"] == "status"
        assert_bce_error(bcc.list(), 503, "ServiceUnavailable")

    def test_it_clears_faults_and_resets_over_http(self, sandbox, bcc):
        sandbox.inject("status", status=500)
        assert self.control(sandbox, "DELETE", "/_sandbox/faults").status_code == 200
        assert sandbox.faults == []
        bcc.create("forgotten")
        assert self.control(sandbox, "POST", "/_sandbox/reset").status_code == 200
        assert sandbox.keypairs() == []

    def test_it_lists_the_callers_key_pairs_of_a_region(self, sandbox, bcc):
        bcc.for_region("gz").create("southern")
        listed = self.control(sandbox, "GET", "/_sandbox/keypairs", query=[("region", "gz")]).json()
        assert [keypair["name"] for keypair in listed["keypairs"]] == ["southern"]

    def test_it_refuses_an_unsigned_or_wrongly_signed_control_request(self, sandbox):
        client = SignedClient(sandbox.url, sandbox.access_key_id, "0" * 32, region=None)
        assert_bce_error(client.request("POST", "/_sandbox/reset"), 400, "SignatureDoesNotMatch")
        response = client.request("POST", "/_sandbox/faults", json={"kind": "drop"}, authorization="none")
        assert_bce_error(response, 400, "InvalidHTTPAuthHeader")
        assert sandbox.faults == []

    def test_it_refuses_a_fault_it_cannot_honour(self, sandbox):
        response = self.control(sandbox, "POST", "/_sandbox/faults", json={"kind": "explode"})
        assert_bce_error(response, 400, "InappropriateJSON")
        unknown_field = self.control(sandbox, "POST", "/_sandbox/faults", json={"kind": "drop", "when": "now"})
        assert_bce_error(unknown_field, 400, "InappropriateJSON")

    def test_an_unknown_control_path_is_invalid_uri(self, sandbox):
        assert_bce_error(self.control(sandbox, "GET", "/_sandbox/everything"), 400, "InvalidURI")


def test_a_request_hanging_across_a_reset_stays_out_of_the_next_tests_log(sandbox, bcc):
    sandbox.inject("latency", seconds=1.0)
    hanging = threading.Thread(target=bcc.list, daemon=True)
    hanging.start()
    time.sleep(0.3)  # the request is in the sandbox, waiting
    sandbox.reset()
    hanging.join(5)

    assert sandbox.request_log == []
