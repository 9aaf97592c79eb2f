"""A page costs the same SQL statements however many rows it does not show (issue 14).

The list, the bind page and the audit log have their own such tests (test_keypair_list.py,
test_bind_page.py, test_admin_audit_review.py). Here: every page of one key pair, the home page,
the create and import forms and a key pair's timeline, measured for a person with one key pair,
then again after fifteen more key pairs (each with its audit rows) and another person's. A page
that read something per key pair or per audit row it does not show would cost more the second time.

Each page is opened once before it is counted, so both counts find BCC's state in the cache.
"""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from keypairs.models import KeyPairRequest
from portal.auth.roles import Role, assign_roles
from tests.create_flow import create
from tests.people import signed_in

pytestmark = pytest.mark.usefixtures("portal_on_sandbox")


def statements(client, url: str) -> int:
    assert client.get(url).status_code == 200  # BCC's state read and cached, as on a busy portal
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


def timeline_url(auditor_client, keypair_id: str) -> str:
    """The timeline link the audit log shows for ``keypair_id``."""
    page = auditor_client.get(reverse("admin:keypairs_auditevent_changelist")).content.decode()
    links = re.findall(r'href="([^"]*keypair_id__exact=[^"]*)"', page)
    found = [html.unescape(link) for link in links if keypair_id in link]
    assert found, "the audit log links no timeline for the key pair"
    return found[0]


def page_urls(keypair: KeyPairRequest, auditor_client) -> dict[str, str]:
    detail = reverse("keypair_detail", kwargs={"public_id": keypair.public_id})
    return {
        "home": reverse("home"),
        "create form": reverse("keypair_create"),
        "import form": reverse("keypair_import"),
        "key pair page": detail,
        "rename form": reverse("keypair_change", kwargs={"public_id": keypair.public_id}),
        "delete confirmation": reverse("keypair_delete", kwargs={"public_id": keypair.public_id}),
        "timeline": timeline_url(auditor_client, keypair.keypair_id),
    }


def test_no_page_costs_more_statements_for_rows_it_does_not_show(alice, bob, alice_client, settings):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 0  # sixteen creates in a few seconds
    auditor = type(alice).objects.create_user(username="auditor", password="password")
    assign_roles(auditor, {Role.AUDITOR})
    auditor_client = signed_in(auditor)
    assert create(alice_client, name="followed").status_code == 302
    followed = KeyPairRequest.objects.get(name="followed")
    urls = page_urls(followed, auditor_client)
    clients = {name: auditor_client if name == "timeline" else alice_client for name in urls}

    before = {name: statements(clients[name], url) for name, url in urls.items()}
    for number in range(15):
        assert create(alice_client, name=f"more-{number}", region=("bj", "gz", "su")[number % 3]).status_code == 302
    assert create(signed_in(bob), name="bobs").status_code == 302
    after = {name: statements(clients[name], url) for name, url in urls.items()}

    assert KeyPairRequest.objects.filter(owner=alice).count() == 16
    assert after == before
