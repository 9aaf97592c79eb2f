"""The auditors' review in the admin: list, filters, search, dates, detail, CSV export, chain status.

Auditors (and portal admins) read the audit log; nobody, not even a superuser, adds,
changes or deletes an event. The list stays cheap however long the log grows: a bounded
number of queries, no COUNT(*) over the table, no SELECT DISTINCT. The export streams the
filtered events as CSV and is itself recorded in the log. The list says whether the chain
verified when last checked, and can check again.
"""

from __future__ import annotations

import csv
import html
import io
import re
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from keypairs import audit_review
from keypairs.admin import AuditEventAdmin
from keypairs.audit import SIGNED_FIELDS, audit_record
from keypairs.models import AuditEvent
from portal.auth.roles import Role
from tests.auth_people import person
from tests.people import signed_in

CHANGELIST = reverse("admin:keypairs_auditevent_changelist")
EXPORT = reverse("admin:keypairs_auditevent_export")
VERIFY = reverse("admin:keypairs_auditevent_verify")
ACKNOWLEDGE = reverse("admin:keypairs_auditevent_acknowledge")


def export(client, filters: dict | None = None, **extra):
    """The export button: a POST to the export URL carrying the list's filters in its query string."""
    return client.post(EXPORT + ("?" + urlencode(filters) if filters else ""), **extra)


@contextmanager
def clock(when: datetime):
    """Events recorded inside get ``when`` as their time."""
    from unittest import mock

    with mock.patch("keypairs.audit.timezone.now", return_value=when):
        yield


def record(when: datetime | None = None, **fields) -> AuditEvent:
    fields = {"action": "created", "outcome": "success", "actor_username": "alice", **fields}
    if when is None:
        return audit_record(**fields)
    with clock(when):
        return audit_record(**fields)


@pytest.fixture
def auditor(db):
    return signed_in(person("audrey", Role.AUDITOR))


@pytest.fixture
def log(db):
    """A small log across two months and three regions."""
    return [
        record(datetime(2026, 9, 30, 23, 0, tzinfo=UTC), keypair_name="old-key", keypair_id="k-old", region="gz"),
        record(datetime(2026, 10, 2, 9, 0, tzinfo=UTC), action="failed", outcome="failure", region="bj",
               keypair_name="web", bcc_request_id="req-failed", bcc_error_code="QuotaExceeded"),
        record(datetime(2026, 10, 2, 10, 0, tzinfo=UTC), action="download_refused", outcome="denied",
               actor_username="bob", keypair_name="web", keypair_id="k-web", is_security_event=True, region="bj"),
        record(datetime(2026, 10, 5, 8, 0, tzinfo=UTC), action="downloaded", keypair_name="web", keypair_id="k-web",
               region="su", bcc_request_id="req-web", user_agent="=HYPERLINK(\"http://evil\")"),
    ]  # fmt: skip


def shown(response) -> list[int]:
    return [event.pk for event in response.context["cl"].result_list]


# --- The list ------------------------------------------------------------------------------------------


def test_the_list_shows_the_columns_an_auditor_needs_newest_first(auditor, log):
    response = auditor.get(CHANGELIST)

    assert response.status_code == 200
    assert shown(response) == [event.pk for event in reversed(log)]
    headers = [header.strip() for header in response.context["cl"].list_display]
    assert headers == [
        "when",
        "actor_timeline",
        "action_with_badge",
        "outcome",
        "region",
        "keypair_name",
        "keypair_id_timeline",
        "bcc_request_id",
    ]
    page = response.content.decode()
    for text in ("k-web", "req-web", "Download refused", "Denied", "bob"):
        assert text in page
    assert "4 audit events" in page


def cells(response, field: str) -> list[str]:
    """The text of one column's cells, top to bottom, as the auditor sees them."""
    page = response.content.decode()
    found = re.findall(rf'<t[dh] class="field-{field}"[^>]*>(.*?)</t[dh]>', page, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in found]


def test_the_list_shows_times_with_seconds_and_the_zone(auditor, log):
    response = auditor.get(CHANGELIST)

    assert cells(response, "when") == [
        "2026-10-05 08:00:00 UTC",
        "2026-10-02 10:00:00 UTC",
        "2026-10-02 09:00:00 UTC",
        "2026-09-30 23:00:00 UTC",
    ]
    assert "a.m." not in response.content.decode()


def test_the_list_shows_times_in_the_portals_zone(auditor, log, settings):
    settings.TIME_ZONE = "Asia/Shanghai"

    assert cells(auditor.get(CHANGELIST), "when")[0] == "2026-10-05 16:00:00 CST"


def test_security_events_carry_a_badge_and_other_rows_no_tick(auditor, log):
    response = auditor.get(CHANGELIST)
    page = response.content.decode()

    labels = [AuditEvent.Action(action).label for action in ("downloaded", "download_refused", "failed", "created")]
    labels[1] += " Security event"
    assert cells(response, "action_with_badge") == labels
    assert page.count('class="audit-badge-security"') == 1
    assert "icon-yes.svg" not in page and "icon-no.svg" not in page


def test_the_list_uses_its_own_stylesheet_and_no_inline_style(auditor, log):
    page = auditor.get(CHANGELIST).content.decode()

    assert "css/audit-review" in page
    assert ' style="' not in page.split('id="result_list"', 1)[1]


# --- Timelines ---------------------------------------------------------------------------------------


def timeline_link(response, field: str, value: str) -> str:
    """The href of the first cell of ``field`` that shows ``value``, as the auditor would click it."""
    page = response.content.decode()
    pattern = rf'<td class="field-{field}"><a href="([^"]+)"[^>]*>{re.escape(value)}</a></td>'
    return html.unescape(re.search(pattern, page).group(1))


@pytest.fixture
def life_of_a_key_pair(db):
    """Alice's key pair from creation to deletion, with other people's events in between."""
    return [
        record(action="created", keypair_name="web", keypair_id="k-web"),
        record(action="created", actor_username="bob", keypair_name="db", keypair_id="k-db"),
        record(action="downloaded", keypair_name="web", keypair_id="k-web"),
        record(action="renamed", keypair_name="web-server", keypair_id="k-web"),
        record(action="download_refused", outcome="denied", actor_username="bob", keypair_name="web-server",
               keypair_id="k-web", is_security_event=True),
        record(action="deleted", keypair_name="web-server", keypair_id="k-web"),
    ]  # fmt: skip


def test_clicking_a_key_pair_id_shows_every_event_of_that_key_pair_oldest_first(auditor, life_of_a_key_pair):
    link = timeline_link(auditor.get(CHANGELIST), "keypair_id_timeline", "k-web")

    timeline = auditor.get(link)

    assert timeline.status_code == 200
    assert shown(timeline) == [life_of_a_key_pair[index].pk for index in (0, 2, 3, 4, 5)]
    assert [cell.split()[0] for cell in cells(timeline, "action_with_badge")] == [
        str(AuditEvent.Action(action).label).split()[0]
        for action in ("created", "downloaded", "renamed", "download_refused", "deleted")
    ]


def test_clicking_a_person_shows_every_event_of_theirs_oldest_first(auditor, life_of_a_key_pair):
    link = timeline_link(auditor.get(CHANGELIST), "actor_timeline", "bob")

    timeline = auditor.get(link)

    assert shown(timeline) == [life_of_a_key_pair[1].pk, life_of_a_key_pair[4].pk]


def test_an_event_without_a_key_pair_or_actor_offers_no_timeline_link(auditor, db):
    record(actor_username="", action="roles_changed")

    response = auditor.get(CHANGELIST)

    assert cells(response, "keypair_id_timeline") == ["-"]  # the admin's mark for an empty cell
    assert cells(response, "actor_timeline") == ["-"]


def test_a_timeline_is_for_auditors_and_portal_admins_only(auditor, life_of_a_key_pair, alice):
    link = timeline_link(auditor.get(CHANGELIST), "keypair_id_timeline", "k-web")

    assert signed_in(person("paula", Role.PORTAL_ADMIN)).get(link).status_code == 200
    developer = signed_in(alice).get(link)
    assert developer.status_code == 302 and "/admin/login/" in developer["Location"]
    assert Client().get(link).status_code == 302


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action__exact": "failed"}, [1]),
        ({"outcome__exact": "denied"}, [2]),
        ({"region": "bj"}, [2, 1]),
        ({"is_security_event__exact": "1"}, [2]),
        ({"created_at__gte": "2026-10-02 00:00:00+00:00", "created_at__lt": "2026-10-03 00:00:00+00:00"}, [2, 1]),
        ({"action__exact": "downloaded", "region": "su"}, [3]),
    ],
    ids=["action", "outcome", "region", "security-events", "date-range", "two-filters"],
)
def test_the_list_can_be_filtered(auditor, log, query, expected):
    response = auditor.get(CHANGELIST, query)

    assert response.status_code == 200
    assert shown(response) == [log[index].pk for index in expected]


def test_the_region_filter_offers_the_configured_regions_without_reading_the_log(auditor, log, settings):
    response = auditor.get(CHANGELIST)

    [region_filter] = [spec for spec in response.context["cl"].filter_specs if spec.title == "region"]
    assert [value for value, _ in region_filter.lookup_choices] == settings.BCC_REGIONS


@pytest.mark.parametrize(
    ("term", "expected"),
    [("bob", [2]), ("web", [3, 2, 1]), ("k-web", [3, 2]), ("req-failed", [1]), ("old-key", [0])],
    ids=["actor", "key-pair-name", "key-pair-id", "bcc-request-id", "another-name"],
)
def test_the_list_can_be_searched_by_actor_name_id_or_request_id(auditor, log, term, expected):
    response = auditor.get(CHANGELIST, {"q": term})

    assert shown(response) == [log[index].pk for index in expected]


def test_a_search_by_event_number_finds_that_event(auditor, log):
    assert shown(auditor.get(CHANGELIST, {"q": str(log[1].pk)})) == [log[1].pk]


def test_a_search_matches_ids_whole_and_case_sensitive_so_that_an_index_answers_it(auditor, log):
    assert shown(auditor.get(CHANGELIST, {"q": "k-we"})) == []
    assert shown(auditor.get(CHANGELIST, {"q": "K-WEB"})) == []
    assert shown(auditor.get(CHANGELIST, {"q": "req-"})) == []


def test_a_search_finds_key_pair_names_by_their_start_in_any_case(auditor, db):
    server = record(keypair_name="web-server", keypair_id="k-1")
    record(keypair_name="db-web", keypair_id="k-2")

    assert shown(auditor.get(CHANGELIST, {"q": "web"})) == [server.pk]
    assert shown(auditor.get(CHANGELIST, {"q": "WEB-S"})) == [server.pk]
    assert shown(auditor.get(CHANGELIST, {"q": "eb"})) == []  # the start only: an index answers it


def test_a_search_finds_people_by_the_start_of_their_name_in_any_case(auditor, db):
    developer = record(actor_username="developer")
    record(actor_username="bob")

    assert shown(auditor.get(CHANGELIST, {"q": "Developer"})) == [developer.pk]
    assert shown(auditor.get(CHANGELIST, {"q": "dev"})) == [developer.pk]


def test_a_search_treats_like_wildcards_as_plain_characters(auditor, db):
    record(keypair_name="web-server")

    assert shown(auditor.get(CHANGELIST, {"q": "%"})) == []
    assert shown(auditor.get(CHANGELIST, {"q": "w_b"})) == []


def test_the_date_hierarchy_offers_the_logs_months_and_drills_down_to_a_day(auditor, log):
    top = auditor.get(CHANGELIST).context["cl"].date_choices()
    october = auditor.get(CHANGELIST, {"created_at__year": "2026", "created_at__month": "10"})
    days = october.context["cl"].date_choices()
    one_day = auditor.get(CHANGELIST, {"created_at__year": "2026", "created_at__month": "10", "created_at__day": "2"})

    assert [choice["title"] for choice in top["choices"]] == ["September 2026", "October 2026"]
    assert shown(october) == [log[3].pk, log[2].pk, log[1].pk]
    assert [choice["title"] for choice in days["choices"]] == [f"October {day}" for day in range(1, 6)]
    assert shown(one_day) == [log[2].pk, log[1].pk]
    assert "created_at__day=2" in days["choices"][1]["link"]


def test_the_date_hierarchy_is_hidden_for_an_empty_log(auditor, db):
    response = auditor.get(CHANGELIST)

    assert response.status_code == 200
    assert response.context["cl"].date_choices() == {"show": False}


# --- Fast at any size ---------------------------------------------------------------------------------


@pytest.fixture
def long_log(db):
    return [record(keypair_name=f"key-{n}", region="bj" if n % 2 else "gz") for n in range(120)]


@pytest.mark.parametrize(
    "query",
    [{}, {"p": "2"}, {"region": "bj"}, {"q": "key-7"}, {"created_at__year": str(timezone.now().year)}],
    ids=["first-page", "second-page", "filtered", "searched", "by-year"],
)
def test_the_list_takes_a_bounded_number_of_queries_and_never_scans_for_counts(
    auditor, long_log, query, django_assert_max_num_queries
):
    # 13: on SQLite a search first probes the indexes for how common its term is (audit_review).
    with django_assert_max_num_queries(13) as captured:
        response = auditor.get(CHANGELIST, query)

    assert response.status_code == 200
    statements = [entry["sql"].upper() for entry in captured.captured_queries]
    assert not [sql for sql in statements if "DISTINCT" in sql]
    counts = [sql for sql in statements if "COUNT(" in sql]
    assert all("LIMIT" in sql for sql in counts), counts


@pytest.mark.parametrize("dense_probe", [1_000, 5], ids=["rare-term", "common-term"])
def test_a_search_finds_the_same_newest_rows_whether_its_term_is_rare_or_common(
    auditor, long_log, monkeypatch, dense_probe
):
    # SQLite reads a common term's matches newest first without the indexes (1.7 s -> 0.3 ms at
    # a million rows for "Dev"); what the auditor sees must not change with the plan.
    monkeypatch.setattr(audit_review, "DENSE_PROBE", dense_probe)
    monkeypatch.setattr(AuditEventAdmin, "list_per_page", 20)

    with CaptureQueriesContext(connection) as captured:
        response = auditor.get(CHANGELIST, {"q": "KEY-1"})

    names = [row.keypair_name for row in response.context["cl"].result_list]
    expected = sorted((f"key-{n}" for n in range(120) if str(n).startswith("1")), key=lambda name: -int(name[4:]))
    assert names == expected[:20]
    page_sql = [entry["sql"] for entry in captured.captured_queries if "ORDER BY" in entry["sql"].upper()]
    scanned = any('+"keypairs_auditevent"."keypair_name"' in sql for sql in page_sql)
    assert scanned == (connection.vendor == "sqlite" and dense_probe == 5)


def test_the_whole_log_is_counted_from_the_chain_head_not_the_table(auditor, long_log):
    response = auditor.get(CHANGELIST)

    assert response.context["cl"].result_count == 120
    assert "120 audit events" in response.content.decode()


def test_a_large_filtered_set_is_counted_only_up_to_a_cap(auditor, long_log, monkeypatch):
    monkeypatch.setattr(audit_review.AuditEventPaginator, "cap", 40)
    monkeypatch.setattr(AuditEventAdmin, "list_per_page", 20)

    response = auditor.get(CHANGELIST, {"region": "bj"})

    assert response.context["cl"].paginator.is_capped
    assert "More than 40 audit events" in response.content.decode()
    assert len(shown(response)) == 20


# --- One event -------------------------------------------------------------------------------------------


def test_an_event_shows_all_its_fields(auditor, log):
    event = log[1]

    response = auditor.get(reverse("admin:keypairs_auditevent_change", args=[event.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    for field in (*SIGNED_FIELDS, "prev_hash", "row_hash"):
        assert AuditEvent._meta.get_field(field).verbose_name.capitalize() in page, field
    for value in ("QuotaExceeded", "req-failed", event.row_hash, event.prev_hash):
        assert value in page
    assert 'name="_save"' not in page


@pytest.mark.parametrize("who", ["auditor", "portal admin", "superuser"])
def test_nobody_adds_changes_or_deletes_an_event(log, who):
    user = {
        "auditor": lambda: person("audrey", Role.AUDITOR),
        "portal admin": lambda: person("pat", Role.PORTAL_ADMIN),
        "superuser": lambda: person("root", superuser=True),
    }[who]()
    client = signed_in(user)
    event = log[0]
    change = reverse("admin:keypairs_auditevent_change", args=[event.pk])
    delete = reverse("admin:keypairs_auditevent_delete", args=[event.pk])
    add = reverse("admin:keypairs_auditevent_add")

    answers = [
        client.get(add).status_code,
        client.post(add, {"action": "created", "outcome": "success"}).status_code,
        client.post(change, {"action": "failed", "detail": "rewritten"}).status_code,
        client.get(delete).status_code,
        client.post(delete, {"post": "yes"}).status_code,
    ]
    bulk = client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})

    assert answers == [403] * 5
    assert bulk.status_code == 200
    assert b"delete_selected" not in client.get(CHANGELIST).content
    assert AuditEvent.objects.count() == len(log)
    assert AuditEvent.objects.get(pk=event.pk).row_hash == event.row_hash


# --- CSV export ----------------------------------------------------------------------------------------------


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_export_is_the_filtered_list_as_csv_newest_first(auditor, log):
    response = export(auditor, {"region": "bj"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-events-')
    assert "no-store" in response["Cache-Control"]
    header, *rows = rows_of(response)
    assert header == list(audit_review.CSV_COLUMNS)
    assert [int(row[0]) for row in rows] == [log[2].pk, log[1].pk]
    first = dict(zip(header, rows[0], strict=True))
    assert (first["action"], first["actor_username"], first["is_security_event"]) == ("download_refused", "bob", "True")
    assert first["created_at"] == "2026-10-02T10:00:00+00:00"
    assert first["row_hash"] == log[2].row_hash


def test_the_export_follows_the_search_too(auditor, log):
    _, *rows = rows_of(export(auditor, {"q": "req-failed"}))

    assert [int(row[0]) for row in rows] == [log[1].pk]


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_defused(auditor, log):
    header, *rows = rows_of(export(auditor, {"action__exact": "downloaded"}))

    assert dict(zip(header, rows[0], strict=True))["user_agent"] == '\'=HYPERLINK("http://evil")'


def test_the_export_is_recorded_in_the_audit_log(auditor, log):
    response = export(auditor, {"region": "bj", "q": "web"}, HTTP_USER_AGENT="Firefox/140")
    rows_of(response)

    event = AuditEvent.objects.latest()
    assert (event.action, event.outcome, event.actor_username) == ("exported", "success", "audrey")
    assert event.detail == "CSV export of the audit log; filters: region=bj&q=web"
    assert event.user_agent == "Firefox/140"


def test_the_export_streams_rows_as_they_are_read(auditor, db, monkeypatch):
    monkeypatch.setattr(audit_review, "CSV_CHUNK_SIZE", 7)
    for n in range(30):
        record(keypair_name=f"key-{n}")

    def reads_of_rows(queries) -> list[str]:
        # A plain SELECT on SQLite; DECLARE ... CURSOR FOR SELECT (a server-side cursor) on PostgreSQL.
        return [
            q["sql"] for q in queries if "SELECT" in q["sql"] and '"row_hash"' in q["sql"] and "INSERT" not in q["sql"]
        ]

    with CaptureQueriesContext(connection) as before_streaming:
        response = export(auditor)
    with CaptureQueriesContext(connection) as while_streaming:
        lines = sum(1 for _ in response.streaming_content)

    assert response.streaming
    assert reads_of_rows(before_streaming.captured_queries) == []
    assert reads_of_rows(while_streaming.captured_queries)
    assert lines == 1 + 30 + 1  # the header, the events, and the export's own row


def test_an_export_by_get_is_refused_and_writes_nothing(auditor, log):
    before = AuditEvent.objects.count()

    response = auditor.get(EXPORT, {"region": "bj"})

    assert response.status_code == 405
    assert AuditEvent.objects.count() == before


def test_an_export_without_the_csrf_token_is_refused_and_writes_nothing(log):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person("audrey", Role.AUDITOR))
    before = AuditEvent.objects.count()

    response = browser.post(EXPORT)

    assert response.status_code == 403
    assert AuditEvent.objects.count() == before


def test_the_list_offers_the_export_as_a_form_with_a_csrf_token(auditor, log):
    page = auditor.get(CHANGELIST, {"region": "bj"}).content.decode()

    before, after = page.split('class="export-csv-form"', 1)
    opening = before.rsplit("<form", 1)[1]
    assert 'method="post"' in opening
    assert f'action="{EXPORT}?region=bj"' in opening
    assert 'name="csrfmiddlewaretoken"' in after.split("</form>", 1)[0]


# --- Chain status --------------------------------------------------------------------------------------------


def status_text(response) -> str:
    page = response.content.decode()
    return page.split('id="chain-status-text"', 1)[1].split("</p>", 1)[0]


def test_the_list_says_when_the_chain_was_never_verified(auditor, log):
    assert "has not been verified yet" in status_text(auditor.get(CHANGELIST))


def test_verifying_shows_that_the_chain_holds_and_remembers_it(auditor, log):
    response = auditor.post(VERIFY, follow=True)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert "Audit chain verified: 4 events." in [str(message) for message in response.context["messages"]]
    assert "verified on" in status_text(response) and ": 4 events" in status_text(response)
    record(keypair_name="later")
    assert "1 written since, not yet checked" in status_text(auditor.get(CHANGELIST))


def test_a_tampered_chain_shows_as_broken(auditor, log):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE keypairs_auditevent SET detail = 'rewritten' WHERE id = %s", [log[1].pk])

    response = auditor.post(VERIFY, follow=True)

    assert f"Event #{log[1].pk} was changed after it was written" in status_text(response)
    assert "did NOT verify" in status_text(response)


def test_a_verification_already_running_is_not_started_twice(auditor, log):
    from django.core.cache import cache

    cache.add(audit_review.VERIFY_LOCK_CACHE_KEY, True)

    response = auditor.post(VERIFY, follow=True)

    assert audit_review.ALREADY_RUNNING_MESSAGE in [str(message) for message in response.context["messages"]]
    assert audit_review.chain_status() is None


# --- A rebuilt chain head, acknowledged --------------------------------------------------------------------


def test_an_auditor_acknowledges_a_rebuilt_head_and_verification_passes_again(auditor, log):
    from keypairs.models import AuditChainHead

    AuditChainHead.objects.all().delete()
    record(keypair_name="after the loss")
    assert "did NOT verify" in status_text(auditor.post(VERIFY, follow=True))
    assert 'id="acknowledge-chain-problem"' in auditor.get(CHANGELIST).content.decode()

    response = auditor.post(ACKNOWLEDGE, follow=True)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    event = AuditEvent.objects.latest()
    assert (event.action, event.actor_username, event.is_security_event) == (
        "chain_problem_acknowledged",
        "audrey",
        True,
    )
    assert 'id="acknowledge-chain-problem"' not in response.content.decode()
    assert "verified on" in status_text(auditor.post(VERIFY, follow=True))


def test_there_is_nothing_to_acknowledge_on_an_intact_chain(auditor, log):
    before = AuditEvent.objects.count()

    response = auditor.post(ACKNOWLEDGE, follow=True)

    assert response.status_code == 200
    assert AuditEvent.objects.count() == before
    assert 'id="acknowledge-chain-problem"' not in response.content.decode()


def test_a_foreign_row_past_the_head_shows_as_broken_after_verify_now(auditor, log):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO keypairs_auditevent (id, created_at, actor_username, actor_subject, user_agent, action, "
            "outcome, is_security_event, region, keypair_name, keypair_id, bcc_request_id, bcc_error_code, "
            "portal_request_id, detail, prev_hash, row_hash) VALUES (%s, %s, 'mallory', '', '', 'signed_in', "
            "'success', FALSE, '', '', '', '', '', '', 'planted', %s, %s)",
            [log[-1].pk + 1, "2026-01-01 00:00:00", log[-1].row_hash, "f" * 64],
        )

    response = auditor.post(VERIFY, follow=True)

    assert "did NOT verify" in status_text(response)
    assert (
        f"not part of the chain (written outside the portal, past the head or between its events): #{log[-1].pk + 1}"
        in status_text(response)
    )


def test_a_key_pair_timeline_begins_with_the_request_that_created_it(auditor, alice, portal_on_sandbox):
    """The "requested" row is written before BCC names the key pair, so it carries no key pair id."""
    from tests.create_flow import create

    developer = signed_in(alice)
    assert create(developer, name="first-key").status_code in (200, 302)
    assert create(developer, name="second-key").status_code in (200, 302)
    first = AuditEvent.objects.get(action="created", keypair_name="first-key")

    timeline = auditor.get(timeline_link(auditor.get(CHANGELIST), "keypair_id_timeline", first.keypair_id))

    requested = AuditEvent.objects.get(action="requested", keypair_name="first-key")
    assert requested.keypair_id == ""
    assert shown(timeline) == [requested.pk, first.pk]
