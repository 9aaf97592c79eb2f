"""Baidu's official Python SDK (bce-python-sdk) works against the sandbox unchanged.

The SDK is a benchmark dependency (requirements-bench.txt, installed by ``make bench`` and by
.ci/run), not a runtime or test one: without it these tests skip, saying so; CI lists the
``sdk`` group in REQUIRE_GROUPS, so there they must run.
Pointed at ``http://127.0.0.1:PORT`` with no region prefix, it works on region bj.
"""

import importlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.sandbox_instances import linux_instances, windows_instances

pytestmark = pytest.mark.sdk

try:
    bcc_client = importlib.import_module("baidubce.services.bcc.bcc_client")
    bce_client_configuration = importlib.import_module("baidubce.bce_client_configuration")
    bce_credentials = importlib.import_module("baidubce.auth.bce_credentials")
    bce_exception = importlib.import_module("baidubce.exception")
    SDK_MISSING = None
except ImportError as error:
    SDK_MISSING = f"the official SDK is not installed ({error}); `make .venv/.bench-installed` installs it"


@pytest.fixture
def sdk(sandbox):
    if SDK_MISSING:
        pytest.skip(SDK_MISSING)
    config = bce_client_configuration.BceClientConfiguration(
        credentials=bce_credentials.BceCredentials(sandbox.access_key_id, sandbox.secret_access_key),
        endpoint=sandbox.url,
    )
    return bcc_client.BccClient(config)


def test_the_sdk_creates_lists_reads_renames_and_deletes(sandbox, sdk):
    created = sdk.create_keypair(keypair_name="fromSdk", keypair_desc="made by the SDK")
    keypair_id = created.keypair.keypair_id
    assert created.keypair.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")

    listed = sdk.list_keypairs(max_keys=10)
    assert [keypair.keypair_id for keypair in listed.keypairs] == [keypair_id]

    sdk.rename_keypair(keypair_id=keypair_id, keypair_name="renamedBySdk")
    sdk.update_keypair_desc(keypair_id=keypair_id, keypair_desc="")
    detail = sdk.get_keypair(keypair_id=keypair_id).keypair
    assert (detail.name, detail.description, detail.region_id) == ("renamedBySdk", "", "bj")

    linux_instances(sandbox, "bj", ids=["i-sdk"])
    sdk.attach_keypair(keypair_id=keypair_id, instance_ids=["i-sdk"])
    with pytest.raises(bce_exception.BceHttpClientError) as in_use:
        sdk.delete_keypair(keypair_id=keypair_id)
    assert in_use.value.last_error.code == "Keypair.DeleteKeypairInUse"

    sdk.detach_keypair(keypair_id=keypair_id, instance_ids=["i-sdk"])
    sdk.delete_keypair(keypair_id=keypair_id)
    assert sandbox.keypairs() == []


def test_the_sdk_imports_a_public_key(sandbox, sdk):
    public_key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    imported = sdk.import_keypair(keypair_name="sdkImport", public_key=public_key)
    assert imported.keypair.public_key == public_key
    assert [keypair["name"] for keypair in sandbox.keypairs()] == ["sdkImport"]


def test_the_sdk_reads_the_sandbox_errors(sdk):
    with pytest.raises(bce_exception.BceHttpClientError) as missing:
        sdk.get_keypair(keypair_id="k-missing1")
    error = missing.value.last_error  # the SDK wraps the service error once it stops retrying
    assert error.status_code == 404
    assert error.code == "Keypair.KeypairNotExist"
    assert error.request_id


def test_the_sdk_lists_instances_page_by_page_with_filters(sandbox, sdk):
    web = linux_instances(sandbox, "bj", 3, name="web", tags={"team": "web"})
    linux_instances(sandbox, "bj", 1, name="db", status="Stopped")

    first = sdk.list_instances(max_keys=2)
    assert [instance.id for instance in first.instances] == web[:2]
    assert (first.is_truncated, first.next_marker) == (True, web[2])
    rest = sdk.list_instances(marker=first.next_marker, max_keys=2)
    assert [instance.name for instance in rest.instances] == ["web-3", "db"]
    assert rest.is_truncated is False

    tagged = sdk.list_instances(tags="team:web", status="Running")
    assert [instance.id for instance in tagged.instances] == web
    assert sdk.list_instances(instance_names="db", zone_name="cn-bj-a").instances[0].status == "Stopped"


def test_the_sdk_reads_an_instance_and_sees_the_key_pair_bound_to_it(sandbox, sdk):
    (instance_id,) = linux_instances(sandbox, "bj", 1, name="web-1", tags={"team": "web"})
    keypair = sdk.create_keypair(keypair_name="bound").keypair
    sdk.attach_keypair(keypair_id=keypair.keypair_id, instance_ids=[instance_id])

    instance = sdk.get_instance(instance_id=instance_id).instance
    assert (instance.id, instance.name, instance.status) == (instance_id, "web-1", "Running")
    assert (instance.keypair_id, instance.keypair_name) == (keypair.keypair_id, "bound")
    assert [(tag.tag_key, tag.tag_value) for tag in instance.tags] == [("team", "web")]
    assert sdk.get_keypair(keypair_id=keypair.keypair_id).keypair.instance_count == 1


def test_the_sdk_reads_the_binding_errors(sandbox, sdk):
    (windows,) = windows_instances(sandbox, "bj", 1)
    keypair_id = sdk.create_keypair(keypair_name="refused").keypair.keypair_id
    with pytest.raises(bce_exception.BceHttpClientError) as refused:
        sdk.attach_keypair(keypair_id=keypair_id, instance_ids=[windows])
    assert (refused.value.last_error.status_code, refused.value.last_error.code) == (403, "Keypair.UnsupportOsType")
    with pytest.raises(bce_exception.BceHttpClientError) as missing:
        sdk.get_instance(instance_id="i-nowhere1")
    assert missing.value.last_error.code == "Keypair.InstanceNotExist"
