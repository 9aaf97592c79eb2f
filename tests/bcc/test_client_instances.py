"""Instances and binding through the portal's client, over real HTTP against the BCC sandbox."""

import pytest

from keypairs.bcc import errors
from keypairs.bcc.client import BccClient
from keypairs.bcc.models import BindingResult, Instance
from keypairs.bcc.signer import Credentials
from tests.sandbox_instances import linux_instances, windows_instances


@pytest.fixture
def client(sandbox):
    with BccClient(
        credentials=Credentials(sandbox.access_key_id, sandbox.secret_access_key),
        endpoint=sandbox.endpoint_template.replace("{region}", "bj"),
        region="bj",
        sleep=lambda seconds: None,
    ) as client:
        yield client


def list_operations(sandbox):
    return [record for record in sandbox.request_log if record.operation == "list_instances"]


def test_get_instance_reads_the_instance_model(client, sandbox):
    (instance_id,) = linux_instances(
        sandbox, "bj", 1, name="web-1", status="Stopped", internalIp="192.168.0.9", tags={"team": "web", "env": ""}
    )
    instance = client.get_instance(instance_id)
    assert isinstance(instance, Instance)
    assert (instance.instance_id, instance.name, instance.status) == (instance_id, "web-1", "Stopped")
    assert (instance.internal_ip, instance.zone_name, instance.os_name) == ("192.168.0.9", "cn-bj-a", "CentOS")
    assert instance.tags == (("team", "web"), ("env", ""))
    assert (instance.keypair_id, instance.keypair_name) == (None, None)
    assert (instance.is_windows, instance.can_bind) == (False, True)
    assert instance.request_id


def test_an_instance_shows_the_key_pair_bound_to_it(client, sandbox):
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    keypair = client.create_keypair(name="alice")
    client.attach_keypair(keypair.keypair_id, instance_ids=[instance_id])
    instance = client.get_instance(instance_id)
    assert (instance.keypair_id, instance.keypair_name) == (keypair.keypair_id, "alice")


def test_list_instances_follows_next_marker_one_page_request_at_a_time(client, sandbox):
    made = linux_instances(sandbox, "bj", 5)
    pages = client.iter_instances(page_size=2)
    assert [next(pages).instance_id for _ in range(2)] == made[:2]
    assert len(list_operations(sandbox)) == 1
    assert [instance.instance_id for instance in pages] == made[2:]
    assert len(list_operations(sandbox)) == 3
    assert [instance.instance_id for instance in client.list_instances()] == made


def test_list_instances_sends_bcc_s_filters(client, sandbox):
    linux_instances(sandbox, "bj", 2, name="web", tags={"team": "web"})
    linux_instances(sandbox, "bj", 1, name="api", status="Stopped", zoneName="cn-bj-b", tags={"team": "api"})
    windows_instances(sandbox, "bj", 1, name="reports", tags={"team": "web"})

    def names(**filters):
        return [instance.name for instance in client.list_instances(**filters)]

    assert names(tags=["team:web"]) == ["web-1", "web-2", "reports"]
    assert names(tags=["team:web"], fuzzy_instance_name="web") == ["web-1", "web-2"]
    assert names(status=["Stopped", "Starting"]) == ["api"]
    assert names(zone_name="cn-bj-b") == ["api"]
    assert names(instance_names=["api", "reports"]) == ["api", "reports"]
    assert [instance.is_windows for instance in client.list_instances(instance_names=["reports"])] == [True]


@pytest.mark.parametrize("bad", [{"status": "Running"}, {"tags": ["team:web,x"]}, {"page_size": 0}])
def test_list_instances_refuses_filters_it_cannot_send(client, sandbox, bad):
    with pytest.raises(ValueError):
        client.list_instances(**bad)
    assert list_operations(sandbox) == []


def test_get_instance_refuses_an_id_that_is_not_one(client, sandbox):
    with pytest.raises(ValueError, match="Not a BCC instance id"):
        client.get_instance("../keypair")
    assert sandbox.request_log == []


def test_an_unknown_instance_is_instance_not_exist(client):
    with pytest.raises(errors.BccApiError) as raised:
        client.get_instance("i-nowhere1")
    assert (raised.value.code, raised.value.status) == (errors.INSTANCE_NOT_EXIST, 404)


def test_attach_reports_the_instances_bcc_could_not_bind(client, sandbox):
    keypair = client.create_keypair(name="alice")
    good = linux_instances(sandbox, "bj", 1)
    starting = linux_instances(sandbox, "bj", 1, status="Starting")
    result = client.attach_keypair(keypair.keypair_id, instance_ids=[*good, *starting])
    assert isinstance(result, BindingResult)
    assert (result.failed_instance_ids, result.all_done) == (tuple(starting), False)
    assert [instance.keypair_id for instance in client.list_instances()] == [keypair.keypair_id, None]


def test_attach_where_nothing_can_be_bound_is_bcc_s_error(client, sandbox):
    keypair = client.create_keypair(name="alice")
    windows = windows_instances(sandbox, "bj", 1)
    with pytest.raises(errors.BccApiError) as raised:
        client.attach_keypair(keypair.keypair_id, instance_ids=windows)
    assert (raised.value.code, raised.value.status) == (errors.UNSUPPORT_OS_TYPE, 403)


def test_binding_another_key_pair_replaces_the_first_and_unbinding_it_frees_the_first_for_delete(client, sandbox):
    first, second = client.create_keypair(name="alice"), client.create_keypair(name="bob")
    (instance_id,) = linux_instances(sandbox, "bj", 1)
    client.attach_keypair(first.keypair_id, instance_ids=[instance_id])
    client.attach_keypair(second.keypair_id, instance_ids=[instance_id])
    assert client.get_keypair(first.keypair_id).instance_count == 0
    client.delete_keypair(first.keypair_id)
    assert client.detach_keypair(second.keypair_id, instance_ids=[instance_id]).all_done
    assert client.get_instance(instance_id).keypair_id is None


def test_an_answer_without_a_body_means_nothing_failed():
    assert BindingResult.from_api({}, request_id="r") == BindingResult((), "r")
    with pytest.raises(ValueError):
        BindingResult.from_api({"failedInstanceIdList": "i-1"})


def test_an_instance_without_an_id_is_not_an_instance():
    with pytest.raises(ValueError):
        Instance.from_api({"name": "web"})
    assert Instance.from_api({"id": "i-1", "keypairId": "", "keypairName": "stale"}).keypair_name is None
