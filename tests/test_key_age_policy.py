"""Key pairs past their maximum age: the operators' policy (flag or delete), each step once.

Key pairs that must exist in BCC are imported through the import form into the sandbox, over
real HTTP; the run's clock is moved past their expiry (``enforce_key_age(now=...)``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from keypairs.audit import Origin
from keypairs.bcc import errors
from keypairs.bcc.factory import get_client
from keypairs.models import AuditEvent, KeyPairRequest
from keypairs.services.policy import PolicyOutcome, keypair_clear_flag
from tests.import_flow import ec_key, import_key, public_line
from tests.key_ages import MAX_AGE_DAYS, aged, days_before_expiry, rows_of, run_at
from tests.sandbox_instances import linux_instances

Action = AuditEvent.Action
FlagReason = KeyPairRequest.FlagReason


@pytest.fixture(autouse=True)
def ages(settings):
    settings.KEYPAIR_MAX_AGE_DAYS = MAX_AGE_DAYS
    settings.KEYPAIR_MAX_AGE_DAYS_BY_REGION = {}
    settings.KEYPAIR_EXPIRY_REMINDER_DAYS = [14, 3]
    settings.KEYPAIR_EXPIRY_POLICY = "flag"


def in_bcc(alice_client, name: str, *, region: str = "bj") -> KeyPairRequest:
    """A key pair of Alice's imported into the sandbox through the import form."""
    response = import_key(alice_client, public_key=public_line(ec_key()), name=name, region=region)
    assert response.status_code == 302
    record = KeyPairRequest.objects.get(name=name)
    assert record.status == KeyPairRequest.Status.CREATED and record.bcc_created_at is not None
    return record


def still_in_bcc(record: KeyPairRequest) -> bool:
    try:
        get_client(record.region).get_keypair(record.keypair_id)
    except errors.BccApiError as error:
        assert error.code == errors.KEYPAIR_NOT_EXIST
        return False
    return True


def test_under_the_flag_policy_an_expired_key_pair_is_flagged_once(alice):
    record = aged(alice, "old-key", days_old=1)

    early = run_at(days_before_expiry(record, 0.5))
    expired = run_at(days_before_expiry(record, -0.5))
    again = run_at(days_before_expiry(record, -3))

    assert early.steps == [] and again.steps == []
    (step,) = expired.steps
    assert step.outcome is PolicyOutcome.FLAGGED
    assert "old-key" in step.line and "flagged" in step.line
    record.refresh_from_db()
    assert record.flagged_at is not None and record.flag_reason == FlagReason.EXPIRED
    assert record.status == KeyPairRequest.Status.CREATED
    (flagged,) = rows_of(Action.FLAGGED, record)
    assert "older than the maximum age of 90 days in bj" in flagged.detail
    assert flagged.actor_username == ""  # the policy, not a person


def test_a_flag_a_person_cleared_is_not_set_again(alice):
    record = aged(alice, "kept-key", days_old=1)
    run_at(days_before_expiry(record, -1))
    record.refresh_from_db()
    keypair_clear_flag(keypair_request=record, actor=None, why="still needed until Friday", origin=Origin())

    later = run_at(days_before_expiry(record, -2))

    assert later.steps == []
    record.refresh_from_db()
    assert record.flagged_at is None
    assert len(rows_of(Action.FLAGGED, record)) == 1


def test_a_key_pair_flagged_already_is_not_audited_again(alice):
    record = aged(alice, "owner-left-key", days_old=1)
    KeyPairRequest.objects.filter(pk=record.pk).update(flagged_at=timezone.now(), flag_reason=FlagReason.OWNER_LEFT)

    run = run_at(days_before_expiry(record, -1))

    assert [step.outcome for step in run.steps] == [PolicyOutcome.ALREADY_FLAGGED]
    assert rows_of(Action.FLAGGED, record) == []
    record.refresh_from_db()
    assert record.flag_reason == FlagReason.OWNER_LEFT


def test_under_the_delete_policy_an_expired_key_pair_is_deleted_in_bcc(alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_EXPIRY_POLICY = "delete"
    record = in_bcc(alice_client, "old-key")
    young = in_bcc(alice_client, "young-key")
    KeyPairRequest.objects.filter(pk=young.pk).update(bcc_created_at=timezone.now() + timedelta(days=30))

    run = run_at(days_before_expiry(record, -1))
    again = run_at(days_before_expiry(record, -2))

    assert [step.outcome for step in run.steps] == [PolicyOutcome.DELETED]
    assert again.steps == []
    assert not still_in_bcc(record)
    assert still_in_bcc(young)
    record.refresh_from_db()
    assert record.status == KeyPairRequest.Status.DELETED and record.deleted_at is not None
    (deleted,) = rows_of(Action.DELETED, record)
    assert "older than the maximum age of 90 days in bj" in deleted.detail


def test_a_bound_key_pair_is_unbound_from_its_instances_then_deleted(alice, alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_EXPIRY_POLICY = "delete"
    record = in_bcc(alice_client, "bound-key")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web-1", "i-web-2"])
    get_client("bj").attach_keypair(record.keypair_id, instance_ids=["i-web-1", "i-web-2"])

    run = run_at(days_before_expiry(record, -1))

    assert [step.outcome for step in run.steps] == [PolicyOutcome.UNBOUND_DELETED]
    assert not still_in_bcc(record)
    assert [instance.keypair_id for instance in get_client("bj").list_instances()] == [None, None]
    record.refresh_from_db()
    assert record.status == KeyPairRequest.Status.DELETED
    rows = list(AuditEvent.objects.filter(keypair_id=record.keypair_id).order_by("id").values_list("action", "detail"))
    steps = [action for action, _ in rows if action in ("unbind_requested", "unbound", "delete_requested", "deleted")]
    assert steps == ["unbind_requested", "unbound", "delete_requested", "deleted"]
    (unbound,) = rows_of(Action.UNBOUND, record)
    assert "i-web-1, i-web-2" in unbound.detail
    assert "older than the maximum age of 90 days in bj" in unbound.detail
    assert unbound.actor_username == ""


def test_a_bound_key_pair_an_instance_still_holds_is_flagged_and_the_next_run_finishes(
    alice, alice_client, portal_on_sandbox, settings
):
    settings.KEYPAIR_EXPIRY_POLICY = "delete"
    record = in_bcc(alice_client, "bound-key")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web-1", "i-web-2"])
    get_client("bj").attach_keypair(record.keypair_id, instance_ids=["i-web-1", "i-web-2"])
    portal_on_sandbox.set_instance_status("i-web-2", "Starting", region="bj")  # BCC refuses to unbind it now

    stopped = run_at(days_before_expiry(record, -1))

    assert [step.outcome for step in stopped.steps] == [PolicyOutcome.FLAGGED_UNBIND_FAILED]
    assert still_in_bcc(record)
    holders = {instance.instance_id: instance.keypair_id for instance in get_client("bj").list_instances()}
    assert holders == {"i-web-1": None, "i-web-2": record.keypair_id}
    record.refresh_from_db()
    assert (record.status, record.flag_reason) == (KeyPairRequest.Status.CREATED, FlagReason.EXPIRED)
    assert "i-web-2" in rows_of(Action.UNBIND_FAILED, record)[0].detail
    assert rows_of(Action.DELETE_REQUESTED, record) == []
    (flagged,) = rows_of(Action.FLAGGED, record)
    assert "unbind failed" in flagged.detail

    portal_on_sandbox.set_instance_status("i-web-2", "Running", region="bj")
    retried = run_at(days_before_expiry(record, -1.1))

    assert [step.outcome for step in retried.steps] == [PolicyOutcome.UNBOUND_DELETED]
    assert not still_in_bcc(record)


def test_a_delete_bcc_failed_is_tried_again_by_the_next_run(alice, alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_EXPIRY_POLICY = "delete"
    record = in_bcc(alice_client, "old-key")
    portal_on_sandbox.inject("status", status=500, operation="delete", count=5)

    failed = run_at(days_before_expiry(record, -1))
    portal_on_sandbox.clear_faults()
    retried = run_at(days_before_expiry(record, -1.1))

    assert [step.outcome for step in failed.steps] == [PolicyOutcome.FLAGGED_DELETE_FAILED]
    assert rows_of(Action.DELETE_FAILED, record)
    assert [step.outcome for step in retried.steps] == [PolicyOutcome.DELETED]
    assert not still_in_bcc(record)


def test_a_region_override_sets_its_own_maximum(alice, settings):
    settings.KEYPAIR_MAX_AGE_DAYS_BY_REGION = {"gz": 30, "su": 0}
    aged(alice, "gz-key", days_old=31, region="gz")
    aged(alice, "bj-key", days_old=31, region="bj")
    aged(alice, "su-key", days_old=400, region="su")

    run = run_at(timezone.now())

    assert [step.keypair_request.name for step in run.steps] == ["gz-key"]
    flagged = set(KeyPairRequest.objects.filter(flagged_at__isnull=False).values_list("name", flat=True))
    assert flagged == {"gz-key"}


def test_no_maximum_age_does_nothing(alice, settings, smtp_server):
    settings.KEYPAIR_MAX_AGE_DAYS = 0
    alice.email = "alice@example.com"
    alice.save()
    aged(alice, "ancient", days_old=4000)
    aged(alice, "near-what-would-be-expiry", days_old=88)

    run = run_at(timezone.now())

    assert run.steps == [] and run.reminded == []
    assert smtp_server.received == []
    assert not KeyPairRequest.objects.filter(flagged_at__isnull=False).exists()
    assert not KeyPairRequest.objects.filter(expiry_reminder_days__isnull=False).exists()


def test_key_pairs_not_in_bcc_are_left_alone(alice):
    for status in ("pending", "failed", "unknown", "deleted"):
        record = aged(alice, f"{status}-key", days_old=400)
        KeyPairRequest.objects.filter(pk=record.pk).update(status=status)
    no_id = aged(alice, "no-id", days_old=400)
    KeyPairRequest.objects.filter(pk=no_id.pk).update(keypair_id="")

    run = run_at(timezone.now())

    assert run.steps == []
    assert not KeyPairRequest.objects.filter(flagged_at__isnull=False).exists()
    assert rows_of(Action.FLAGGED) == []


def test_a_maximum_raised_after_the_expiry_step_enforces_the_new_expiry_in_its_turn(alice, settings):
    record = aged(alice, "old-key", days_old=1)
    run_at(days_before_expiry(record, -1))  # flagged under 90 days
    record.refresh_from_db()
    keypair_clear_flag(keypair_request=record, actor=None, why="the maximum is being raised", origin=Origin())
    settings.KEYPAIR_MAX_AGE_DAYS = 95

    before_new_expiry = run_at(days_before_expiry(record, -1))  # 4 days before the new expiry
    after_new_expiry = run_at(days_before_expiry(record, -6))

    assert before_new_expiry.steps == []
    assert [step.outcome for step in after_new_expiry.steps] == [PolicyOutcome.FLAGGED]
    assert len(rows_of(Action.FLAGGED, record)) == 2
    assert "older than the maximum age of 95 days in bj" in rows_of(Action.FLAGGED, record)[-1].detail
