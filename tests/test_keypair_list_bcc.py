""" "My key pairs" and the detail page say what BCC says, read through real HTTP from the sandbox.

The console is simulated by renaming or deleting key pairs in the sandbox with the BCC client,
behind the portal's back. BCC calls are counted in the sandbox's request log.
"""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.urls import reverse
from django.utils import timezone

from keypairs import bcc_state, services
from keypairs.audit import Origin, audit_record
from keypairs.bcc.factory import get_client
from keypairs.delivery import delivery_create
from keypairs.models import AuditEvent, KeyPairRequest
from tests.people import signed_in
from tests.sandbox_instances import linux_instances

LIST_URL = reverse("keypair_list")
Action = AuditEvent.Action
Status = KeyPairRequest.Status
FROZEN = datetime(2025, 3, 14, 9, 41, 27, tzinfo=UTC)
UNREACHABLE_AT_0941 = "BCC could not be reached at 14 Mar 2025, 09:41 UTC; showing the portal&#x27;s records"


def public_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


WAITING_PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgO\n-----END RSA PRIVATE KEY-----\n"
)


def in_bcc(owner, name: str, *, region: str = "bj", description: str = "", save: bool = True) -> KeyPairRequest:
    """A key pair imported into the sandbox, and the portal's record of it."""
    held = get_client(region).import_keypair(name=name, public_key=public_key(), description=description)
    record = KeyPairRequest(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        kind=KeyPairRequest.Kind.IMPORT,
        region=region,
        name=name,
        description=description,
        status=Status.CREATED,
        keypair_id=held.keypair_id,
        completed_at=timezone.now(),
    )
    if save:
        record.save()
    return record


def calls(sandbox, operation: str) -> Counter[str]:
    """Requests of ``operation`` per region (the first part of the sandbox's path)."""
    return Counter(record.path.split("/")[1] for record in sandbox.request_log if record.operation == operation)


def audit_rows(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def detail_url(record: KeyPairRequest) -> str:
    return reverse("keypair_detail", kwargs={"public_id": record.public_id})


@pytest.fixture
def frozen_clock(monkeypatch):
    monkeypatch.setattr(bcc_state, "clock", lambda: FROZEN)


# --- Changed outside the portal ---------------------------------------------------------------


def test_a_key_pair_renamed_in_the_console_shows_bccs_name_and_is_audited_once(alice, portal_on_sandbox):
    record = in_bcc(alice, "web-server", description="old words")
    client = get_client("bj")
    client.rename_keypair(record.keypair_id, name="web-renamed")
    client.update_keypair_description(record.keypair_id, description="new words")

    response = signed_in(alice).get(LIST_URL)
    again = signed_in(alice).get(LIST_URL, {"q": "web"})

    page = response.content.decode()
    assert response.status_code == 200
    assert ">web-renamed</a>" in page
    assert "Renamed in BCC's console (was web-server)" in page
    record.refresh_from_db()
    assert (record.name, record.description, record.status) == ("web-renamed", "new words", Status.CREATED)
    [row] = audit_rows(Action.CHANGED_OUTSIDE)
    assert (row.keypair_id, row.keypair_name, row.region) == (record.keypair_id, "web-renamed", "bj")
    assert row.detail == "name: 'web-server' -> 'web-renamed'; description: 'old words' -> 'new words'"
    # The next view sees no difference: nothing more is written, nothing said.
    assert again.status_code == 200
    assert "Renamed in BCC" not in again.content.decode()
    assert len(audit_rows(Action.CHANGED_OUTSIDE)) == 1


def test_a_key_pair_deleted_in_the_console_is_marked_deleted_once(alice, portal_on_sandbox):
    record = in_bcc(alice, "gone-server")
    kept = in_bcc(alice, "kept-server")
    get_client("bj").delete_keypair(record.keypair_id)

    response = signed_in(alice).get(LIST_URL)
    signed_in(alice).get(LIST_URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Deleted outside the portal" in page
    record.refresh_from_db()
    assert record.status == Status.DELETED
    assert record.deleted_at is not None
    kept.refresh_from_db()
    assert kept.status == Status.CREATED
    [row] = audit_rows(Action.DELETED_OUTSIDE)
    assert (row.keypair_id, row.keypair_name) == (record.keypair_id, "gone-server")
    deleted_only = signed_in(alice).get(LIST_URL, {"state": "deleted"})
    assert ">gone-server</a>" in deleted_only.content.decode()
    assert ">kept-server</a>" not in deleted_only.content.decode()


def test_two_page_views_that_both_saw_the_change_write_it_once(alice, portal_on_sandbox):
    renamed = in_bcc(alice, "renamed-once")
    deleted = in_bcc(alice, "deleted-once")
    get_client("bj").rename_keypair(renamed.keypair_id, name="renamed-twice")
    get_client("bj").delete_keypair(deleted.keypair_id)
    # Two requests that read the records before either wrote: each has its own copies.
    first_view = [KeyPairRequest.objects.get(pk=renamed.pk), KeyPairRequest.objects.get(pk=deleted.pk)]
    second_view = [KeyPairRequest.objects.get(pk=renamed.pk), KeyPairRequest.objects.get(pk=deleted.pk)]

    first = services.keypair_records_sync(records=first_view, origin=Origin())
    second = services.keypair_records_sync(records=second_view, origin=Origin())

    assert first.comparisons[renamed.pk].renamed and second.comparisons[renamed.pk].renamed
    assert len(audit_rows(Action.CHANGED_OUTSIDE)) == 1
    assert len(audit_rows(Action.DELETED_OUTSIDE)) == 1
    assert second_view[0].name == "renamed-twice"
    assert second_view[1].deleted_at == KeyPairRequest.objects.get(pk=deleted.pk).deleted_at


def test_a_rename_made_in_the_portal_after_bcc_was_read_is_not_undone_by_the_older_read(alice, portal_on_sandbox):
    record = in_bcc(alice, "before-rename")
    bcc_state.keypairs_in_bcc(regions=["bj"])  # cached: holds "before-rename"
    # The portal renames it (as the rename service does: BCC first, then the record and its audit row).
    get_client("bj").rename_keypair(record.keypair_id, name="after-rename")
    KeyPairRequest.objects.filter(pk=record.pk).update(name="after-rename")
    audit_record(action=Action.RENAMED, outcome="success", actor=alice, keypair_id=record.keypair_id)

    response = signed_in(alice).get(LIST_URL)

    assert response.status_code == 200
    assert ">after-rename</a>" in response.content.decode()
    record.refresh_from_db()
    assert record.name == "after-rename"
    assert audit_rows(Action.CHANGED_OUTSIDE) == []


# --- What a page view costs in BCC calls ----------------------------------------------------------


def test_two_hundred_key_pairs_over_three_regions_cost_one_list_walk_per_region_and_none_from_the_cache(
    alice, portal_on_sandbox
):
    regions = ("bj", "gz", "su")
    records = [
        in_bcc(alice, f"key-{n}" if n != 1 else "attached", region=regions[n % 3], save=False) for n in range(200)
    ]
    KeyPairRequest.objects.bulk_create(records)
    linux_instances(portal_on_sandbox, "gz", ids=["i-one", "i-two"])
    get_client("gz").attach_keypair(records[1].keypair_id, instance_ids=["i-one", "i-two"])
    lists_before, gets_before = calls(portal_on_sandbox, "list"), calls(portal_on_sandbox, "get")

    first = signed_in(alice).get(LIST_URL, {"q": "ATTACHED"})
    lists_after_first = calls(portal_on_sandbox, "list")
    second = signed_in(alice).get(LIST_URL, {"page": 2})

    assert first.status_code == second.status_code == 200
    # BCC's 500 key pairs a region fit one page of the walk: one list request per region.
    assert lists_after_first - lists_before == Counter({"bj": 1, "gz": 1, "su": 1})
    assert calls(portal_on_sandbox, "list") == lists_after_first
    assert calls(portal_on_sandbox, "get") == gets_before
    assert "Exists, bound to 2 instances" in first.content.decode()
    assert "Page 2 of 8" in second.content.decode()


def test_only_the_regions_her_key_pairs_are_in_are_asked(alice, bob, portal_on_sandbox):
    in_bcc(alice, "alices-in-gz", region="gz")
    in_bcc(bob, "bobs-in-su", region="su")

    response = signed_in(alice).get(LIST_URL)

    assert response.status_code == 200
    assert calls(portal_on_sandbox, "list") == Counter({"gz": 1})


def test_the_detail_page_makes_one_detail_call_and_no_list_call(alice, portal_on_sandbox):
    record = in_bcc(alice, "attached")
    linux_instances(portal_on_sandbox, "bj", ids=["i-1", "i-2", "i-3"])
    get_client("bj").attach_keypair(record.keypair_id, instance_ids=["i-1", "i-2", "i-3"])
    lists, gets = calls(portal_on_sandbox, "list"), calls(portal_on_sandbox, "get")

    response = signed_in(alice).get(detail_url(record))

    assert response.status_code == 200
    assert "Exists in BCC, bound to 3 instances." in response.content.decode()
    assert calls(portal_on_sandbox, "list") == lists
    assert calls(portal_on_sandbox, "get") - gets == Counter({"bj": 1})


# --- The detail page ------------------------------------------------------------------------------


def test_the_detail_page_shows_what_the_console_changed_and_updates_the_record(alice, portal_on_sandbox):
    record = in_bcc(alice, "detail-before", description="before")
    get_client("bj").rename_keypair(record.keypair_id, name="detail-after")

    response = signed_in(alice).get(detail_url(record))
    again = signed_in(alice).get(detail_url(record))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="bcc-changed-outside"' in page
    assert "detail-before → detail-after" in page
    record.refresh_from_db()
    assert record.name == "detail-after"
    assert len(audit_rows(Action.CHANGED_OUTSIDE)) == 1
    assert 'id="bcc-changed-outside"' not in again.content.decode()


def test_the_detail_page_of_a_key_pair_deleted_in_the_console_says_so(alice, portal_on_sandbox):
    record = in_bcc(alice, "deleted-in-console")
    get_client("bj").delete_keypair(record.keypair_id)

    response = signed_in(alice).get(detail_url(record))

    page = response.content.decode()
    assert response.status_code == 200
    assert "This key pair was deleted outside the portal" in page
    assert "This key pair was not created" not in page
    record.refresh_from_db()
    assert record.status == Status.DELETED
    assert len(audit_rows(Action.DELETED_OUTSIDE)) == 1


# --- BCC slow or down -----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["status", "latency"])
def test_with_bcc_failing_or_slower_than_its_timeout_the_list_shows_the_portals_records(
    alice, portal_on_sandbox, frozen_clock, settings, fault
):
    record = in_bcc(alice, "still-listed")
    get_client("bj").rename_keypair(record.keypair_id, name="renamed-meanwhile")
    if fault == "status":
        portal_on_sandbox.inject("status", status=500, operation="list")
    else:
        portal_on_sandbox.inject("latency", seconds=settings.BCC_READ_TIMEOUT + 1, operation="list")

    response = signed_in(alice).get(LIST_URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert UNREACHABLE_AT_0941 in page
    assert ">still-listed</a>" in page
    record.refresh_from_db()
    assert record.name == "still-listed"
    assert audit_rows(Action.CHANGED_OUTSIDE) == []


@pytest.mark.parametrize("fault", ["status", "latency"])
def test_with_bcc_failing_or_slower_than_its_timeout_the_detail_page_shows_the_portals_record(
    alice, portal_on_sandbox, frozen_clock, settings, fault
):
    record = in_bcc(alice, "detail-still-shown")
    if fault == "status":
        portal_on_sandbox.inject("status", status=500, operation="get")
    else:
        portal_on_sandbox.inject("latency", seconds=settings.BCC_READ_TIMEOUT + 1, operation="get")

    response = signed_in(alice).get(detail_url(record))

    page = response.content.decode()
    assert response.status_code == 200
    assert UNREACHABLE_AT_0941 in page
    assert "detail-still-shown" in page
    record.refresh_from_db()
    assert record.status == Status.CREATED


def test_a_private_key_still_waiting_is_erased_when_its_key_pair_was_deleted_in_the_console(alice, portal_on_sandbox):
    record = in_bcc(alice, "created-then-deleted")
    delivery, _ = delivery_create(keypair_request=record, private_key_pem=WAITING_PEM)
    get_client("bj").delete_keypair(record.keypair_id)

    response = signed_in(alice).get(LIST_URL)

    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.ciphertext is None
    assert delivery.wiped_at is not None
    [row] = audit_rows(Action.DELETED_OUTSIDE)
    assert row.detail == "no longer in BCC; the private key still waiting for download was erased"
