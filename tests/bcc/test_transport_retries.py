"""Retries against the sandbox: what is retried, how often, how long it waits, and that each attempt is re-signed."""

from datetime import UTC, datetime, timedelta

import pytest

from keypairs.bcc import errors
from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials, format_timestamp
from tests.sandbox_instances import linux_instances


class SteppingClock:
    """Starts at the real time and moves one second on at every reading, recording each one."""

    def __init__(self, start=None):
        self.next = start or datetime.now(UTC)
        self.readings = []

    def __call__(self):
        reading, self.next = self.next, self.next + timedelta(seconds=1)
        self.readings.append(reading)
        return reading


@pytest.fixture
def sleeps():
    return []


def make_client(sandbox, sleeps, **options):
    return BccClient(
        credentials=Credentials(sandbox.access_key_id, sandbox.secret_access_key),
        endpoint=sandbox.endpoint_template.replace("{region}", "bj"),
        region="bj",
        sleep=sleeps.append,
        **options,
    )


def statuses(sandbox, operation):
    return [record.status for record in sandbox.request_log if record.operation == operation]


def test_a_read_that_meets_two_503s_succeeds_on_the_third_attempt_each_freshly_signed(sandbox, sleeps):
    clock = SteppingClock()
    client = make_client(sandbox, sleeps, clock=clock)
    sandbox.inject("status", status=503, count=2, operation="list")

    assert client.list_keypairs() == []

    assert client.last_call.attempts == 3
    assert statuses(sandbox, "list") == [503, 503, 200]
    # One clock reading per attempt, each a different signing time. The sandbox only lets
    # correctly signed requests meet a fault, so all three signatures were checked and valid.
    assert len({format_timestamp(reading) for reading in clock.readings}) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.25
    assert 0 <= sleeps[1] <= 0.5


def test_an_expired_signature_is_retried_with_a_new_timestamp(sandbox, sleeps, caplog):
    now = datetime.now(UTC)
    readings = iter([now - timedelta(hours=2), now])
    client = make_client(sandbox, sleeps, clock=lambda: next(readings))

    assert client.list_keypairs() == []

    # A request refused at the signature check names no operation in the sandbox's log.
    assert [(record.path, record.status) for record in sandbox.request_log] == [
        ("/bj/v2/keypair", 400),
        ("/bj/v2/keypair", 200),
    ]
    assert client.last_call.attempts == 2
    outcomes = [record.bcc_outcome for record in caplog.records if record.name == "keypairs.bcc"]
    assert outcomes == [errors.REQUEST_EXPIRED, "ok"]


def test_a_read_gives_up_after_max_attempts_with_the_last_answer(sandbox, sleeps):
    client = make_client(sandbox, sleeps, max_attempts=3)
    sandbox.inject("status", status=503, count=5, operation="get")

    with pytest.raises(errors.BccApiError) as raised:
        client.get_keypair("k-1")

    assert (raised.value.status, raised.value.code, raised.value.attempts) == (503, "ServiceUnavailable", 3)
    assert statuses(sandbox, "get") == [503, 503, 503]
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_every_transient_status_is_retried_for_reads(sandbox, sleeps, status):
    client = make_client(sandbox, sleeps)
    sandbox.inject("status", status=status, operation="list")
    client.list_keypairs()
    assert statuses(sandbox, "list") == [status, 200]


def test_max_attempts_of_one_means_no_retry(sandbox, sleeps):
    client = make_client(sandbox, sleeps, max_attempts=1)
    sandbox.inject("status", status=503, operation="list")
    with pytest.raises(errors.BccApiError):
        client.list_keypairs()
    assert sleeps == []


def test_a_create_that_meets_a_503_is_not_retried(sandbox, sleeps):
    client = make_client(sandbox, sleeps)
    sandbox.inject("status", status=503, operation="create")
    with pytest.raises(errors.BccApiError) as raised:
        client.create_keypair(name="alice")
    assert raised.value.attempts == 1
    assert statuses(sandbox, "create") == [503]
    assert sleeps == []


def test_rename_and_description_updates_are_retried_because_repeating_them_changes_nothing(sandbox, sleeps):
    client = make_client(sandbox, sleeps)
    keypair = client.create_keypair(name="alice")
    sandbox.inject("status", status=500, operation="rename")
    sandbox.inject("drop", operation="update_description")

    client.rename_keypair(keypair.keypair_id, name="alice-2")
    client.update_keypair_description(keypair.keypair_id, description="retried")

    fetched = client.get_keypair(keypair.keypair_id)
    assert (fetched.name, fetched.description) == ("alice-2", "retried")
    assert statuses(sandbox, "rename") == [500, 200]
    assert statuses(sandbox, "update_description") == [None, 200]


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("delete", lambda client, keypair_id: client.delete_keypair(keypair_id)),
        ("attach", lambda client, keypair_id: client.attach_keypair(keypair_id, instance_ids=["i-1"])),
        ("detach", lambda client, keypair_id: client.detach_keypair(keypair_id, instance_ids=["i-1"])),
    ],
)
def test_delete_attach_and_detach_are_not_retried_once_the_request_may_have_arrived(sandbox, sleeps, operation, call):
    client = make_client(sandbox, sleeps)
    keypair = client.create_keypair(name="alice")
    linux_instances(sandbox, "bj", ids=["i-1"])
    sandbox.inject("status", status=503, operation=operation)

    with pytest.raises(errors.BccApiError) as raised:
        call(client, keypair.keypair_id)

    assert raised.value.attempts == 1
    assert statuses(sandbox, operation) == [503]


def test_backoff_sleeps_stay_under_their_exponential_bounds_and_the_cap(sandbox, sleeps):
    client = make_client(sandbox, sleeps, max_attempts=7)
    sandbox.inject("status", status=503, count=6, operation="list")

    client.list_keypairs()

    assert len(sleeps) == 6
    for attempt, slept in enumerate(sleeps, start=1):
        assert 0 <= slept <= min(4.0, 0.25 * 2 ** (attempt - 1))
