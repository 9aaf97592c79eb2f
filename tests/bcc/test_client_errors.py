"""The two error families: what each says, and what a caller can branch on."""

import pytest

from keypairs.bcc import errors


def test_a_connect_error_says_the_request_was_not_sent():
    error = errors.BccConnectError(operation="get_keypair", region="bj")
    assert str(error) == "Could not connect to BCC; the request was not sent."
    assert error.sent is False
    assert error.kind == "connect_error"
    assert (error.operation, error.region) == ("get_keypair", "bj")
    assert isinstance(error, errors.BccTransportError)
    assert isinstance(error, errors.BccError)


@pytest.mark.parametrize(
    ("sent", "message", "kind"),
    [
        (False, "Connecting to BCC timed out; the request was not sent.", "connect_timeout"),
        (True, "BCC did not answer in time.", "read_timeout"),
    ],
)
def test_a_timeout_says_whether_the_request_may_have_been_sent(sent, message, kind):
    error = errors.BccTimeoutError(sent=sent)
    assert (str(error), error.sent, error.kind) == (message, sent, kind)


def test_tls_errors_were_never_sent_and_say_tls_handshake_failed():
    assert str(errors.BccTLSError()) == "TLS handshake failed; the request was not sent."
    untrusted = errors.BccTLSError(errors.TLS_CERTIFICATE_NOT_TRUSTED)
    assert str(untrusted) == "TLS handshake failed: BCC's certificate is not trusted; the request was not sent."
    assert untrusted.sent is False


def test_a_bad_response_carries_its_status_and_request_id_but_not_its_body():
    error = errors.BccBadResponseError(status=502, request_id="req-9")
    assert str(error) == "BCC's answer could not be read (HTTP 502)."
    assert (error.status, error.request_id, error.sent) == (502, "req-9", True)


def test_a_lost_connection_may_have_been_sent():
    error = errors.BccConnectionLostError()
    assert str(error) == "The connection to BCC was lost before it answered."
    assert error.sent is True


def test_an_unknown_outcome_keeps_everything_known_about_the_failure_behind_it():
    cause = errors.BccBadResponseError(
        status=502, operation="create_keypair", region="gz", request_id="req-3", attempts=1, latency_ms=40
    )
    error = errors.BccOutcomeUnknown.from_error(errors.OUTCOME_UNKNOWN_CREATE, cause)
    assert str(error) == "BCC did not answer; the key pair may or may not have been created."
    assert (error.reason, error.status, error.request_id) == ("bad_response", 502, "req-3")
    assert (error.operation, error.region, error.attempts, error.latency_ms) == ("create_keypair", "gz", 1, 40)
    assert error.sent is True
    assert isinstance(error, errors.BccTransportError)


def test_an_api_error_carries_bccs_code_status_and_request_id_and_keeps_its_message_apart():
    error = errors.BccApiError(
        code=errors.KEYPAIR_NOT_EXIST, status=404, message="The keypair k-1 does not exist.", request_id="req-4"
    )
    assert str(error) == "BCC refused the request: Keypair.KeypairNotExist (HTTP 404)."
    assert (error.code, error.status, error.request_id) == ("Keypair.KeypairNotExist", 404, "req-4")
    assert error.message == "The keypair k-1 does not exist."
    assert not isinstance(error, errors.BccTransportError)
