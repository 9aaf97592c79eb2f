"""The top bar offers each person only what their role lets them open."""

import pytest
from django.urls import reverse

from portal.auth.roles import Role
from tests.auth_people import person
from tests.people import signed_in

pytestmark = pytest.mark.django_db


def test_a_developer_is_offered_creating_and_listing_key_pairs(alice_client):
    page = alice_client.get(reverse("keypair_list"))

    assert page.status_code == 200
    assert reverse("keypair_create") in page.content.decode()


def test_an_auditor_is_not_offered_pages_that_would_refuse_them():
    auditor = signed_in(person("carol", Role.AUDITOR))

    page = auditor.get(reverse("admin:index"))

    assert page.status_code == 200
    # The admin has its own chrome; the portal's own no-access page shows the portal's top bar.
    refused = auditor.get(reverse("keypair_create"))
    assert refused.status_code == 403
    assert f'href="{reverse("keypair_create")}"' not in refused.content.decode()
    assert f'href="{reverse("keypair_list")}"' not in refused.content.decode()
