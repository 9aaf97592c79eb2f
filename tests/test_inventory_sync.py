"""``manage.py sync_bcc``: the BCC inventory against the sandbox, with key pairs made behind the portal's back.

Key pairs "made outside the portal" are imported into the sandbox through the BCC client
directly, renamed and deleted the same way: the portal learns of them only through the sync.
"""

from __future__ import annotations

import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keypairs import bcc_state
from keypairs.audit import Origin
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, BccInventoryEntry, JobLease, KeyPairRequest
from keypairs.services.inventory_sync import inventory_sync
from keypairs.single_runner import single_run
from tests.test_bcc_state import imported, list_calls, record_of

REGIONS = ["bj", "gz", "su"]


@pytest.fixture
def regions(settings):
    settings.BCC_REGIONS = REGIONS
    return REGIONS


def sync() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync_bcc", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def entry(keypair_id: str) -> BccInventoryEntry:
    return BccInventoryEntry.objects.select_related("record").get(keypair_id=keypair_id)


def actions(action: str, keypair_id: str | None = None) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action=action)
    if keypair_id is not None:
        events = events.filter(keypair_id=keypair_id)
    return list(events)


def test_it_lists_every_key_pair_with_its_owner_or_none(db, alice, portal_on_sandbox, regions):
    mine = imported("bj", "alice-web")
    record = record_of(alice, keypair_id=mine, name="alice-web")
    console = imported("gz", "made-in-console", "by hand")

    out, err = sync()

    assert entry(mine).record == record
    unowned = entry(console)
    assert (unowned.record, unowned.name, unowned.description, unowned.gone_at) == (
        None,
        "made-in-console",
        "by hand",
        None,
    )
    assert unowned.fingerprint and unowned.bcc_created_at is not None
    assert [event.keypair_name for event in actions("found_unowned")] == ["made-in-console"]
    assert "key pairs seen: 2; unowned: 1 (1 new)" in out
    assert err == ""
    assert list_calls(portal_on_sandbox) == {region: 1 for region in REGIONS}  # one walk per region


def test_found_unowned_is_audited_once_however_often_it_syncs(db, portal_on_sandbox, regions):
    console = imported("bj", "script-made")

    sync()
    sync()

    assert len(actions("found_unowned", console)) == 1
    assert len(actions("inventory_synced")) == 2


def test_an_unowned_key_pair_deleted_in_the_console_is_marked_gone_once(db, portal_on_sandbox, regions):
    console = imported("su", "short-lived")
    sync()
    get_client("su").delete_keypair(console)

    sync()
    sync()

    assert entry(console).gone_at is not None
    gone = actions("deleted_outside", console)
    assert len(gone) == 1 and "no owner" in gone[0].detail
    synced = AuditEvent.objects.filter(action="inventory_synced").order_by("id")
    assert ["gone: 1" in event.detail for event in synced] == [False, True, False]


def test_an_owned_key_pair_renamed_or_deleted_in_the_console_is_written_once_through_bcc_sync(
    db, alice, portal_on_sandbox, regions
):
    renamed = imported("bj", "old-name")
    renamed_record = record_of(alice, keypair_id=renamed, name="old-name")
    deleted = imported("gz", "doomed")
    deleted_record = record_of(alice, keypair_id=deleted, name="doomed", region="gz")
    sync()
    get_client("bj").rename_keypair(renamed, name="new-name")
    get_client("gz").delete_keypair(deleted)

    out, _ = sync()
    sync()

    renamed_record.refresh_from_db()
    deleted_record.refresh_from_db()
    assert renamed_record.name == "new-name"
    assert entry(renamed).name == "new-name"
    assert deleted_record.status == KeyPairRequest.Status.DELETED
    assert entry(deleted).gone_at is not None
    assert len(actions("changed_outside", renamed)) == 1
    assert "'old-name' -> 'new-name'" in actions("changed_outside", renamed)[0].detail
    assert len(actions("deleted_outside", deleted)) == 1  # by bcc_sync; the inventory adds none
    assert "gone: 1; changed outside: 1" in out


def test_a_region_bcc_cannot_read_is_left_as_it_was(db, portal_on_sandbox, regions):
    ids = {region: imported(region, f"{region}-console") for region in REGIONS}
    sync()
    for region in REGIONS:
        get_client(region).delete_keypair(ids[region])
    portal_on_sandbox.inject("status", status=503, operation="list")  # the first region's list to arrive

    out, err = sync()

    down = [region for region in REGIONS if f"BCC could not be read in {region}" in err]
    assert len(down) == 1
    assert entry(ids[down[0]]).gone_at is None  # an outage is not "deleted"
    for region in set(REGIONS) - set(down):
        assert entry(ids[region]).gone_at is not None
    synced = actions("inventory_synced")[0]
    assert synced.outcome == "failure" and f"unreachable: {down[0]}" in synced.detail
    assert "regions read: 2/3" in out


def test_it_exits_non_zero_only_when_no_region_could_be_read(db, portal_on_sandbox, regions):
    console = imported("bj", "kept")
    sync()
    get_client("bj").delete_keypair(console)
    portal_on_sandbox.inject("status", status=503, operation="list", count=len(REGIONS))

    with pytest.raises(CommandError, match="BCC could not be read in any region"):
        sync()

    assert entry(console).gone_at is None
    assert actions("inventory_synced")[0].outcome == "failure"


def test_a_second_run_while_one_holds_the_lease_says_so_and_does_nothing(db, portal_on_sandbox, regions):
    imported("bj", "seen-once")

    with single_run("sync_bcc"):
        out, _err = sync()

    assert "Another run of sync_bcc is at work" in out
    assert BccInventoryEntry.objects.count() == 0
    assert len(portal_on_sandbox.request_log) == 1  # the import above; no list


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_one_works_and_the_other_exits_zero_saying_so(portal_on_sandbox, regions):
    imported("bj", "raced")
    # The first run's walk is slowed down so that the second starts while it holds the lease.
    portal_on_sandbox.inject("latency", operation="list", seconds=1.0, count=len(REGIONS))
    outputs, failures = [], []

    def run():
        try:
            outputs.append(sync()[0])
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=run)
    first.start()
    deadline = time.monotonic() + 10
    while not JobLease.objects.exclude(holder="").filter(name="sync_bcc").exists():  # the first run holds it
        assert time.monotonic() < deadline, "the first run never took the lease"
        time.sleep(0.01)
    run()
    first.join()

    assert failures == []
    assert sum("Another run of sync_bcc is at work" in out for out in outputs) == 1
    assert sum("key pairs seen: 1" in out for out in outputs) == 1
    assert BccInventoryEntry.objects.count() == 1
    assert len(actions("found_unowned")) == 1


def test_a_fresh_walk_each_run_not_a_page_views_cached_one(db, portal_on_sandbox, regions):
    bcc_state.keypairs_in_bcc(regions=REGIONS)  # a page view walked and cached every region
    console = imported("bj", "after-the-page-view")

    sync()

    assert entry(console).record is None


def sync_queries(count: int, alice) -> int:
    for number in range(count):
        region = REGIONS[number % len(REGIONS)]
        record_of(
            alice, keypair_id=imported(region, f"owned-{count}-{number}"), name=f"owned-{count}-{number}", region=region
        )
        imported(region, f"console-{count}-{number}")
    inventory_sync(origin=Origin())  # first seen: one found_unowned row each
    with CaptureQueriesContext(connection) as steady:
        inventory_sync(origin=Origin())
    return len(steady.captured_queries)


def test_a_syncs_queries_do_not_grow_with_the_number_of_key_pairs(db, alice, portal_on_sandbox, regions):
    few = sync_queries(3, alice)
    BccInventoryEntry.objects.all().delete()
    portal_on_sandbox.reset()
    KeyPairRequest.objects.all().delete()
    many = sync_queries(30, alice)

    assert many == few
    assert BccInventoryEntry.objects.count() == 60


def test_a_first_sync_of_owned_key_pairs_costs_the_same_queries_for_many(db, alice, portal_on_sandbox, regions):
    def first_sync(count: int) -> int:
        for number in range(count):
            region = REGIONS[number % len(REGIONS)]
            name = f"owned-{count}-{number}"
            record_of(alice, keypair_id=imported(region, name), name=name, region=region)
        with CaptureQueriesContext(connection) as captured:
            inventory_sync(origin=Origin())
        return len(captured.captured_queries)

    inventory_sync(origin=Origin())  # the audit chain's head is made once, by the first row ever
    few = first_sync(3)
    BccInventoryEntry.objects.all().delete()
    many = first_sync(30)  # the 3 from before are seen again, 30 are new

    assert many == few


def test_an_unowned_key_pair_renamed_in_the_console_shows_its_new_values(db, portal_on_sandbox, regions):
    console = imported("gz", "before")
    sync()
    get_client("gz").rename_keypair(console, name="after")
    get_client("gz").update_keypair_description(console, description="now described")

    sync()

    found = entry(console)
    assert (found.name, found.description, found.gone_at, found.record) == ("after", "now described", None, None)
    assert len(actions("found_unowned", console)) == 1
