"""The "BCC inventory" admin page: who sees it, assigning and deleting unowned key pairs, drift on the index.

Pat is a portal admin, Audrey an auditor, Alice a developer. Key pairs "made outside the portal"
are imported into the sandbox through the BCC client; ``manage.py sync_bcc`` finds them.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, BccInventoryEntry, KeyPairRequest
from portal.auth.roles import Role
from tests.auth_people import person
from tests.people import signed_in
from tests.test_bcc_state import imported, record_of

CHANGELIST = "/admin/keypairs/bccinventoryentry/"


@pytest.fixture
def regions(settings):
    settings.BCC_REGIONS = ["bj", "gz"]


@pytest.fixture
def pat(db):
    return person("pat", Role.PORTAL_ADMIN)


@pytest.fixture
def pat_client(pat):
    return signed_in(pat)


@pytest.fixture
def audrey_client(db):
    return signed_in(person("audrey", Role.AUDITOR))


def sync() -> None:
    call_command("sync_bcc", stdout=StringIO(), stderr=StringIO())


@pytest.fixture
def unowned(portal_on_sandbox, regions) -> BccInventoryEntry:
    keypair_id = imported("bj", "legacy-build", "made by a script")
    sync()
    return BccInventoryEntry.objects.get(keypair_id=keypair_id)


def assign_url(entry: BccInventoryEntry) -> str:
    return f"{CHANGELIST}{entry.pk}/assign/"


def delete_url(entry: BccInventoryEntry) -> str:
    return f"{CHANGELIST}{entry.pk}/delete-unowned/"


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- The list ---------------------------------------------------------------------------------


def test_it_lists_every_key_pair_with_its_owner_or_an_unowned_badge(pat_client, alice, unowned):
    mine = imported("gz", "alice-web")
    record_of(alice, keypair_id=mine, name="alice-web", region="gz")
    sync()

    response = pat_client.get(CHANGELIST)

    assert response.status_code == 200
    page = response.content.decode()
    assert "legacy-build" in page and "alice-web" in page
    assert page.count('class="audit-badge-security inventory-unowned"') == 1
    assert ">alice<" in page


def test_auditors_see_the_list_and_an_entry_but_no_action(audrey_client, unowned):
    assert audrey_client.get(CHANGELIST).status_code == 200
    page = audrey_client.get(f"{CHANGELIST}{unowned.pk}/change/")

    assert page.status_code == 200
    assert b"assign-button" not in page.content and b"delete-button" not in page.content


def test_portal_admins_get_the_two_actions_on_an_unowned_entry(pat_client, unowned):
    page = pat_client.get(f"{CHANGELIST}{unowned.pk}/change/")

    assert page.status_code == 200
    assert b"assign-button" in page.content and b"delete-button" in page.content


def test_it_filters_unowned_and_searches_by_name_prefix_or_id(pat_client, alice, unowned):
    record_of(alice, keypair_id=imported("gz", "legacy-owned"), name="legacy-owned", region="gz")
    sync()

    unowned_only = pat_client.get(CHANGELIST, {"owned": "unowned"}).content.decode()
    by_prefix = pat_client.get(CHANGELIST, {"q": "LEGACY"}).content.decode()
    by_id = pat_client.get(CHANGELIST, {"q": unowned.keypair_id}).content.decode()
    middle = pat_client.get(CHANGELIST, {"q": "build"}).content.decode()

    assert "legacy-build" in unowned_only and "legacy-owned" not in unowned_only
    assert "legacy-build" in by_prefix and "legacy-owned" in by_prefix
    assert "legacy-build" in by_id and "legacy-owned" not in by_id
    assert "legacy-build" not in middle  # a prefix, not a substring: an index answers it


# --- Auditors: read-only ------------------------------------------------------------------------


def test_auditors_are_refused_both_actions(audrey_client, unowned):
    for url in (assign_url(unowned), delete_url(unowned)):
        assert audrey_client.post(url, {"confirm": "yes"}).status_code == 403

    unowned.refresh_from_db()
    assert (unowned.record, unowned.gone_at) == (None, None)
    assert len(get_client("bj").list_keypairs()) == 1
    assert not AuditEvent.objects.filter(action__in=["assigned", "delete_requested"]).exists()


def test_the_actions_answer_only_post(pat_client, unowned):
    assert pat_client.get(assign_url(unowned)).status_code == 405
    assert pat_client.get(delete_url(unowned)).status_code == 405


# --- Assign ---------------------------------------------------------------------------------------


def test_assign_asks_for_a_confirmation_first(pat_client, alice, unowned):
    response = pat_client.post(assign_url(unowned))

    assert response.status_code == 200
    assert b"Yes, assign it" in response.content
    assert b">alice<" in response.content  # offered as an owner
    unowned.refresh_from_db()
    assert unowned.record is None


def test_assigned_the_developer_sees_it_and_deletes_it(pat_client, alice, alice_client, unowned):
    response = pat_client.post(assign_url(unowned), {"confirm": "yes", "owner": alice.pk}, follow=True)

    assert response.status_code == 200
    assert any("now belongs to alice" in message for message in messages_of(response))
    unowned.refresh_from_db()
    record = unowned.record
    assert (record.owner, record.kind, record.status) == (alice, KeyPairRequest.Kind.ASSIGNED, "created")
    assert (record.keypair_id, record.name, record.description) == (
        unowned.keypair_id,
        "legacy-build",
        "made by a script",
    )
    assert record.public_key.startswith("ecdsa-sha2-nistp256 ") and record.fingerprint_sha256.startswith("SHA256:")
    assigned = AuditEvent.objects.get(action="assigned")
    assert (assigned.actor_username, assigned.keypair_id) == ("pat", unowned.keypair_id)
    assert "alice" in assigned.detail

    listing = alice_client.get("/keypairs/")
    assert "legacy-build" in listing.content.decode() and "Assigned to you" in listing.content.decode()
    detail = alice_client.get(f"/keypairs/{record.public_id}/")
    assert detail.status_code == 200
    assert b"assigned-note" in detail.content and b"download-form" not in detail.content

    deleted = alice_client.post(f"/keypairs/{record.public_id}/delete")
    assert deleted.status_code == 302
    record.refresh_from_db()
    assert record.status == "deleted"
    assert get_client("bj").list_keypairs() == []
    sync()
    unowned.refresh_from_db()
    assert unowned.gone_at is not None and unowned.record == record
    assert not AuditEvent.objects.filter(action="deleted_outside").exists()  # the portal deleted it


def test_an_assigned_key_pair_counts_against_the_owners_cap(pat_client, alice, unowned, settings):
    from keypairs.limits import held_in_region

    pat_client.post(assign_url(unowned), {"confirm": "yes", "owner": alice.pk})

    assert held_in_region(user=alice, region="bj") == 1


def test_assign_needs_an_active_developer(pat_client, pat, unowned):
    response = pat_client.post(assign_url(unowned), {"confirm": "yes", "owner": pat.pk})

    assert response.status_code == 200  # the confirmation again, with the form's sentence
    assert b"Select a valid choice" in response.content
    unowned.refresh_from_db()
    assert unowned.record is None
    assert not KeyPairRequest.objects.exists()


def test_an_owned_or_gone_entry_can_be_neither_assigned_nor_deleted(pat_client, alice, unowned):
    owned = imported("gz", "owned-one")
    record_of(alice, keypair_id=owned, name="owned-one", region="gz")
    get_client("bj").delete_keypair(unowned.keypair_id)
    sync()
    owned_entry = BccInventoryEntry.objects.get(keypair_id=owned)

    for entry, sentence in ((owned_entry, "already belongs to alice"), (unowned, "no longer in BCC")):
        for url in (assign_url(entry), delete_url(entry)):
            response = pat_client.post(url, {"confirm": "yes", "owner": alice.pk}, follow=True)
            assert response.status_code == 200
            assert any(sentence in message for message in messages_of(response)), url

    assert KeyPairRequest.objects.count() == 1
    assert get_client("gz").list_keypairs()[0].keypair_id == owned
    assert not AuditEvent.objects.filter(action__in=["assigned", "delete_requested"]).exists()


# --- Delete ---------------------------------------------------------------------------------------


def test_delete_asks_for_a_confirmation_then_deletes_it_in_bcc(pat_client, unowned):
    confirmation = pat_client.post(delete_url(unowned))
    assert confirmation.status_code == 200 and b"Yes, delete it in BCC" in confirmation.content
    assert len(get_client("bj").list_keypairs()) == 1

    response = pat_client.post(delete_url(unowned), {"confirm": "yes"}, follow=True)

    assert response.status_code == 200
    assert any("is deleted from BCC" in message for message in messages_of(response))
    assert get_client("bj").list_keypairs() == []
    unowned.refresh_from_db()
    assert unowned.gone_at is not None
    rows = AuditEvent.objects.filter(keypair_id=unowned.keypair_id).order_by("id")
    assert [row.action for row in rows] == ["found_unowned", "delete_requested", "deleted"]
    assert all(row.actor_username == "pat" for row in rows[1:])
    assert "deleted from the BCC inventory" in rows[2].detail
    sync()
    assert not AuditEvent.objects.filter(action="deleted_outside").exists()


def test_a_bound_key_pair_is_not_deleted_and_the_admin_is_told_why(pat_client, unowned):
    BccInventoryEntry.objects.filter(pk=unowned.pk).update(instance_count=2)

    response = pat_client.post(delete_url(unowned), {"confirm": "yes"}, follow=True)

    assert any("bound to 2 instances" in message for message in messages_of(response))
    assert len(get_client("bj").list_keypairs()) == 1
    unowned.refresh_from_db()
    assert unowned.gone_at is None


def test_bcc_down_during_a_delete_changes_nothing_and_says_so(pat_client, unowned, portal_on_sandbox):
    portal_on_sandbox.inject("status", status=503, operation="delete", count=3)

    response = pat_client.post(delete_url(unowned), {"confirm": "yes"}, follow=True)

    assert any("was not deleted" in message or "Nothing changed" in message for message in messages_of(response))
    unowned.refresh_from_db()
    assert unowned.gone_at is None
    failed = AuditEvent.objects.get(action="delete_failed")
    assert failed.actor_username == "pat" and failed.outcome == "failure"


# --- Drift on the admin index ------------------------------------------------------------------


def test_the_admin_index_shows_the_drift_counts_with_links(
    pat_client, audrey_client, alice, portal_on_sandbox, regions
):
    owned = imported("bj", "to-rename")
    record_of(alice, keypair_id=owned, name="to-rename")
    doomed = imported("gz", "doomed")
    imported("gz", "stray-one")
    imported("bj", "stray-two")
    sync()
    get_client("gz").delete_keypair(doomed)
    get_client("bj").rename_keypair(owned, name="renamed")
    sync()

    for client in (pat_client, audrey_client):
        page = client.get("/admin/").content.decode()
        assert 'id="drift-unowned">2<' in page
        assert 'id="drift-gone">1<' in page
        assert 'id="drift-changed">1<' in page
        assert f"{CHANGELIST}?state=unowned" in page
    gone = pat_client.get(CHANGELIST, {"state": "gone_last_sync"}).content.decode()
    assert "doomed" in gone and "stray-one" not in gone
    changed = pat_client.get(CHANGELIST, {"state": "changed"}).content.decode()
    assert "renamed" in changed and 'class="field-marks">Changed outside the portal<' in changed
    sync()
    assert 'id="drift-gone">0<' in pat_client.get("/admin/").content.decode()  # nothing went since
