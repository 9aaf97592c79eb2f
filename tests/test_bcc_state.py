"""BCC's own state for "My key pairs" (keypairs.bcc_state), read through real HTTP from the sandbox.

BCC calls are counted in the sandbox's request log: a list walk of N pages is N ``list``
requests to one region's path, so "one walk per region" is "as many list requests as pages".
"""

from __future__ import annotations

import os
import pickle
import secrets
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.cache import cache
from django.utils import timezone

from keypairs import bcc_state, limits
from keypairs.bcc.factory import get_client
from keypairs.bcc_state import Presence
from keypairs.models import KeyPairRequest
from tests.sandbox_instances import linux_instances

REGIONS = ("bj", "gz", "su")
LIST_BJ = ("GET", "/bj/v2/keypair")
FROZEN = datetime(2025, 3, 14, 9, 41, 27, tzinfo=UTC)
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/14")


def imported(region: str, name: str, description: str = "") -> str:
    """A key pair in BCC, imported (an EC key is quick to make; an RSA create is not)."""
    public_key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    client = get_client(region)
    return client.import_keypair(name=name, public_key=public_key, description=description).keypair_id


def list_calls(sandbox) -> Counter[str]:
    """List requests per region (the region is the first part of the sandbox's path)."""
    return Counter(record.path.split("/")[1] for record in sandbox.request_log if record.operation == "list")


def bcc_calls(sandbox) -> int:
    return len(sandbox.request_log)


def record_of(owner, *, keypair_id: str, name: str, description: str = "", region: str = "bj") -> KeyPairRequest:
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        region=region,
        name=name,
        description=description,
        status=KeyPairRequest.Status.CREATED,
        keypair_id=keypair_id,
        completed_at=timezone.now(),
    )


@pytest.fixture
def frozen_clock(monkeypatch):
    monkeypatch.setattr(bcc_state, "clock", lambda: FROZEN)


# --- The list: one walk per region, shared ------------------------------------------------------


def test_two_hundred_key_pairs_in_each_of_three_regions_cost_one_list_walk_per_region(
    db, portal_on_sandbox, monkeypatch
):
    # BCC's quota (500) fits one page of 1000; pages of 100 show the walk follows nextMarker.
    monkeypatch.setattr(bcc_state, "LIST_PAGE_SIZE", 100)
    ids = {region: [imported(region, f"{region}-key-{n}") for n in range(200)] for region in REGIONS}
    linux_instances(portal_on_sandbox, "gz", ids=["i-one", "i-two"])
    get_client("gz").attach_keypair(ids["gz"][7], instance_ids=["i-one", "i-two"])
    before = list_calls(portal_on_sandbox)

    state = bcc_state.keypairs_in_bcc(regions=REGIONS)

    # 200 key pairs in pages of 100: two list requests per region, which is one walk each.
    assert list_calls(portal_on_sandbox) - before == Counter({region: 2 for region in REGIONS})
    assert not state.unreachable
    for region in REGIONS:
        assert state.regions[region].reached
        assert sorted(state.regions[region].keypairs) == sorted(ids[region])
    held = state.regions["gz"].keypairs[ids["gz"][7]]
    in_sandbox = next(item for item in portal_on_sandbox.keypairs(region="gz") if item["keypairId"] == ids["gz"][7])
    assert (held.name, held.instance_count) == ("gz-key-7", 2)
    assert held.fingerprint == in_sandbox["fingerPrint"]
    assert held.created_time is not None


def test_the_cached_state_holds_no_public_keys_so_each_list_view_reads_back_little(db, portal_on_sandbox):
    # Every view of "My key pairs" reads the region's whole cached walk back, for every key pair
    # of the account; the public keys were most of it and nothing reads them from there.
    for number in range(50):
        imported("bj", f"bj-key-{number}")

    bcc_state.keypairs_in_bcc(regions=["bj"])

    stored = cache.get(bcc_state._state_key("bj"))
    assert len(stored["keypairs"]) == 50
    assert all("public_key" not in item for item in stored["keypairs"])
    assert len(pickle.dumps(stored)) < 50 * 200  # bytes: id, name, description, count, time, fingerprint


def test_a_second_read_within_the_cache_window_asks_bcc_nothing(db, portal_on_sandbox):
    imported("bj", "first")
    bcc_state.keypairs_in_bcc(regions=REGIONS)
    calls = bcc_calls(portal_on_sandbox)
    imported("bj", "made-since")  # not seen until the window ends: that is the price of the cache
    calls_after_import = bcc_calls(portal_on_sandbox)

    again = bcc_state.keypairs_in_bcc(regions=REGIONS)
    quotas = limits.region_quotas(list(REGIONS))  # the create form's count reads the same walk

    assert calls_after_import == calls + 1
    assert bcc_calls(portal_on_sandbox) == calls_after_import
    assert [keypair.name for keypair in again.regions["bj"].keypairs.values()] == ["first"]
    assert [quota.remaining for quota in quotas] == [499, 500, 500]


def test_after_the_window_bcc_is_read_again(db, portal_on_sandbox, settings):
    bcc_state.keypairs_in_bcc(regions=["bj"])
    settings.KEYPAIR_BCC_STATE_CACHE_SECONDS = 0  # every entry is now older than the window
    imported("bj", "made-since")

    state = bcc_state.keypairs_in_bcc(regions=["bj"])

    assert list_calls(portal_on_sandbox) == Counter({"bj": 2})
    assert [keypair.name for keypair in state.regions["bj"].keypairs.values()] == ["made-since"]


def test_two_portals_on_one_cache_with_different_bcc_accounts_never_share_a_state(db, portal_on_sandbox, settings):
    imported("bj", "account-one")
    first = bcc_state.keypairs_in_bcc(regions=["bj"])
    settings.BCC_ACCESS_KEY_ID = "another-portals-key"  # the same cache and prefix, another BCC account

    second = bcc_state.keypairs_in_bcc(regions=["bj"])

    assert first.regions["bj"].reached and len(first.regions["bj"].keypairs) == 1
    # Asked again (and refused: the sandbox does not know that key), not served the first one's list.
    # A refused request names no operation in the sandbox's log, so count the list path.
    asked = [record for record in portal_on_sandbox.request_log if (record.method, record.path) == LIST_BJ]
    assert [record.status for record in asked] == [200, 403]
    assert not second.regions["bj"].reached


# --- BCC down for a region ------------------------------------------------------------------------


def test_a_region_with_bcc_down_is_unreachable_with_the_time_and_the_others_still_read(
    db, portal_on_sandbox, frozen_clock
):
    for region in REGIONS:
        imported(region, f"{region}-key")
    portal_on_sandbox.inject("drop", operation="list")  # the first region's list to arrive

    state = bcc_state.keypairs_in_bcc(regions=REGIONS)

    dropped = [record.path.split("/")[1] for record in portal_on_sandbox.request_log if record.status is None]
    assert len(dropped) == 1
    down = dropped[0]
    assert [region_state.region for region_state in state.unreachable] == [down]
    assert state.regions[down].keypairs is None
    assert state.regions[down].unreachable_sentence == (
        "BCC could not be reached at 14 Mar 2025, 09:41 UTC; showing the portal's records"
    )
    for region in set(REGIONS) - {down}:
        assert state.regions[region].reached
        assert [keypair.name for keypair in state.regions[region].keypairs.values()] == [f"{region}-key"]
        assert state.regions[region].unreachable_sentence is None
    # One attempt per page: the dropped list was not retried (BCC_MAX_ATTEMPTS is 3).
    assert list_calls(portal_on_sandbox) == Counter({region: 1 for region in REGIONS})


def test_a_failed_read_is_cached_so_the_next_page_does_not_wait_for_bcc_again(db, portal_on_sandbox, frozen_clock):
    portal_on_sandbox.inject("status", status=503, operation="list", count=3)

    first = bcc_state.keypairs_in_bcc(regions=REGIONS)
    calls = bcc_calls(portal_on_sandbox)
    second = bcc_state.keypairs_in_bcc(regions=REGIONS)

    assert calls == 3
    assert bcc_calls(portal_on_sandbox) == calls
    assert len(first.unreachable) == len(second.unreachable) == 3
    assert {region_state.unreachable_sentence for region_state in second.unreachable} == {
        "BCC could not be reached at 14 Mar 2025, 09:41 UTC; showing the portal's records"
    }


def test_a_failing_cache_still_reads_bcc_and_never_raises(db, portal_on_sandbox, settings, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    imported("bj", "still-shown")

    state = bcc_state.keypairs_in_bcc(regions=["bj"])

    assert [keypair.name for keypair in state.regions["bj"].keypairs.values()] == ["still-shown"]
    assert list_calls(portal_on_sandbox) == Counter({"bj": 1})
    assert any("The cache failed" in record.getMessage() for record in caplog.records)


# --- Concurrent page views ------------------------------------------------------------------------


def _use_cache(settings, kind: str) -> None:
    if kind == "locmem":
        location = f"bcc-state-{uuid.uuid4().hex}"
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": location}
        }
        return
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_TEST_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    try:
        cache.set("ping", "pong", 5)
    except Exception as error:
        reason = f"Redis is not reachable at {REDIS_TEST_URL} ({error.__class__.__name__})"
        if os.environ.get("REQUIRE_REDIS") == "1" or "redis" in os.environ.get("REQUIRE_GROUPS", ""):
            pytest.fail(f"{reason}, and REQUIRE_REDIS or REQUIRE_GROUPS says Redis tests may not skip")
        pytest.skip(reason)


@pytest.mark.parametrize("kind", ["locmem", pytest.param("redis", marks=pytest.mark.redis)])
def test_page_views_missing_the_cache_at_once_cause_one_walk_per_region(portal_on_sandbox, settings, kind):
    _use_cache(settings, kind)
    for region in REGIONS:
        imported(region, f"{region}-key")
    # Slow lists keep the first walks going while the other page views arrive.
    portal_on_sandbox.inject("latency", operation="list", seconds=0.5, count=3)
    views = 8
    start = threading.Barrier(views)
    states = []

    def page_view() -> None:
        start.wait()
        states.append(bcc_state.keypairs_in_bcc(regions=REGIONS))

    threads = [threading.Thread(target=page_view) for _ in range(views)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert list_calls(portal_on_sandbox) == Counter({region: 1 for region in REGIONS})
    assert len(states) == views
    assert all(not state.unreachable for state in states)
    assert {len(state.regions["su"].keypairs) for state in states} == {1}


def test_a_walk_that_ends_while_a_waiter_looks_is_not_walked_again(portal_on_sandbox, settings, monkeypatch):
    # CI once saw every region walked twice by eight page views: the walker stored its answer and
    # let its lock go between a waiter's two reads, and the waiter took that for a failed walk.
    _use_cache(settings, "locmem")
    imported("bj", "bj-key")
    another_walk = bcc_state._walk("bj")
    cache.add(bcc_state._walk_lock_key("bj"), "another request", 30)
    real_cached = bcc_state._cached
    reads = []

    def walker_finishes_after_the_first_waiting_read(regions, max_age):
        answer = real_cached(regions, max_age)
        reads.append(answer)
        if len(reads) == 2:  # the first read is the page's own look before waiting
            cache.set(bcc_state._state_key("bj"), bcc_state._to_cache(another_walk, bcc_state.clock()), 30)
            cache.delete(bcc_state._walk_lock_key("bj"))
        return answer

    monkeypatch.setattr(bcc_state, "_cached", walker_finishes_after_the_first_waiting_read)
    calls = list_calls(portal_on_sandbox)

    state = bcc_state.keypairs_in_bcc(regions=["bj"])

    assert list_calls(portal_on_sandbox) == calls
    assert [keypair.name for keypair in state.regions["bj"].keypairs.values()] == ["bj-key"]


# --- The detail page ------------------------------------------------------------------------------


def test_the_detail_read_is_one_call_with_what_bcc_holds(db, portal_on_sandbox):
    keypair_id = imported("bj", "detail", description="for the build box")
    linux_instances(portal_on_sandbox, "bj", ids=["i-one"])
    get_client("bj").attach_keypair(keypair_id, instance_ids=["i-one"])
    calls = bcc_calls(portal_on_sandbox)

    lookup = bcc_state.keypair_in_bcc(region="bj", keypair_id=keypair_id)

    assert bcc_calls(portal_on_sandbox) == calls + 1
    assert portal_on_sandbox.request_log[-1].operation == "get"
    assert lookup.presence is Presence.EXISTS
    assert (lookup.keypair.name, lookup.keypair.description, lookup.keypair.instance_count) == (
        "detail",
        "for the build box",
        1,
    )
    assert lookup.unreachable_sentence is None


def test_the_detail_read_says_gone_for_a_key_pair_deleted_in_bcc(db, portal_on_sandbox):
    keypair_id = imported("bj", "deleted-in-console")
    get_client("bj").delete_keypair(keypair_id)

    lookup = bcc_state.keypair_in_bcc(region="bj", keypair_id=keypair_id)

    assert (lookup.presence, lookup.keypair) == (Presence.GONE, None)
    assert portal_on_sandbox.request_log[-1].status == 404


def test_the_detail_read_says_unreachable_with_the_time_and_does_not_retry(db, portal_on_sandbox, frozen_clock):
    keypair_id = imported("bj", "slow-day")
    portal_on_sandbox.inject("drop", operation="get", count=3)

    lookup = bcc_state.keypair_in_bcc(region="bj", keypair_id=keypair_id)

    assert lookup.presence is Presence.UNREACHABLE
    assert (
        lookup.unreachable_sentence
        == "BCC could not be reached at 14 Mar 2025, 09:41 UTC; showing the portal's records"
    )
    assert [record.operation for record in portal_on_sandbox.request_log].count("get") == 1


# --- A record against BCC's state -----------------------------------------------------------------


def test_a_key_pair_renamed_and_redescribed_in_the_console_is_told_apart_from_the_record(alice, portal_on_sandbox):
    keypair_id = imported("bj", "build-box", description="for CI")
    record = record_of(alice, keypair_id=keypair_id, name="build-box", description="for CI")
    get_client("bj").rename_keypair(keypair_id, name="build-box-old")
    get_client("bj").update_keypair_description(keypair_id, description="retired")

    from_list = bcc_state.compare_with_bcc(
        record=record, lookup=bcc_state.keypairs_in_bcc(regions=["bj"]).lookup(region="bj", keypair_id=keypair_id)
    )
    from_detail = bcc_state.compare_with_bcc(
        record=record, lookup=bcc_state.keypair_in_bcc(region="bj", keypair_id=keypair_id)
    )

    assert from_list == from_detail
    assert from_list.known and from_list.changed_outside and not from_list.deleted_outside
    assert from_list.renamed == bcc_state.FieldChange(field="name", portal="build-box", bcc="build-box-old")
    assert from_list.description_changed == bcc_state.FieldChange(field="description", portal="for CI", bcc="retired")


def test_a_key_pair_deleted_in_the_console_is_deleted_outside_the_portal(alice, portal_on_sandbox):
    keypair_id = imported("bj", "gone-soon")
    record = record_of(alice, keypair_id=keypair_id, name="gone-soon")
    get_client("bj").delete_keypair(keypair_id)

    from_list = bcc_state.compare_with_bcc(
        record=record, lookup=bcc_state.keypairs_in_bcc(regions=["bj"]).lookup(region="bj", keypair_id=keypair_id)
    )
    from_detail = bcc_state.compare_with_bcc(
        record=record, lookup=bcc_state.keypair_in_bcc(region="bj", keypair_id=keypair_id)
    )

    assert from_list.known and from_list.deleted_outside and from_list.changed_outside
    assert from_detail.deleted_outside


def test_an_unchanged_key_pair_is_not_changed_outside_and_carries_its_instance_count(alice, portal_on_sandbox):
    keypair_id = imported("bj", "steady", description="same")
    linux_instances(portal_on_sandbox, "bj", ids=["i-a", "i-b", "i-c"])
    get_client("bj").attach_keypair(keypair_id, instance_ids=["i-a", "i-b", "i-c"])
    record = record_of(alice, keypair_id=keypair_id, name="steady", description="same")

    comparison = bcc_state.compare_with_bcc(
        record=record, lookup=bcc_state.keypair_in_bcc(region="bj", keypair_id=keypair_id)
    )

    assert comparison == bcc_state.RecordComparison(known=True, instance_count=3)
    assert not comparison.changed_outside


def test_a_key_pair_made_after_the_list_was_read_is_not_called_deleted(alice, portal_on_sandbox):
    state = bcc_state.keypairs_in_bcc(regions=["bj"])
    keypair_id = imported("bj", "brand-new")
    record = record_of(alice, keypair_id=keypair_id, name="brand-new")
    record.completed_at = state.regions["bj"].read_at + timedelta(seconds=1)

    comparison = bcc_state.compare_with_bcc(record=record, lookup=state.lookup(region="bj", keypair_id=keypair_id))

    assert comparison == bcc_state.NOT_KNOWN
    assert not comparison.changed_outside


def test_nothing_is_said_of_a_record_when_bcc_could_not_be_reached(alice, portal_on_sandbox):
    keypair_id = imported("bj", "unknowable")
    record = record_of(alice, keypair_id=keypair_id, name="renamed-in-portal-only")
    portal_on_sandbox.inject("status", status=503, operation="list")

    state = bcc_state.keypairs_in_bcc(regions=["bj"])
    comparison = bcc_state.compare_with_bcc(record=record, lookup=state.lookup(region="bj", keypair_id=keypair_id))

    assert comparison == bcc_state.NOT_KNOWN


def test_a_walk_finished_between_the_first_look_and_the_lock_is_not_walked_again(db, portal_on_sandbox, monkeypatch):
    for region in REGIONS:
        imported(region, f"{region}-key")
    bcc_state.keypairs_in_bcc(regions=REGIONS)  # another page view walked, stored and let the lock go
    walks_before = list_calls(portal_on_sandbox)
    # This page view looked at the cache just before that walk stored its answer.
    real_cached = bcc_state._cached
    looks = []

    def stale_first_look(regions, max_age):
        looks.append(list(regions))
        return {} if len(looks) == 1 else real_cached(regions, max_age)

    monkeypatch.setattr(bcc_state, "_cached", stale_first_look)

    state = bcc_state.keypairs_in_bcc(regions=REGIONS)

    assert list_calls(portal_on_sandbox) == walks_before
    assert {len(state.regions[region].keypairs) for region in REGIONS} == {1}
