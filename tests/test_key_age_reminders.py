"""Reminder mails before a key pair reaches its maximum age, through a real SMTP server on loopback.

The run's clock moves (``enforce_key_age(now=...)``); the key pairs stay as they were made.
Alice owns key pairs and has an address; Bob left; Carol came back.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format

from keypairs.audit import Origin
from keypairs.models import AuditEvent, Departure, KeyPairRequest
from keypairs.services.expiry_reminder import ReminderOutcome, keypair_remind_expiry
from tests.create_flow import create
from tests.key_ages import MAX_AGE_DAYS, PORTAL_BASE_URL, aged, days_before_expiry, rows_of, run_at
from tests.people import signed_in

Action = AuditEvent.Action


@pytest.fixture(autouse=True)
def ages(settings):
    settings.KEYPAIR_MAX_AGE_DAYS = MAX_AGE_DAYS
    settings.KEYPAIR_MAX_AGE_DAYS_BY_REGION = {}
    settings.KEYPAIR_EXPIRY_REMINDER_DAYS = [14, 3]
    settings.KEYPAIR_EXPIRY_POLICY = "flag"
    settings.PORTAL_BASE_URL = PORTAL_BASE_URL


@pytest.fixture
def alice(alice):
    alice.email, alice.first_name, alice.last_name = "alice@example.com", "Alice", "Liddell"
    alice.save()
    return alice


def person(username: str, **fields):
    return get_user_model().objects.create_user(username=username, email=f"{username}@example.com", **fields)


def test_the_owner_is_mailed_fourteen_and_three_days_before_and_never_twice(alice, smtp_server):
    record = aged(alice, "build-server", days_old=1)

    quiet = run_at(days_before_expiry(record, 20))
    first = run_at(days_before_expiry(record, 13.5))
    first_again = run_at(days_before_expiry(record, 13))
    between = run_at(days_before_expiry(record, 8))
    second = run_at(days_before_expiry(record, 2.5))
    second_again = run_at(days_before_expiry(record, 1))

    assert quiet.reminded == first_again.reminded == between.reminded == second_again.reminded == []
    assert len(first.reminded) == len(second.reminded) == 1
    assert "reminder 14 days before expiry mailed" in first.reminded[0]
    assert "reminder 3 days before expiry mailed" in second.reminded[0]
    mails = smtp_server.mails_to("alice@example.com")
    assert [mail.subject for mail in mails] == [
        "Your key pair build-server expires in 14 days",
        "Your key pair build-server expires in 3 days",
    ]
    assert [row.detail.split(";")[0] for row in rows_of(Action.EXPIRY_REMINDED, record)] == [
        "threshold 14 days",
        "threshold 3 days",
    ]
    record.refresh_from_db()
    assert record.expiry_reminder_days == 3
    assert record.flagged_at is None


def test_the_mail_says_what_where_when_and_what_to_do_in_the_portals_voice(alice, smtp_server):
    record = aged(alice, "build-server", days_old=1, region="gz")
    expires = date_format(timezone.localtime(days_before_expiry(record, 0)), "DATETIME_FORMAT")

    run_at(days_before_expiry(record, 13.5))

    (mail,) = smtp_server.mails_to("alice@example.com")
    body = mail.body
    assert mail.envelope_to == ["alice@example.com"]
    assert body.startswith("Hello Alice Liddell,")
    assert record.keypair_id in body
    assert "Guangzhou (gz)" in body
    assert expires in body and expires.endswith("UTC")
    assert f"{PORTAL_BASE_URL}/keypairs/{record.public_id}/" in body
    assert f"{PORTAL_BASE_URL}/keypairs/new" in body
    assert "Create a new key pair" in body
    assert "flagged for the portal's admins to decide" in body
    assert "&#x27;" not in body and "&amp;" not in body  # plain text, not HTML-escaped


def test_under_the_delete_policy_the_mail_says_the_key_pair_will_be_deleted(alice, smtp_server, settings):
    settings.KEYPAIR_EXPIRY_POLICY = "delete"
    record = aged(alice, "build-server", days_old=1)

    run_at(days_before_expiry(record, 2))

    (mail,) = smtp_server.mails_to("alice@example.com")
    assert "the portal deletes it" in mail.body


def test_a_run_after_both_thresholds_passed_sends_only_the_smallest(alice, smtp_server):
    record = aged(alice, "build-server", days_old=1)

    run = run_at(days_before_expiry(record, 2))
    run_at(days_before_expiry(record, 1))

    assert len(run.reminded) == 1
    assert [mail.subject for mail in smtp_server.mails_to("alice@example.com")] == [
        "Your key pair build-server expires in 2 days"
    ]
    assert len(rows_of(Action.EXPIRY_REMINDED, record)) == 1
    record.refresh_from_db()
    assert record.expiry_reminder_days == 3


def test_a_mail_holds_no_private_key_no_token_and_no_bcc_secret(alice, smtp_server, portal_on_sandbox, settings):
    client = signed_in(alice)
    response = create(client, name="build-server")
    token = client.cookies["keypair_download"].value
    record = KeyPairRequest.objects.get(name="build-server")
    private_key = client.post(f"/keypairs/{record.public_id}/download", {"format": "pem"}).content.decode()
    assert response.status_code == 302 and "PRIVATE KEY" in private_key

    run_at(days_before_expiry(record, 13.5))
    run_at(days_before_expiry(record, 2.5))

    mails = smtp_server.mails_to("alice@example.com")
    assert len(mails) == 2
    key_lines = [line for line in private_key.splitlines() if len(line) > 20]
    for mail in mails:
        text = mail.message.as_string()
        assert "PRIVATE KEY" not in text
        assert not [line for line in key_lines if line in text]
        assert token not in text
        assert settings.BCC_SECRET_ACCESS_KEY not in text
        assert record.form_token_hash not in text and record.client_token not in text


def test_a_refusing_mail_server_is_audited_and_the_next_run_tries_again(alice, smtp_server):
    record = aged(alice, "build-server", days_old=1)
    smtp_server.refuse = True

    refused = run_at(days_before_expiry(record, 13.5))
    record.refresh_from_db()
    marked_after_refusal = record.expiry_reminder_days
    smtp_server.refuse = False
    retried = run_at(days_before_expiry(record, 13))

    assert "NOT delivered" in refused.reminded[0]
    assert refused.mail_failures == 1
    assert marked_after_refusal is None
    (failed,) = rows_of(Action.MAIL_FAILED, record)
    assert failed.outcome == AuditEvent.Outcome.FAILURE
    assert "not delivered (reminder 14 days before expiry)" in failed.detail
    assert "reminder 14 days before expiry mailed" in retried.reminded[0]
    assert len(smtp_server.mails_to("alice@example.com")) == 1
    record.refresh_from_db()
    assert record.expiry_reminder_days == 14


def test_an_owner_without_an_address_is_skipped_and_the_run_says_so_once(alice, smtp_server):
    alice.email = ""
    alice.save()
    record = aged(alice, "build-server", days_old=1)

    run = run_at(days_before_expiry(record, 13.5))
    again = run_at(days_before_expiry(record, 13))

    assert run.reminded == [
        f"build-server ({record.keypair_id}, bj, owner alice): reminder 14 days before expiry "
        "NOT mailed: the owner has no email address"
    ]
    assert run.mail_failures == 1
    assert again.reminded == []
    assert smtp_server.received == []
    (failed,) = rows_of(Action.MAIL_FAILED, record)
    assert failed.detail.startswith("no address")
    assert rows_of(Action.EXPIRY_REMINDED) == []


def test_people_who_left_are_not_reminded_and_people_who_came_back_are(db, smtp_server):
    inactive = person("bob", is_active=False)
    departed, returned = person("dave"), person("carol")
    Departure.objects.create(person=departed, route=Departure.Route.OFFBOARDED)
    Departure.objects.create(person=returned, route=Departure.Route.OFFBOARDED, returned_at=timezone.now())
    records = [aged(owner, f"key-of-{owner.username}", days_old=1) for owner in (inactive, departed, returned)]

    run = run_at(days_before_expiry(records[0], 13.5))

    assert [mail.envelope_to for mail in smtp_server.received] == [["carol@example.com"]]
    assert len(run.reminded) == 1 and "owner carol" in run.reminded[0]


def test_two_runs_at_once_send_one_mail(alice, smtp_server):
    record = aged(alice, "build-server", days_old=1)
    expires = days_before_expiry(record, 0)
    # Each run read the record before either wrote: both believe the reminder is unsent.
    seen_by_one, seen_by_other = KeyPairRequest.objects.get(pk=record.pk), KeyPairRequest.objects.get(pk=record.pk)

    outcomes = [
        keypair_remind_expiry(
            keypair_request=seen, threshold=14, expires_at=expires, days_left=13, origin=Origin()
        ).outcome
        for seen in (seen_by_one, seen_by_other)
    ]

    assert outcomes == [ReminderOutcome.MAILED, ReminderOutcome.ALREADY_SENT]
    assert len(smtp_server.mails_to("alice@example.com")) == 1
    assert len(rows_of(Action.EXPIRY_REMINDED, record)) == 1


def test_a_maximum_raised_after_a_reminder_reminds_again_before_the_new_expiry(alice, smtp_server, settings):
    record = aged(alice, "build-server", days_old=1)
    run_at(days_before_expiry(record, 2))  # the 3-day reminder under 90 days
    settings.KEYPAIR_MAX_AGE_DAYS = 180

    forgotten = run_at(days_before_expiry(record, 2))  # now 92 days early: the marks are forgotten
    record.refresh_from_db()
    mark_after_raise = record.expiry_reminder_days
    reminded = run_at(days_before_expiry(record, 13.5, max_age=180))

    assert forgotten.reminded == [] and mark_after_raise is None
    assert "reminder 14 days before expiry mailed" in reminded.reminded[0]
    assert len(smtp_server.mails_to("alice@example.com")) == 2


def test_finding_whom_to_remind_is_one_query_however_many_key_pairs(alice, bob, settings):
    for index in range(5):
        aged(alice, f"young-{index}", days_old=1)
        aged(bob, f"older-{index}", days_old=10)
    record = aged(alice, "close", days_old=1)
    now = days_before_expiry(record, 30)
    # None is due at this time: the whole run is its one read.
    with CaptureQueriesContext(connection) as nothing_due:
        run = run_at(now)

    assert run.reminded == [] and run.steps == []
    assert len(nothing_due.captured_queries) == 1
    assert re.search(r"\bJOIN\b", nothing_due.captured_queries[0]["sql"])  # the owner comes with the record


def test_each_reminder_due_costs_only_its_writes(alice, bob, smtp_server):
    bob.email = "bob@example.com"
    bob.save()
    records = [aged(owner, f"{owner.username}-{index}", days_old=1) for index in range(3) for owner in (alice, bob)]
    now = days_before_expiry(records[0], 13.5)

    with CaptureQueriesContext(connection) as queries:
        run = run_at(now)

    assert len(run.reminded) == 6 and len(smtp_server.received) == 6
    reads_of_records = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT")
        and ('"keypairs_keypairrequest"' in query["sql"] or '"auth_user"' in query["sql"])
    ]
    assert len(reads_of_records) == 1  # the candidates, with their owners; then only the claims and audit rows
