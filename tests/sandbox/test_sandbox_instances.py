"""The sandbox's instances: listing with paging and filters, detail, the control API, the seed."""

import json

import pytest
from sandbox_http import assert_bce_error

from keypairs.sandbox import SandboxServer
from keypairs.sandbox.seed import InstanceSeed
from tests.sandbox_instances import linux_instances, windows_instances


def list_instances(bcc, **params):
    response = bcc.request("GET", "/v2/instance", query=list(params.items()))
    assert response.status_code == 200, response.text
    return response.json()


def ids(answer):
    return [instance["id"] for instance in answer["instances"]]


def test_an_empty_region_lists_no_instances_and_no_next_marker(bcc):
    assert list_instances(bcc) == {"marker": "", "isTruncated": False, "maxKeys": 1000, "instances": []}


def test_the_detail_is_bcc_s_instance_model(sandbox, bcc):
    (instance_id,) = linux_instances(
        sandbox, "bj", 1, name="web-1", internalIp="192.168.0.7", zoneName="cn-bj-b", tags={"team": "web"}
    )
    response = bcc.request("GET", f"/v2/instance/{instance_id}")
    assert response.status_code == 200
    instance = response.json()["instance"]
    assert instance["id"] == instance_id
    assert (instance["name"], instance["status"], instance["internalIp"]) == ("web-1", "Running", "192.168.0.7")
    assert (instance["zoneName"], instance["osName"]) == ("cn-bj-b", "CentOS")
    assert instance["tags"] == [{"tagKey": "team", "tagValue": "web"}]
    assert (instance["keypairId"], instance["keypairName"]) == ("", "")


def test_an_unknown_instance_is_instance_not_exist(bcc):
    assert_bce_error(bcc.request("GET", "/v2/instance/i-nowhere1"), 404, "Keypair.InstanceNotExist")


def test_listing_pages_with_marker_and_max_keys(sandbox, bcc):
    made = linux_instances(sandbox, "bj", 5)
    first = list_instances(bcc, maxKeys="2")
    assert (ids(first), first["isTruncated"], first["nextMarker"]) == (made[:2], True, made[2])
    second = list_instances(bcc, maxKeys="2", marker=first["nextMarker"])
    last = list_instances(bcc, maxKeys="2", marker=second["nextMarker"])
    assert ids(second) == made[2:4]
    assert (ids(last), last["isTruncated"], "nextMarker" in last) == (made[4:], False, False)


def test_a_marker_never_issued_is_invalid(bcc):
    assert_bce_error(bcc.request("GET", "/v2/instance", query=[("marker", "i-nowhere1")]), 400, "InvalidHTTPRequest")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"zoneName": "cn-bj-b"}, ["web-2"]),
        ({"status": "Stopped,Starting"}, ["api", "ci"]),
        ({"instanceNames": "web-1,db"}, ["web-1", "db"]),
        ({"fuzzyInstanceName": "web"}, ["web-1", "web-2"]),
        ({"internalIp": "192.168.0.12"}, ["web-2"]),
        ({"privateIps": "192.168.0.11,192.168.0.14"}, ["web-1", "db"]),
        ({"tags": "team:web"}, ["web-1", "web-2"]),
        ({"tags": "env"}, ["web-1", "api"]),
        ({"tags": "team:data,env:staging"}, ["api", "db"]),
        ({"fuzzyInstanceName": "web", "zoneName": "cn-bj-a"}, ["web-1"]),
        ({"vpcId": "vpc-other"}, ["db"]),
        ({"dedicatedHostId": "d-host1"}, ["ci"]),
        ({"dedicateHostId": "d-host1"}, ["ci"]),
    ],
)
def test_listing_filters_combine_fields_with_and_and_values_with_or(sandbox, bcc, params, expected):
    made = {
        "web-1": {"internalIp": "192.168.0.11", "tags": {"team": "web", "env": "prod"}},
        "web-2": {"internalIp": "192.168.0.12", "zoneName": "cn-bj-b", "tags": {"team": "web"}},
        "api": {"internalIp": "192.168.0.13", "status": "Stopped", "tags": {"env": "staging"}},
        "db": {"internalIp": "192.168.0.14", "vpcId": "vpc-other", "tags": {"team": "data"}},
        "ci": {"internalIp": "192.168.0.15", "status": "Starting", "dedicatedHostId": "d-host1"},
    }
    for name, fields in made.items():
        linux_instances(sandbox, "bj", 1, name=name, **fields)
    assert [instance["name"] for instance in list_instances(bcc, **params)["instances"]] == expected


def test_listing_by_instance_ids_and_by_key_pair(sandbox, bcc):
    made = linux_instances(sandbox, "bj", 3)
    keypair_id = bcc.create("alice").json()["keypair"]["keypairId"]
    bcc.action(keypair_id, "attach", {"instanceIds": [made[1]]})
    assert ids(list_instances(bcc, instanceIds=f"{made[2]},{made[0]}")) == [made[0], made[2]]
    assert ids(list_instances(bcc, keypairId=keypair_id)) == [made[1]]


def test_instances_belong_to_their_access_key_and_region(sandbox, bcc):
    linux_instances(sandbox, "gz", 2)
    assert list_instances(bcc)["instances"] == []
    assert len(list_instances(bcc.for_region("gz"))["instances"]) == 2


def test_listing_checks_the_signature_and_meets_faults(sandbox, bcc):
    linux_instances(sandbox, "bj", 1)
    forged = bcc.with_keys(sandbox.access_key_id, "not-the-secret").request("GET", "/v2/instance")
    assert_bce_error(forged, 400, "SignatureDoesNotMatch")
    sandbox.inject("status", operation="list_instances", status=500)
    assert_bce_error(bcc.request("GET", "/v2/instance"), 500, "InternalError")
    assert len(list_instances(bcc)["instances"]) == 1


def test_the_helpers_keep_ids_they_are_given(sandbox):
    assert linux_instances(sandbox, "bj", ids=["i-web1", "i-web2"]) == ["i-web1", "i-web2"]
    assert windows_instances(sandbox, "bj", 1)[0].startswith("i-")
    assert [instance["osName"] for instance in sandbox.instances()] == ["CentOS", "CentOS", "Windows Server"]


# --- the control API ------------------------------------------------------------------


def control(bcc, method, path, body=None, region="bj"):
    return bcc.request(method, f"/_sandbox/{path}", query=[("region", region)], json=body, prefixed=False)


def test_the_control_api_adds_lists_changes_and_releases_instances(sandbox, bcc):
    added = control(bcc, "POST", "instances", {"instances": [{"id": "i-ctl1", "name": "ctl", "osType": "linux"}, {}]})
    assert added.status_code == 200
    (first, second) = added.json()["instances"]
    assert (first["id"], first["name"], first["status"]) == ("i-ctl1", "ctl", "Running")
    assert second["id"].startswith("i-")

    changed = control(bcc, "PUT", "instances/i-ctl1", {"status": "Starting"})
    assert changed.json()["instance"]["status"] == "Starting"
    listed = control(bcc, "GET", "instances").json()["instances"]
    assert [(item["id"], item["status"]) for item in listed] == [("i-ctl1", "Starting"), (second["id"], "Running")]

    assert control(bcc, "DELETE", "instances/i-ctl1").status_code == 200
    assert [item["id"] for item in sandbox.instances()] == [second["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [{"keypairId": "k-1"}]},
        {"instances": [{"status": "Sleeping"}]},
        {"instances": [{"osType": "beos"}]},
        {"instances": [{"id": "i-bad/id"}]},
        {"instances": [{"tags": [{"tagKey": 1}]}]},
        {"instances": [{"id": "i-twice"}, {"id": "i-twice"}]},
        {"instances": {}},
        {"servers": []},
    ],
)
def test_the_control_api_refuses_bad_instances_and_adds_none(sandbox, bcc, body):
    assert_bce_error(control(bcc, "POST", "instances", body), 400, "InappropriateJSON")
    assert sandbox.instances() == []


def test_the_control_api_refuses_an_unknown_status_and_an_unknown_instance(sandbox, bcc):
    linux_instances(sandbox, "bj", ids=["i-one"])
    assert_bce_error(control(bcc, "PUT", "instances/i-one", {"status": "Asleep"}), 400, "InappropriateJSON")
    assert_bce_error(control(bcc, "PUT", "instances/i-two", {"status": "Stopped"}), 404, "Keypair.InstanceNotExist")
    assert sandbox.instances()[0]["status"] == "Running"


# --- the seed -------------------------------------------------------------------------


def test_the_built_in_seed_gives_every_region_the_same_plausible_machines_after_a_reset_too():
    with SandboxServer(seed=InstanceSeed.built_in()) as server:
        beijing = server.instances("bj")
        assert len(beijing) == 6
        assert {instance["status"] for instance in beijing} == {"Running", "Stopped", "Starting"}
        assert any(instance["osName"].startswith("Windows") for instance in beijing)
        server.set_instance_status(beijing[0]["id"], "Stopped")
        server.reset()
        assert server.instances("bj") == beijing
        assert {instance["id"] for instance in server.instances("gz")}.isdisjoint(i["id"] for i in beijing)


def test_a_seed_file_gives_each_region_its_instances(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(
        json.dumps({"bj": [{"id": "i-file1", "name": "from-file", "tags": [{"tagKey": "team", "tagValue": "web"}]}]})
    )
    with SandboxServer(seed=InstanceSeed.from_file(path)) as server:
        assert [(i["id"], i["name"], i["tags"]) for i in server.instances("bj")] == [
            ("i-file1", "from-file", [{"tagKey": "team", "tagValue": "web"}])
        ]
        assert server.instances("gz") == []


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"bj": {}}', '{"bj": [{"status": "Asleep"}]}', '{"bj": [{"id": "i-1"}, {"id": "i-1"}]}'],
)
def test_a_bad_seed_file_is_refused_with_a_sentence(tmp_path, content):
    path = tmp_path / "instances.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="instance"):
        InstanceSeed.from_file(path)
