"""The expiry on "My key pairs" and on a key pair's page: when, how soon, what to do; nothing without a maximum."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from keypairs.models import KeyPairRequest
from tests.import_flow import ec_key, import_key, public_line
from tests.key_ages import MAX_AGE_DAYS, aged

LIST_URL = reverse("keypair_list")


@pytest.fixture(autouse=True)
def ages(settings):
    settings.KEYPAIR_MAX_AGE_DAYS = MAX_AGE_DAYS
    settings.KEYPAIR_MAX_AGE_DAYS_BY_REGION = {}
    settings.KEYPAIR_EXPIRY_REMINDER_DAYS = [14, 3]
    settings.KEYPAIR_EXPIRY_POLICY = "flag"


def expiring(record: KeyPairRequest, days: int) -> str:
    """Make ``record`` expire ``days`` from now, less an hour (negative: expired that long ago, plus an hour);
    returns its expiry as the key pair's page writes it (the list writes the day, the rest in its title)."""
    made = timezone.now() - timedelta(days=MAX_AGE_DAYS - days, hours=1)
    KeyPairRequest.objects.filter(pk=record.pk).update(bcc_created_at=made)
    expires = timezone.localtime(made + timedelta(days=MAX_AGE_DAYS))
    return date_format(expires, "DATETIME_FORMAT")


def day_of(written: str) -> str:
    """The day of a time as ``expiring`` returns it: "12 Jan 2027, 14:13 UTC" -> "12 Jan 2027"."""
    return written.split(",")[0]


def rows(response) -> dict[str, str]:
    """Each table row's text (tags removed, spaces squeezed), by the key pair's name."""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", response.content.decode(), re.DOTALL):
        name = re.search(r'<a href="/keypairs/[0-9a-f-]+/">([^<]*)</a>', row)
        if name:
            found[name.group(1)] = " ".join(re.sub(r"<[^>]+>", " ", row).split())
    return found


def said_expiry(text: str) -> bool:
    # "Expired unclaimed" is a private key's download window, not the key pair's age.
    return bool(re.search(r"Expires on|Expired \S+ days? ago|Expired less|Too old|Expires soon", text))


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_the_list_says_when_each_key_pair_expires_and_marks_those_close_or_past(alice, alice_client):
    far_at = expiring(aged(alice, "far", days_old=1), 40)
    near_at = expiring(aged(alice, "near", days_old=1), 5)
    past_at = expiring(aged(alice, "past", days_old=1), -3)
    flagged = aged(alice, "flagged", days_old=1)
    expiring(flagged, -10)
    KeyPairRequest.objects.filter(pk=flagged.pk).update(
        flagged_at=timezone.now(), flag_reason=KeyPairRequest.FlagReason.EXPIRED
    )

    response = alice_client.get(LIST_URL)

    assert response.status_code == 200
    found = rows(response)
    assert f"Expires on {day_of(far_at)} (in 40 days)" in found["far"]
    assert f'title="{far_at}"' in response.content.decode()
    assert "Expires soon" not in found["far"] and "Too old" not in found["far"]
    assert f"Expires soon Expires on {day_of(near_at)} (in 5 days)" in found["near"]
    assert f"Too old Expired 3 days ago, on {day_of(past_at)} : to be flagged for a decision" in found["past"]
    assert "Expired 10 days ago" in found["flagged"]
    assert "flagged for a decision" in found["flagged"] and "to be flagged" not in found["flagged"]
    assert 'class="badge key-expiring"' in response.content.decode()


def test_under_the_delete_policy_an_expired_key_pair_reads_as_due_for_deletion(alice, alice_client, settings):
    settings.KEYPAIR_EXPIRY_POLICY = "delete"
    expiring(aged(alice, "past", days_old=1), -1)

    response = alice_client.get(LIST_URL)

    assert "Expired 1 day ago" in rows(response)["past"]
    assert "to be deleted" in rows(response)["past"]


def test_without_a_maximum_the_list_says_nothing_of_expiry(alice, alice_client, settings):
    settings.KEYPAIR_MAX_AGE_DAYS = 0
    settings.KEYPAIR_MAX_AGE_DAYS_BY_REGION = {"gz": 30}
    aged(alice, "ancient-bj", days_old=4000)
    expiring(aged(alice, "young-gz", days_old=1, region="gz"), 90 - 20)  # made 20 days ago; gz allows 30

    found = rows(alice_client.get(LIST_URL))

    assert not said_expiry(found["ancient-bj"])
    assert "Expires on" in found["young-gz"] and "(in 10 days)" in found["young-gz"]


def test_a_deleted_key_pair_shows_no_expiry(alice, alice_client):
    record = aged(alice, "gone", days_old=400)
    KeyPairRequest.objects.filter(pk=record.pk).update(status="deleted", deleted_at=timezone.now())

    found = rows(alice_client.get(LIST_URL))

    assert not said_expiry(found["gone"])


def test_the_expiry_costs_the_list_no_query(alice, alice_client, settings):
    for index in range(8):
        expiring(aged(alice, f"key-{index}", days_old=1), index * 3 - 6)
    alice_client.get(LIST_URL)  # BCC's state is in the cache now, as on most views
    settings.KEYPAIR_MAX_AGE_DAYS = 0
    with CaptureQueriesContext(connection) as without_expiry:
        plain = alice_client.get(LIST_URL)
    settings.KEYPAIR_MAX_AGE_DAYS = MAX_AGE_DAYS
    with CaptureQueriesContext(connection) as with_expiry:
        dated = alice_client.get(LIST_URL)

    assert plain.status_code == dated.status_code == 200
    assert "Expires soon" in dated.content.decode() and "Expires soon" not in plain.content.decode()
    assert len(with_expiry.captured_queries) == len(without_expiry.captured_queries)


def test_the_key_pairs_page_says_when_it_expires_and_what_to_do(alice, alice_client, portal_on_sandbox):
    assert import_key(alice_client, public_key=public_line(ec_key()), name="laptop").status_code == 302
    record = KeyPairRequest.objects.get(name="laptop")
    at = expiring(record, 10)

    response = alice_client.get(reverse("keypair_detail", kwargs={"public_id": record.public_id}))

    assert response.status_code == 200
    page = response.content.decode()
    expiry = re.search(r'<dd id="key-expiry">(.*?)</dd>', page, re.DOTALL).group(1)
    assert f"Expires on {at} (in 10 days)" in " ".join(re.sub(r"<[^>]+>", " ", expiry).split())
    note = re.search(r'<div class="warning-box key-age-note".*?</div>', page, re.DOTALL).group(0)
    assert "at most 90 days" in note
    assert f'href="{reverse("keypair_create")}">create a new key pair</a>' in note
    assert f'href="{reverse("keypair_delete", kwargs={"public_id": record.public_id})}">delete this one</a>' in note


def test_the_page_of_a_key_pair_far_from_expiry_has_no_warning_and_without_a_maximum_no_expiry(
    alice, alice_client, portal_on_sandbox, settings
):
    assert import_key(alice_client, public_key=public_line(ec_key()), name="laptop").status_code == 302
    record = KeyPairRequest.objects.get(name="laptop")
    url = reverse("keypair_detail", kwargs={"public_id": record.public_id})

    far = alice_client.get(url)
    settings.KEYPAIR_MAX_AGE_DAYS = 0
    unlimited = alice_client.get(url)

    assert far.status_code == unlimited.status_code == 200
    assert 'id="key-expiry"' in far.content.decode() and "(in 90 days)" in text(far)
    assert 'id="key-age-note"' not in far.content.decode()
    assert 'id="key-expiry"' not in unlimited.content.decode()
    assert not said_expiry(text(unlimited))
