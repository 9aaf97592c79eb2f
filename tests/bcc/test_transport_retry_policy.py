"""Which failures are retried for which operations, and how long the back-off waits."""

import pytest

from keypairs.bcc import errors
from keypairs.bcc.transport import BACKOFF_CAP_SECONDS, RetryMode, backoff_delay, is_retryable

IDEMPOTENT, UNSENT_ONLY = RetryMode.IDEMPOTENT, RetryMode.UNSENT_ONLY


def api_error(status, code="InternalError"):
    return errors.BccApiError(code=code, status=status)


@pytest.mark.parametrize(
    "error",
    [errors.BccConnectError(), errors.BccConnectError(errors.NAME_NOT_RESOLVED), errors.BccTimeoutError(sent=False)],
)
@pytest.mark.parametrize("mode", [IDEMPOTENT, UNSENT_ONLY])
def test_a_request_that_never_left_is_retried_for_every_operation(error, mode):
    assert is_retryable(error, mode)


@pytest.mark.parametrize("mode", [IDEMPOTENT, UNSENT_ONLY])
def test_a_tls_failure_is_never_retried(mode):
    assert not is_retryable(errors.BccTLSError(errors.TLS_CERTIFICATE_NOT_TRUSTED), mode)


@pytest.mark.parametrize(
    "error",
    [
        errors.BccTimeoutError(sent=True),
        errors.BccConnectionLostError(),
        errors.BccBadResponseError(status=502),
        errors.BccBadResponseError(status=504),
        api_error(429, "TooManyRequests"),
        api_error(500),
        api_error(502),
        api_error(503),
        api_error(504),
        api_error(400, errors.REQUEST_EXPIRED),
    ],
)
def test_transient_failures_are_retried_only_for_idempotent_operations(error):
    assert is_retryable(error, IDEMPOTENT)
    assert not is_retryable(error, UNSENT_ONLY)


@pytest.mark.parametrize(
    "error",
    [
        api_error(400, errors.KEYPAIR_NAME_INVALID),
        api_error(404, errors.KEYPAIR_NOT_EXIST),
        api_error(403, errors.INVALID_ACCESS_KEY_ID),
        api_error(400, errors.SIGNATURE_DOES_NOT_MATCH),
        api_error(413, errors.KEYPAIR_QUOTA_EXCEEDED),
        errors.BccBadResponseError(status=200),
        errors.BccBadResponseError(status=404),
    ],
)
@pytest.mark.parametrize("mode", [IDEMPOTENT, UNSENT_ONLY])
def test_answers_that_would_not_change_on_a_second_try_are_not_retried(error, mode):
    assert not is_retryable(error, mode)


def test_backoff_grows_exponentially_under_a_cap_with_full_jitter():
    ceilings = []
    for attempt in range(1, 10):
        backoff_delay(attempt, uniform=lambda low, high: ceilings.append((low, high)) or high)
    assert ceilings[:4] == [(0.0, 0.25), (0.0, 0.5), (0.0, 1.0), (0.0, 2.0)]
    assert all(high == BACKOFF_CAP_SECONDS for _low, high in ceilings[4:])


def test_backoff_delays_stay_within_their_bounds():
    for attempt in range(1, 8):
        for _ in range(50):
            assert 0.0 <= backoff_delay(attempt) <= min(BACKOFF_CAP_SECONDS, 0.25 * 2 ** (attempt - 1))
