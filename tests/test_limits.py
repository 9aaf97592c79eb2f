"""The shared quota on the create form, the per-user cap and the per-user rate limit (keypairs.limits).

Through the create form as Alice uses it, against the BCC sandbox. The counters live in Django's
cache: the rate limit is also checked under concurrency on the local-memory cache and on Redis
(``REDIS_TEST_URL``, default ``redis://127.0.0.1:6379/14``). Without a Redis server the Redis
tests skip, unless ``REQUIRE_REDIS=1`` (or ``REQUIRE_GROUPS`` listing ``redis``) makes that a
failure, as in CI.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
import uuid

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.utils import timezone

from keypairs import limits, messages
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, KeyPairRequest
from tests.create_flow import CREATE_URL, closed_port, create, log_lines, open_form, page_says, sent_to_bcc

Status = KeyPairRequest.Status
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/14")


def quota_line(response, region: str) -> tuple[str, bool]:
    """The quota line the page has for ``region``: its text, and whether it is shown."""
    match = re.search(rf'<span data-region="{region}"( hidden)?>([^<]*)</span>', response.content.decode())
    assert match, f"the form has no quota line for {region}"
    return match.group(2), match.group(1) is None


def held(owner, *, region: str = "bj", status=Status.CREATED, keypair_id: str = "") -> KeyPairRequest:
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        region=region,
        name="held",
        status=status,
        keypair_id=keypair_id,
        completed_at=None if status == Status.PENDING else timezone.now(),
    )


def held_in_bcc(owner, *, region: str = "bj") -> KeyPairRequest:
    """A key pair ``owner`` created through the portal, still in BCC."""
    return held(owner, region=region, keypair_id=get_client(region).create_keypair(name="held").keypair_id)


# --- The shared quota on the form ---------------------------------------------------------------


def test_the_form_shows_how_many_key_pairs_are_left_in_the_chosen_region(alice_client, portal_on_sandbox):
    for _ in range(3):
        get_client("bj").create_keypair(name="someone-elses")

    response = alice_client.get(CREATE_URL)

    assert response.status_code == 200
    assert quota_line(response, "bj") == ("497 of 500 key pairs left in Beijing (bj).", True)
    # Every other region has its line, hidden until it is chosen (static/js/keypair-quota.js).
    assert quota_line(response, "gz") == ("500 of 500 key pairs left in Guangzhou (gz).", False)
    assert page_says(response, messages.QUOTA_LEFT.format(remaining=497, total=500, region="Beijing (bj)"))
    assert 'src="/static/js/keypair-quota.js"' in response.content.decode()


def test_the_form_shown_again_after_a_refusal_shows_the_region_that_was_chosen(alice_client, portal_on_sandbox):
    response = create(alice_client, name=" not a name", region="gz")

    assert response.status_code == 400
    assert quota_line(response, "gz")[1] is True
    assert quota_line(response, "bj")[1] is False


def test_the_count_is_asked_of_bcc_once_per_period_and_counts_the_portals_own_creates(alice_client, portal_on_sandbox):
    open_form(alice_client)
    first_lists = [record.path for record in portal_on_sandbox.request_log if record.operation == "list"]

    created = create(alice_client)
    again = alice_client.get(CREATE_URL)

    assert created.status_code == 302
    assert sorted(first_lists) == sorted(f"/{region}/v2/keypair" for region in ("bj", "gz", "su", "bd", "fwh", "hkg"))
    # No second round of lists: the cached count, less the create the portal made since.
    assert [record.operation for record in portal_on_sandbox.request_log].count("list") == len(first_lists)
    assert quota_line(again, "bj")[0] == "499 of 500 key pairs left in Beijing (bj)."


def test_the_count_is_unknown_when_bcc_cannot_be_asked_and_the_form_still_works(
    alice_client, portal_on_sandbox, settings, caplog
):
    settings.BCC_ENDPOINT = f"http://127.0.0.1:{closed_port()}/{{region}}"

    response = alice_client.get(CREATE_URL)

    assert response.status_code == 200
    assert quota_line(response, "bj") == (
        messages.QUOTA_LEFT_UNKNOWN.format(total=500, region="Beijing (bj)") + ".",
        True,
    )
    assert 'name="form_token"' in response.content.decode()
    assert any("Could not list the key pairs in bj" in line for line in log_lines(caplog, 30))


def test_a_failed_count_is_not_asked_again_on_every_page(alice_client, portal_on_sandbox, settings):
    portal_on_sandbox.inject("status", status=403, operation="list", count=6)  # AccessDenied: not retried

    first = alice_client.get(CREATE_URL)
    second = alice_client.get(CREATE_URL)

    assert quota_line(first, "bj")[0].startswith("Unknown how many")
    assert quota_line(second, "bj")[0].startswith("Unknown how many")
    assert [record.operation for record in portal_on_sandbox.request_log].count("list") == 6


# --- The cap per user per region ------------------------------------------------------------------


def test_the_cap_refuses_a_create_before_bcc_is_called(alice, alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 2
    held_in_bcc(alice)
    held_in_bcc(alice)
    sent_before = sent_to_bcc(portal_on_sandbox)

    response = create(alice_client, name="third")

    sentence = limits.cap_sentence(count=2, limit=2, region="bj")
    event = AuditEvent.objects.get()
    assert response.status_code == 409
    assert sentence in response.content.decode()
    assert '<a href="/keypairs/">My key pairs</a>' in sentence
    assert not KeyPairRequest.objects.filter(name="third").exists()
    assert sent_to_bcc(portal_on_sandbox) == sent_before
    assert len(portal_on_sandbox.keypairs()) == 2
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "denied", limits.PORTAL_LIMIT)
    assert (event.actor_username, event.region, event.keypair_name) == ("alice", "bj", "third")
    assert event.portal_request_id == response["X-Request-ID"]
    assert event.detail == "portal limit: 2 key pairs held in bj, at most 2 per user"


def test_the_cap_is_per_region_and_per_user(alice, bob_client, alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 1
    held_in_bcc(alice)

    in_another_region = create(alice_client, region="gz")
    for_bob = create(bob_client)

    assert (in_another_region.status_code, for_bob.status_code) == (302, 302)


def test_open_creates_count_toward_the_cap_and_failed_or_reconciled_ones_do_not(
    alice, alice_client, portal_on_sandbox, settings
):
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 2
    held(alice, status=Status.FAILED)
    held(alice, status=Status.RECONCILED, keypair_id="k-deleted")
    held(alice, status=Status.PENDING)
    held(alice, status=Status.UNKNOWN)

    response = create(alice_client)

    assert response.status_code == 409
    assert limits.cap_sentence(count=2, limit=2, region="bj") in response.content.decode()


def test_a_key_pair_deleted_in_bcc_frees_its_place(alice, alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 1
    settings.BCC_QUOTA_CACHE_SECONDS = 0  # BCC's list is read afresh
    gone = held_in_bcc(alice)
    get_client("bj").delete_keypair(gone.keypair_id)  # in the BCC console, say

    response = create(alice_client)

    assert response.status_code == 302
    assert KeyPairRequest.objects.filter(owner=alice, status=Status.CREATED).count() == 2


def test_when_bcc_cannot_list_every_created_key_pair_counts(alice, alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 1
    gone = held_in_bcc(alice)
    get_client("bj").delete_keypair(gone.keypair_id)
    portal_on_sandbox.inject("status", status=403, operation="list", count=6)

    response = create(alice_client)

    assert response.status_code == 409
    assert sent_to_bcc(portal_on_sandbox).count("create") == 1  # only the one made above


# --- The rate limit ---------------------------------------------------------------------------------


def test_the_rate_limit_refuses_a_create_before_bcc_is_called(alice_client, portal_on_sandbox, settings, monkeypatch):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 2
    settings.KEYPAIR_CREATE_RATE_WINDOW_SECONDS = 3600
    now = [1_700_000_000.0]
    monkeypatch.setattr(limits, "clock", lambda: now[0])
    first = create(alice_client, name="one")
    now[0] += 1000
    second = create(alice_client, name="two")
    now[0] += 0.5

    third = create(alice_client, name="three")

    event = AuditEvent.objects.latest()
    assert (first.status_code, second.status_code, third.status_code) == (302, 302, 429)
    # The oldest create frees its place an hour after it started: 2599.5 s from now.
    assert third["Retry-After"] == "2600"
    assert page_says(third, messages.RATE_LIMITED.format(limit=2, window="hour", wait="44 minutes"))
    assert not KeyPairRequest.objects.filter(name="three").exists()
    assert sent_to_bcc(portal_on_sandbox) == ["create", "create"]
    assert (event.action, event.outcome, event.bcc_error_code) == ("failed", "denied", limits.PORTAL_LIMIT)
    assert event.detail == "portal limit: more than 2 creates in 3600 s"


def test_the_window_slides_no_burst_gets_through_at_the_turn_of_a_minute(
    alice_client, portal_on_sandbox, settings, monkeypatch
):
    # The failure CI once caught: clock-aligned windows let a create at 10:00:59.98 and another
    # at 10:01:00.08 both through a limit of one a minute.
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1
    now = [60 * 28_333_333 + 59.98]
    monkeypatch.setattr(limits, "clock", lambda: now[0])
    first = create(alice_client, name="one")
    now[0] += 0.1

    second = create(alice_client, name="two")

    assert (first.status_code, second.status_code) == (302, 429)
    assert second["Retry-After"] == "60"
    assert sent_to_bcc(portal_on_sandbox) == ["create"]


def test_a_refused_attempt_does_not_push_the_wait_back(alice_client, portal_on_sandbox, settings, monkeypatch):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1
    settings.KEYPAIR_CREATE_RATE_WINDOW_SECONDS = 3600
    now = [1_700_000_000.0]
    monkeypatch.setattr(limits, "clock", lambda: now[0])
    create(alice_client, name="one")
    now[0] += 100
    refused_once = create(alice_client, name="two")
    now[0] += 100

    refused_again = create(alice_client, name="two")

    assert (refused_once["Retry-After"], refused_again["Retry-After"]) == ("3500", "3400")


@pytest.mark.django_db(transaction=True)
def test_a_place_frees_when_its_window_has_passed(alice, settings, shared_cache):
    # Real time, not the clock hook: when a place frees is the cache's own expiry.
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1
    settings.KEYPAIR_CREATE_RATE_WINDOW_SECONDS = 1
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 0
    allowed = limits.limit_check(user=alice, region="bj", claim="form-1")
    refused = limits.limit_check(user=alice, region="bj", claim="form-2")
    time.sleep(1.1)

    later = limits.limit_check(user=alice, region="bj", claim="form-3")

    assert allowed is None
    assert refused is not None and refused.kind == limits.RATE_LIMITED and refused.retry_after == 1
    assert refused.message == messages.RATE_LIMITED.format(limit=1, window="second", wait="1 second")
    assert later is None


@pytest.mark.django_db(transaction=True)
def test_a_create_that_turned_out_to_be_a_replay_gives_its_place_back(alice, bob, settings, shared_cache):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 0
    assert limits.limit_check(user=alice, region="bj", claim="form-1") is None
    assert limits.limit_check(user=bob, region="bj", claim="form-9") is None

    limits.rate_limit_release(user=alice, claim="form-1")

    assert limits.limit_check(user=alice, region="bj", claim="form-2") is None
    assert limits.limit_check(user=alice, region="bj", claim="form-3") is not None
    # Releasing Alice's place gave back neither Bob's nor one that was never taken.
    limits.rate_limit_release(user=alice, claim="form-never-taken")
    assert limits.limit_check(user=alice, region="bj", claim="form-4") is not None
    assert limits.limit_check(user=bob, region="bj", claim="form-10") is not None


def test_a_resubmitted_form_is_not_a_new_create(alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1
    form_token = open_form(alice_client)

    first = create(alice_client, form_token=form_token)
    again = create(alice_client, form_token=form_token)

    assert (first.status_code, again.status_code) == (302, 302)
    assert first["Location"] == again["Location"]
    assert create(alice_client, name="another").status_code == 429


def test_the_rate_limit_is_per_user(alice_client, bob_client, portal_on_sandbox, settings):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1
    create(alice_client)

    assert create(bob_client).status_code == 302
    assert create(alice_client, name="second").status_code == 429


def test_limits_set_to_zero_are_off(alice, alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 0
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 0
    held(alice, status=Status.UNKNOWN)

    responses = [create(alice_client, name=f"key-{n}") for n in range(3)]

    assert [response.status_code for response in responses] == [302, 302, 302]


# --- Counters shared by workers: local memory and Redis -------------------------------------------


def _use_redis(settings) -> None:
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
        required = os.environ.get("REQUIRE_REDIS") == "1" or "redis" in os.environ.get("REQUIRE_GROUPS", "")
        reason = f"Redis is not reachable at {REDIS_TEST_URL} ({error.__class__.__name__})"
        if required:
            pytest.fail(f"{reason}, and REQUIRE_REDIS or REQUIRE_GROUPS says Redis tests may not skip")
        pytest.skip(reason)


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.redis)])
def shared_cache(request, settings):
    if request.param == "redis":
        _use_redis(settings)
    return request.param


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_never_get_past_the_rate_limit(alice, settings, shared_cache):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 5
    settings.KEYPAIR_CREATE_RATE_WINDOW_SECONDS = 3600
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 0
    workers = 20
    start = threading.Barrier(workers)
    refusals: list[limits.LimitRefusal | None] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            start.wait()
            refusal = limits.limit_check(user=alice, region="bj", claim=secrets.token_hex(8))
            with lock:
                refusals.append(refusal)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(refusals) == workers
    assert sum(refusal is None for refusal in refusals) == 5
    assert {refusal.kind for refusal in refusals if refusal is not None} == {limits.RATE_LIMITED}


@pytest.mark.django_db(transaction=True)
def test_a_probe_that_lands_on_a_held_slot_still_finds_the_free_one(alice, settings, shared_cache, monkeypatch):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 3
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 0
    monkeypatch.setattr(limits.secrets, "choice", lambda keys: keys[0])  # always the first slot

    decisions = [limits.limit_check(user=alice, region="bj", claim=f"form-{n}") for n in range(4)]

    # The first take fills slot 0; every later probe hits it, and the full look fills 1 and 2.
    assert [decision is None for decision in decisions] == [True, True, True, False]
    assert decisions[3].kind == limits.RATE_LIMITED


@pytest.mark.django_db(transaction=True)
def test_a_create_under_a_large_limit_reads_one_slot_not_all_of_them(alice, settings, monkeypatch):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1000
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 0
    looks = []
    backend = caches["default"]  # the instance behind django.core.cache.cache, for this thread
    get_many = backend.get_many
    monkeypatch.setattr(backend, "get_many", lambda keys, *args, **kwargs: looks.append(len(keys)) or get_many(keys))

    decisions = [limits.limit_check(user=alice, region="bj", claim=f"form-{n}") for n in range(3)]

    assert decisions == [None, None, None]
    # Three creates among 1,000 slots: a probe hits a held one with odds of at most 3 in 1,000.
    assert sum(looks) <= 1000, looks


@pytest.mark.redis
def test_the_quota_count_and_the_rate_limit_work_on_redis(alice_client, portal_on_sandbox, settings):
    _use_redis(settings)
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1
    get_client("bj").create_keypair(name="someone-elses")

    form = alice_client.get(CREATE_URL)
    created = create(alice_client)
    refused = create(alice_client, name="second")

    assert quota_line(form, "bj")[0] == "499 of 500 key pairs left in Beijing (bj)."
    assert (created.status_code, refused.status_code) == (302, 429)


def test_a_cache_that_fails_stops_neither_the_form_nor_creates(alice_client, portal_on_sandbox, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }

    form = alice_client.get(CREATE_URL)
    created = create(alice_client)

    assert form.status_code == 200
    assert quota_line(form, "bj")[0] == "500 of 500 key pairs left in Beijing (bj)."
    assert created.status_code == 302
    assert any("The cache failed" in line for line in log_lines(caplog))
