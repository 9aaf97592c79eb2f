"""Writing the audit log: what a row holds, that it survives rollbacks, that it cannot be
changed through the ORM, and that concurrent writers keep one linear chain."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import RequestFactory

from keypairs.audit import (
    GENESIS_HASH,
    INSIDE_TRANSACTION_MESSAGE,
    AuditInsideTransactionError,
    Origin,
    audit_record,
    audit_verify,
)
from keypairs.models import (
    APPEND_ONLY_MESSAGE,
    INSERT_THROUGH_AUDIT_RECORD_MESSAGE,
    AuditChainHead,
    AuditEvent,
    AuditLogIsAppendOnly,
    KeyPairRequest,
)

User = get_user_model()


def _record(**overrides) -> AuditEvent:
    fields = {"action": AuditEvent.Action.REQUESTED, "outcome": AuditEvent.Outcome.SUCCESS, **overrides}
    return audit_record(**fields)


# --- What a row holds ---------------------------------------------------------------------


def test_it_records_who_did_what_from_where(alice):
    request = RequestFactory().post(
        "/keypairs/new", REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Firefox/140", HTTP_X_REQUEST_ID="client-id"
    )
    request.request_id = "portal-request-1"

    audit_record(
        action="created",
        outcome="success",
        actor=alice,
        request=request,
        region="bj",
        keypair_name="build-server",
        keypair_id="k-y7VWq",
        bcc_request_id="req-123",
        latency_ms=412,
        detail="key pair created",
    )

    event = AuditEvent.objects.get()
    assert event.actor_username == "alice"
    assert event.actor_subject == ""
    assert event.source_ip == "203.0.113.7"
    assert event.user_agent == "Firefox/140"
    # The portal's own id wins over one a client sent (RequestIdMiddleware trusts no client id).
    assert event.portal_request_id == "portal-request-1"
    assert (event.action, event.outcome, event.region) == ("created", "success", "bj")
    assert (event.keypair_name, event.keypair_id, event.bcc_request_id) == ("build-server", "k-y7VWq", "req-123")
    assert event.latency_ms == 412
    assert event.detail == "key pair created"
    assert event.created_at is not None


def test_it_takes_the_request_id_header_when_no_middleware_set_one(db):
    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="from-the-proxy")

    event = _record(request=request)

    assert AuditEvent.objects.get(pk=event.pk).portal_request_id == "from-the-proxy"


def test_it_records_an_anonymous_actor_by_the_name_they_gave(db):
    event = _record(action="sign_in_refused", outcome="denied", actor_username="mallory")

    assert AuditEvent.objects.get(pk=event.pk).actor_username == "mallory"


def test_it_cuts_a_long_user_agent_to_256_characters(db):
    request = RequestFactory().get("/", HTTP_USER_AGENT="A" * 2000)

    event = _record(request=request)

    assert AuditEvent.objects.get(pk=event.pk).user_agent == "A" * 256


def test_it_strips_control_characters_from_a_user_agent(db):
    request = RequestFactory().get("/", HTTP_USER_AGENT="Firefox/140\r\n\x1b[31mforged row\x07\x7f")

    event = _record(request=request)

    assert AuditEvent.objects.get(pk=event.pk).user_agent == "Firefox/140[31mforged row"


def test_a_user_agent_given_without_a_request_is_cleaned_too(db):
    event = _record(user_agent="curl\t" + "B" * 300)

    assert AuditEvent.objects.get(pk=event.pk).user_agent == "curl" + "B" * 252


def test_it_leaves_out_a_source_address_that_is_not_an_ip(db):
    event = _record(source_ip="not-an-address")

    assert AuditEvent.objects.get(pk=event.pk).source_ip is None


def test_it_refuses_an_unknown_action(db):
    with pytest.raises(ValueError, match="Unknown audit action"):
        _record(action="created_maybe")

    assert not AuditEvent.objects.exists()


# --- Transactions -------------------------------------------------------------------------


def test_it_refuses_to_run_inside_an_atomic_block(db):
    with pytest.raises(AuditInsideTransactionError) as raised, transaction.atomic():
        _record(action="failed", outcome="failure")

    assert str(raised.value) == INSIDE_TRANSACTION_MESSAGE
    assert not AuditEvent.objects.exists()


def test_a_failure_row_outlives_the_rolled_back_business_transaction(alice):
    with pytest.raises(RuntimeError), transaction.atomic():
        KeyPairRequest.objects.create(owner=alice, form_token_hash="f1", client_token="c1", region="bj", name="web")
        raise RuntimeError("BCC said no")
    _record(action="failed", outcome="failure", actor=alice, detail="BCC said no")

    assert not KeyPairRequest.objects.exists()
    assert AuditEvent.objects.get().action == "failed"


def test_an_origin_fills_the_rows_source_user_agent_and_request_id(db, alice):
    origin = Origin(source_ip="2001:DB8::7", user_agent="Firefox\n", portal_request_id="req-9")

    event = _record(actor=alice, origin=origin)

    event.refresh_from_db()
    assert (event.source_ip, event.user_agent, event.portal_request_id) == ("2001:db8::7", "Firefox", "req-9")


def test_an_origin_with_its_fields_again_is_refused(db):
    with pytest.raises(TypeError):
        _record(origin=Origin(source_ip="192.0.2.1"), source_ip="192.0.2.2")

    assert not AuditEvent.objects.exists()


# --- Append-only --------------------------------------------------------------------------


def test_saving_a_changed_event_is_refused(db):
    event = _record(detail="original")
    event.detail = "rewritten"

    with pytest.raises(AuditLogIsAppendOnly) as raised:
        event.save()

    assert str(raised.value) == APPEND_ONLY_MESSAGE
    assert AuditEvent.objects.get(pk=event.pk).detail == "original"


def test_deleting_an_event_is_refused(db):
    event = _record()

    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_updating_events_through_a_queryset_is_refused(db):
    _record(detail="original")

    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(action="requested").update(detail="rewritten")

    assert AuditEvent.objects.get().detail == "original"


def test_deleting_events_through_a_queryset_is_refused(db):
    _record()

    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()

    assert AuditEvent.objects.count() == 1


def test_bulk_updates_are_refused(db):
    event = _record(detail="original")
    event.detail = "rewritten"

    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.bulk_update([event], ["detail"])

    assert AuditEvent.objects.get().detail == "original"


def test_events_cannot_be_inserted_around_audit_record(db):
    with pytest.raises(AuditLogIsAppendOnly) as raised:
        AuditEvent.objects.create(action="created", outcome="success")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.bulk_create([AuditEvent(id=1, action="created", outcome="success", row_hash="f" * 64)])

    assert str(raised.value) == INSERT_THROUGH_AUDIT_RECORD_MESSAGE
    assert not AuditEvent.objects.exists()


# --- The chain ----------------------------------------------------------------------------


def test_the_first_event_starts_from_the_genesis_hash(db):
    event = _record()

    assert event.id == 1
    assert event.prev_hash == GENESIS_HASH
    assert len(event.row_hash) == 64


def test_each_event_links_to_the_one_before(db):
    first, second, third = (_record(detail=str(n)) for n in range(3))

    assert (second.prev_hash, third.prev_hash) == (first.row_hash, second.row_hash)
    head = AuditChainHead.objects.get()
    assert (head.last_event_id, head.last_hash) == (third.id, third.row_hash)
    assert audit_verify().ok


def test_an_ipv6_address_verifies_however_the_database_spells_it(db):
    _record(source_ip="2001:DB8:0:0::1")

    assert AuditEvent.objects.get().source_ip == "2001:db8::1"
    assert audit_verify().ok


def test_a_chain_signed_with_another_key_does_not_verify(db, settings):
    _record()

    settings.AUDIT_HMAC_KEY = "a-different-key-that-did-not-sign-this-chain"

    assert audit_verify().problem == "edited"


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_writers_keep_one_linear_chain():
    writers = 20
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            start.wait()
            audit_record(action="requested", outcome="success", detail=f"writer {n}")
        except BaseException as error:  # reported by the assertion below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    events = list(AuditEvent.objects.order_by("id"))
    assert [event.id for event in events] == list(range(1, writers + 1))
    assert [event.prev_hash for event in events] == [GENESIS_HASH] + [event.row_hash for event in events[:-1]]
    assert sorted(event.detail for event in events) == sorted(f"writer {n}" for n in range(writers))
    result = audit_verify()
    assert result.ok, result.message
    assert result.events_checked == writers
