"""My key pairs: each of Alice's create attempts with what became of it and of its private key.

Bob is another developer: he sees none of Alice's. The rows are made with the services the
create flow uses (``delivery_create``, ``delivery_claim``), without BCC: the list reads only
the database.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from keypairs.audit import Origin
from keypairs.delivery import ClaimOutcome, delivery_claim, delivery_create, delivery_report
from keypairs.list_filters import ListState
from keypairs.models import KeyPairRequest
from tests.people import signed_in

User = get_user_model()

LIST_URL = reverse("keypair_list")
Status = KeyPairRequest.Status
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0t\n-----END RSA PRIVATE KEY-----\n"
)


def keypair_request(owner, name: str, status: str = Status.CREATED) -> KeyPairRequest:
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=uuid.uuid4().hex,
        client_token=uuid.uuid4().hex,
        region="bj",
        name=name,
        status=status,
        keypair_id=f"k-{name[:8]}" if status == Status.CREATED else "",
        fingerprint_sha256=f"SHA256:{name}" if status == Status.CREATED else "",
    )


def waiting(owner, name: str) -> tuple[KeyPairRequest, str]:
    created = keypair_request(owner, name)
    _, token = delivery_create(keypair_request=created, private_key_pem=PEM)
    return created, token


def downloaded(owner, name: str) -> KeyPairRequest:
    created, token = waiting(owner, name)
    result = delivery_claim(
        delivery_public_id=created.public_id,
        user=owner,
        token=token,
        origin=Origin(source_ip="127.0.0.1", user_agent="test"),
    )
    assert result.outcome is ClaimOutcome.DOWNLOADED
    return created


def expired_unclaimed(owner, name: str) -> KeyPairRequest:
    created = keypair_request(owner, name)
    delivery_create(keypair_request=created, private_key_pem=PEM, now=timezone.now() - timedelta(days=1))
    return created


def rows(response) -> dict[str, str]:
    """Each table row's HTML, by the name of the key pair it links to, top to bottom."""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", response.content.decode(), re.DOTALL):
        name = re.search(r'<a href="/keypairs/[0-9a-f-]+/">([^<]*)</a>', row)
        if name:
            found[name.group(1)] = row
    return found


def badges(response) -> dict[str, str]:
    """The status badge of each row, by key pair name."""
    return {
        name: re.search(r'<span class="badge [a-z]+">([^<]*)</span>', row).group(1)
        for name, row in rows(response).items()
    }


def test_alice_sees_what_became_of_each_of_her_key_pairs(alice):
    waiting(alice, "waiting-one")
    downloaded(alice, "downloaded-one")
    expired_unclaimed(alice, "expired-one")
    keypair_request(alice, "failed-one", Status.FAILED)
    keypair_request(alice, "unknown-one", Status.UNKNOWN)
    keypair_request(alice, "pending-one", Status.PENDING)

    response = signed_in(alice).get(LIST_URL)

    assert response.status_code == 200
    assert badges(response) == {
        "pending-one": "Pending",
        "unknown-one": "Outcome unknown",
        "failed-one": "Failed",
        "expired-one": "Expired unclaimed",
        "downloaded-one": "Downloaded",
        "waiting-one": "Waiting for download",
    }
    waiting_row = rows(response)["waiting-one"]
    assert "k-waiting-" in waiting_row
    assert "SHA256:waiting-one" in waiting_row


def test_every_time_in_the_list_has_its_date_and_zone(alice):
    waiting_one, _ = waiting(alice, "waiting-one")
    downloaded_one = downloaded(alice, "downloaded-one")

    found = rows(signed_in(alice).get(LIST_URL))

    expires = timezone.localtime(waiting_one.delivery.expires_at)
    claimed = timezone.localtime(downloaded_one.delivery.claimed_at)
    # DATETIME_FORMAT names the zone: "until 3 Dec 2026, 15:22 UTC", never a bare "until 15:22".
    assert f"until {date_format(expires, 'DATETIME_FORMAT')}" in found["waiting-one"]
    assert date_format(expires, "DATETIME_FORMAT").endswith(" UTC")
    assert date_format(claimed, "DATETIME_FORMAT") in found["downloaded-one"]


def test_the_newest_comes_first(alice):
    for name in ("oldest", "middle", "newest"):
        keypair_request(alice, name, Status.FAILED)

    response = signed_in(alice).get(LIST_URL)

    assert response.status_code == 200
    assert list(rows(response)) == ["newest", "middle", "oldest"]


def test_each_row_links_to_its_page(alice):
    created, _ = waiting(alice, "build-server")

    response = signed_in(alice).get(LIST_URL)

    assert response.status_code == 200
    assert f'href="/keypairs/{created.public_id}/"' in response.content.decode()


def test_bob_sees_none_of_alices_key_pairs(alice, bob):
    alices, _ = waiting(alice, "alices-server")
    keypair_request(alice, "alices-failure", Status.FAILED)
    keypair_request(bob, "bobs-server", Status.FAILED)

    response = signed_in(bob).get(LIST_URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert list(rows(response)) == ["bobs-server"]
    assert "alices" not in page
    assert str(alices.public_id) not in page


def test_someone_with_no_key_pairs_is_invited_to_create_one(alice, bob):
    waiting(alice, "alices-server")

    response = signed_in(bob).get(LIST_URL)

    assert response.status_code == 200
    assert "You have not created any key pairs yet." in response.content.decode()
    assert rows(response) == {}


def test_the_home_page_lists_only_her_own_recent_key_pairs(alice, bob):
    waiting(alice, "alices-server")
    keypair_request(bob, "bobs-server", Status.FAILED)

    response = signed_in(alice).get(reverse("home"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "alices-server" in page
    assert "bobs-server" not in page


def test_the_list_costs_the_same_queries_for_many_rows_and_never_reads_a_ciphertext(alice, alice_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    waiting(alice, "first")
    # BCC's state is read once and kept in the (database) cache: count the views that read it from there.
    assert alice_client.get(LIST_URL).status_code == 200
    with CaptureQueriesContext(connection) as one_row:
        assert alice_client.get(LIST_URL).status_code == 200
    for index in range(5):
        waiting(alice, f"more-{index}")
    downloaded(alice, "fetched")

    with CaptureQueriesContext(connection) as many_rows:
        response = alice_client.get(LIST_URL)

    assert response.status_code == 200
    assert list(badges(response).values()).count("Waiting for download") == 6
    assert len(many_rows.captured_queries) == len(one_row.captured_queries)
    assert not [query for query in many_rows.captured_queries if "ciphertext" in query["sql"]]


# --- Search, filters, pages ------------------------------------------------------------------------


def named(
    owner, name: str, *, region: str = "bj", kind: str = KeyPairRequest.Kind.CREATE, status: str = Status.CREATED
):
    record = keypair_request(owner, name, status)
    KeyPairRequest.objects.filter(pk=record.pk).update(region=region, kind=kind)
    return record


def test_the_search_finds_names_containing_the_text_in_any_case(alice):
    for name in ("Web-Server", "old-webhost", "database"):
        named(alice, name, status=Status.FAILED)

    response = signed_in(alice).get(LIST_URL, {"q": "WEB"})

    assert response.status_code == 200
    assert list(rows(response)) == ["old-webhost", "Web-Server"]
    assert 'value="WEB"' in response.content.decode()


def test_the_region_filter_shows_only_that_regions_key_pairs(alice):
    named(alice, "in-beijing", region="bj", status=Status.FAILED)
    named(alice, "in-guangzhou", region="gz", status=Status.FAILED)

    response = signed_in(alice).get(LIST_URL, {"region": "gz"})

    assert response.status_code == 200
    assert list(rows(response)) == ["in-guangzhou"]


def test_each_state_filter_shows_the_key_pairs_in_that_state(alice):
    waiting(alice, "is-waiting")
    downloaded(alice, "is-downloaded")
    reported = downloaded(alice, "is-reported")
    delivery_report(delivery_public_id=reported.public_id, user=alice, origin=Origin())
    named(alice, "is-imported", kind=KeyPairRequest.Kind.IMPORT)
    named(alice, "is-assigned", kind=KeyPairRequest.Kind.ASSIGNED)
    named(alice, "is-deleted", status=Status.DELETED)
    named(alice, "is-failed", status=Status.FAILED)
    client = signed_in(alice)

    shown = {state: list(rows(client.get(LIST_URL, {"state": state}))) for state in ListState.values}

    assert shown == {
        "waiting": ["is-waiting"],
        "downloaded": ["is-downloaded"],
        "reported": ["is-reported"],
        "imported": ["is-imported"],
        "assigned": ["is-assigned"],
        "deleted": ["is-deleted"],
    }
    assert badges(client.get(LIST_URL, {"state": "assigned"})) == {"is-assigned": "Assigned to you"}
    assert badges(client.get(LIST_URL, {"state": "reported"})) == {"is-reported": "Reported"}


def test_a_filter_it_cannot_read_shows_everything_rather_than_an_error(alice):
    named(alice, "shown-anyway", status=Status.FAILED)

    response = signed_in(alice).get(LIST_URL, {"state": "nonsense", "region": "mars", "page": "x"})

    assert response.status_code == 200
    assert list(rows(response)) == ["shown-anyway"]


def test_a_search_that_finds_nothing_says_so(alice):
    named(alice, "something", status=Status.FAILED)

    response = signed_in(alice).get(LIST_URL, {"q": "nothing-like-it"})

    assert response.status_code == 200
    assert "No key pair matches this search." in response.content.decode()


def test_the_form_labels_each_field(alice):
    response = signed_in(alice).get(LIST_URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert '<form method="get"' in page
    for field, label in (("q", "Name contains"), ("region", "Region"), ("state", "State")):
        assert f'<label for="id_{field}">{label}:</label>' in page


def test_pages_hold_twenty_five_newest_first_and_keep_the_search(alice):
    for index in range(30):
        named(alice, f"match-{index:02}", status=Status.FAILED)
    named(alice, "other", status=Status.FAILED)
    client = signed_in(alice)

    first = client.get(LIST_URL, {"q": "match"})
    second = client.get(LIST_URL, {"q": "match", "page": 2})

    assert first.status_code == second.status_code == 200
    assert list(rows(first)) == [f"match-{index:02}" for index in range(29, 4, -1)]
    assert list(rows(second)) == [f"match-{index:02}" for index in range(4, -1, -1)]
    assert 'href="?q=match&amp;page=2"' in first.content.decode()
    assert "Page 2 of 2" in second.content.decode()


def test_a_full_page_costs_no_more_queries_than_a_page_of_one(alice, alice_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    downloaded(alice, "only-one")
    alice_client.get(LIST_URL)  # BCC's state is now in the (database) cache, as on most views
    with CaptureQueriesContext(connection) as one_row:
        assert alice_client.get(LIST_URL).status_code == 200
    for index in range(40):
        (downloaded if index % 2 else waiting)(alice, f"more-{index}")
        named(alice, f"imported-{index}", kind=KeyPairRequest.Kind.IMPORT)

    with CaptureQueriesContext(connection) as full_page:
        response = alice_client.get(LIST_URL, {"page": 2})

    assert response.status_code == 200
    assert len(rows(response)) == 25
    assert len(full_page.captured_queries) == len(one_row.captured_queries)
