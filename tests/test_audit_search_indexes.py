"""The auditors' prefix search is answered from an index, on SQLite and on PostgreSQL.

The log is meant to hold a million rows and more: a search that read every row would miss
the search target (docs/benchmarks.md). Migration 0007 makes the indexes; these tests ask
the database's own planner (EXPLAIN) whether it would use them for the admin's search.
Run them on PostgreSQL with DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection

from keypairs.admin import AuditEventAdmin
from keypairs.models import AuditEvent

pytestmark = pytest.mark.django_db


def search_plan(term: str) -> str:
    model_admin = AuditEventAdmin(AuditEvent, admin.site)
    found, _ = model_admin.get_search_results(None, AuditEvent.objects.all(), term)
    if connection.vendor == "postgresql":
        # On a nearly empty table a sequential scan is cheapest; ask whether an index *can* serve.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    return found.order_by("-id")[:100].explain()


@pytest.mark.parametrize("term", ["web", "Developer"])
def test_a_prefix_search_reads_the_name_and_actor_indexes_not_the_table(term):
    plan = search_plan(term)

    assert "keypairs_audit_keypair_name_prefix" in plan
    assert "keypairs_audit_actor_username_prefix" in plan
    assert "SCAN keypairs_auditevent\n" not in plan + "\n"  # SQLite's words for a full table scan
    assert "Seq Scan" not in plan
