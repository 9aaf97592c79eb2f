"""``manage.py enforce_key_policy``: one run at a time, idempotent, one summary mailed to the admins.

Mail goes through a real SMTP server on loopback (``smtp_server``); a server that refuses it
leaves a ``mail_failed`` row and the work done, and the command still exits 0.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone, translation
from django.utils.formats import date_format

from keypairs.management.commands.enforce_key_policy import NOTHING_TO_DO, SUMMARY_NOT_SENT, SUMMARY_SENT
from keypairs.models import Departure
from keypairs.offboarding import person_left
from keypairs.single_runner import single_run
from tests.offboarding_world import ORIGIN, actions, fresh, in_bcc, made


def enforce() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("enforce_key_policy", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def left_long_ago(person) -> Departure:
    """``person`` left under the delete policy, and the grace period is over."""
    departure = person_left(person=person, route=Departure.Route.OFFBOARDED, origin=ORIGIN)
    Departure.objects.filter(pk=departure.pk).update(
        left_at=departure.left_at - timedelta(days=15), delete_after=departure.delete_after - timedelta(days=15)
    )
    return departure


def test_a_due_departure_is_enforced_once_and_the_admins_get_one_summary(
    alice, pat, portal_on_sandbox, delete_policy, smtp_server
):
    web = made(alice, "web")
    left_long_ago(alice)
    smtp_server.received.clear()  # the mail about her leaving

    out, err = enforce()

    assert f"web ({web.keypair_id}, bj, owner alice): deleted" in out
    assert SUMMARY_SENT in out and err == ""
    assert not in_bcc(web)
    [summary] = smtp_server.mails_to("pat@example.com")
    assert summary.subject == "Key pair policy: 1 step taken"
    assert f"- web ({web.keypair_id}, bj, owner alice): deleted" in summary.body
    assert "policy delete" in summary.body

    again, _ = enforce()

    assert NOTHING_TO_DO in again
    assert len(smtp_server.received) == 1


def test_a_departure_still_in_its_grace_period_is_left_alone(alice, pat, portal_on_sandbox, delete_policy, smtp_server):
    web = made(alice, "web")
    person_left(person=alice, route=Departure.Route.DEACTIVATED, origin=ORIGIN)
    smtp_server.received.clear()

    out, _ = enforce()

    assert NOTHING_TO_DO in out
    assert in_bcc(web) and fresh(web).status == "created"
    assert smtp_server.received == []


def test_a_run_while_another_holds_the_job_says_so_and_does_nothing(alice, pat, portal_on_sandbox, delete_policy):
    web = made(alice, "web")
    left_long_ago(alice)

    with single_run("enforce_key_policy"):
        out, err = enforce()

    assert out.startswith("Another run of enforce_key_policy is at work")
    assert err == ""
    assert in_bcc(web)
    assert Departure.objects.get().settled_at is None


def test_a_refused_summary_is_audited_and_the_work_still_done(
    alice, pat, portal_on_sandbox, delete_policy, smtp_server
):
    web = made(alice, "web")
    left_long_ago(alice)
    smtp_server.refuse = True

    out, err = enforce()

    assert not in_bcc(web)
    assert SUMMARY_NOT_SENT in err
    assert "deleted" in out
    assert actions("mail_failed")[-1] == (
        "mail_failed",
        "enforce_key_policy summary: the mail to 1 portal admin(s) was not delivered",
    )
    assert Departure.objects.get().settled_at is not None


def test_the_mail_about_a_person_leaving_says_when_and_what(alice, pat, portal_on_sandbox, delete_policy, smtp_server):
    web = made(alice, "web")

    departure = person_left(person=alice, route=Departure.Route.OFFBOARDED, origin=ORIGIN)

    [mail] = smtp_server.mails_to("pat@example.com")
    assert mail.subject == "alice left: what happens to their key pairs"
    with translation.override("en"):  # the mail's language: Pat never chose one
        when = date_format(timezone.localtime(departure.delete_after), "DATETIME_FORMAT")
    assert f"will be deleted on {when}," in mail.body
    assert f"- web ({web.keypair_id}, bj)" in mail.body
    assert "/admin/keypairs/flagged/?reason=owner_left" in mail.body
    assert "PRIVATE KEY" not in mail.body


def test_a_person_leaving_while_no_admin_has_an_address_is_audited(alice, portal_on_sandbox, flag_policy):
    made(alice, "web")

    person_left(person=alice, route=Departure.Route.OFFBOARDED, origin=ORIGIN)

    assert actions("mail_failed") == [
        ("mail_failed", "summary of alice leaving: no active portal admin has an email address")
    ]
