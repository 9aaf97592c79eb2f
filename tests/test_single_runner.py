"""One run at a time of a scheduled command (keypairs.single_runner), on the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from keypairs.models import JobLease
from keypairs.single_runner import AnotherRunHolds, single_run, take_lease


def test_a_second_run_is_told_another_run_holds_the_job_and_until_when(db):
    with single_run("sync_bcc", lease_seconds=600), pytest.raises(AnotherRunHolds) as refused:
        take_lease("sync_bcc", lease_seconds=600)
    assert "Another run of sync_bcc is at work" in str(refused.value)


def test_the_job_is_free_again_when_the_run_ends_even_by_an_exception(db):
    with pytest.raises(RuntimeError), single_run("sync_bcc"):
        raise RuntimeError("the run failed")
    with single_run("sync_bcc"):
        pass


def test_a_run_that_died_holds_the_job_only_until_its_lease_runs_out(db):
    take_lease("enforce_key_policy", lease_seconds=600)  # never given back: the process died
    JobLease.objects.filter(name="enforce_key_policy").update(expires_at=timezone.now() - timedelta(seconds=1))

    lease = take_lease("enforce_key_policy", lease_seconds=600)

    assert lease.renew()


def test_a_lease_taken_over_after_it_ran_out_cannot_be_renewed_by_its_old_holder(db):
    old = take_lease("sync_bcc", lease_seconds=600)
    JobLease.objects.filter(name="sync_bcc").update(expires_at=timezone.now() - timedelta(seconds=1))
    take_lease("sync_bcc", lease_seconds=600)

    assert not old.renew()


def test_two_jobs_do_not_hold_each_other(db):
    with single_run("sync_bcc"), single_run("enforce_key_policy"):
        pass
