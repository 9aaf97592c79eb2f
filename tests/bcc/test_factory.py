"""get_client builds region clients from Django settings, once per process, and follows setting changes."""

import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from keypairs.bcc import errors
from keypairs.bcc.client import BccClient
from keypairs.bcc.factory import get_client, reset_clients
from keypairs.sandbox import SandboxServer


@pytest.fixture(autouse=True)
def fresh_cache():
    reset_clients()
    yield
    reset_clients()


@pytest.fixture
def bcc_settings(sandbox):
    """Settings that point the portal at the sandbox, as `make run` does."""
    with override_settings(
        BCC_ACCESS_KEY_ID=sandbox.access_key_id,
        BCC_SECRET_ACCESS_KEY=sandbox.secret_access_key,
        BCC_ENDPOINT=sandbox.endpoint_template,
        BCC_REGIONS=["bj", "gz"],
        BCC_CONNECT_TIMEOUT=1.0,
        BCC_READ_TIMEOUT=5.0,
        BCC_MAX_ATTEMPTS=3,
        BCC_CA_BUNDLE=True,
    ):
        yield


def test_it_builds_a_working_client_for_a_configured_region(bcc_settings, sandbox):
    client = get_client("gz")
    assert isinstance(client, BccClient)
    assert client.endpoint == sandbox.url + "/gz"
    keypair = client.create_keypair(name="alice")
    assert [stored["keypairId"] for stored in sandbox.keypairs("gz")] == [keypair.keypair_id]


def test_it_returns_the_same_client_for_a_region_and_another_for_another_region(bcc_settings):
    assert get_client("bj") is get_client("bj")
    assert get_client("gz") is not get_client("bj")


def test_it_refuses_a_region_that_is_not_configured(bcc_settings):
    with pytest.raises(ValueError, match=r"^BCC region 'hkg' is not one of BCC_REGIONS\.$"):
        get_client("hkg")


def test_changed_settings_give_a_new_client_and_the_old_one_is_dropped(bcc_settings, sandbox):
    before = get_client("bj")
    with override_settings(BCC_MAX_ATTEMPTS=1):
        during = get_client("bj")
        sandbox.inject("status", status=503, operation="list")
        with pytest.raises(errors.BccApiError) as raised:
            during.list_keypairs()
        assert raised.value.attempts == 1
    after = get_client("bj")
    assert len({id(before), id(during), id(after)}) == 3


def test_the_read_timeout_setting_is_used(bcc_settings, sandbox):
    sandbox.inject("latency", seconds=2, operation="get", count=3)
    with override_settings(BCC_READ_TIMEOUT=0.2, BCC_MAX_ATTEMPTS=1), pytest.raises(errors.BccTimeoutError) as raised:
        get_client("bj").get_keypair("k-1")
    assert raised.value.kind == "read_timeout"


def test_a_ca_bundle_setting_lets_the_client_trust_a_private_certificate(bcc_settings):
    with SandboxServer(tls=True) as tls_sandbox:
        with override_settings(
            BCC_ACCESS_KEY_ID=tls_sandbox.access_key_id,
            BCC_SECRET_ACCESS_KEY=tls_sandbox.secret_access_key,
            BCC_ENDPOINT=tls_sandbox.endpoint_template,
            BCC_CA_BUNDLE=str(tls_sandbox.cert_path),
        ):
            assert get_client("bj").list_keypairs() == []
        with (
            override_settings(
                BCC_ACCESS_KEY_ID=tls_sandbox.access_key_id,
                BCC_SECRET_ACCESS_KEY=tls_sandbox.secret_access_key,
                BCC_ENDPOINT=tls_sandbox.endpoint_template,
            ),
            pytest.raises(errors.BccTLSError),
        ):
            get_client("bj").list_keypairs()


@pytest.mark.parametrize("missing", ["BCC_ACCESS_KEY_ID", "BCC_SECRET_ACCESS_KEY"])
def test_missing_credentials_are_a_configuration_error(bcc_settings, missing):
    with override_settings(**{missing: ""}), pytest.raises(ImproperlyConfigured, match="must be set"):
        get_client("bj")


@pytest.mark.parametrize("ca_bundle", [False, "", None])
def test_tls_verification_cannot_be_turned_off_by_settings(bcc_settings, ca_bundle):
    with override_settings(BCC_CA_BUNDLE=ca_bundle), pytest.raises(ImproperlyConfigured, match="cannot be turned off"):
        get_client("bj")


def test_a_ca_bundle_setting_that_names_no_file_is_a_configuration_error(bcc_settings, tmp_path):
    missing = tmp_path / "ca.pem"
    with override_settings(BCC_CA_BUNDLE=str(missing)), pytest.raises(ImproperlyConfigured) as raised:
        get_client("bj")
    assert str(raised.value) == f"BCC_CA_BUNDLE names {missing}, which does not exist."


def test_reset_clients_forgets_every_client(bcc_settings):
    before = get_client("bj")
    reset_clients()
    assert get_client("bj") is not before


def test_threads_asking_at_once_share_one_client(bcc_settings):
    seen = []
    start = threading.Barrier(8)

    def ask():
        start.wait()
        seen.append(get_client("bj"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 1


def test_a_caller_may_lower_the_attempts_but_never_raise_them(bcc_settings, sandbox):
    sandbox.inject("status", status=503, operation="list", count=10)

    with pytest.raises(errors.BccApiError):
        get_client("bj", max_attempts=1).list_keypairs()
    with override_settings(BCC_MAX_ATTEMPTS=2), pytest.raises(errors.BccApiError):
        get_client("bj", max_attempts=5).list_keypairs()

    assert [record.status for record in sandbox.request_log] == [503, 503, 503]
    assert get_client("bj", max_attempts=1) is not get_client("bj")
