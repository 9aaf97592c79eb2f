"""Auditors and portal admins land on the audit review, never on a refusal.

"/" is what people type and where the admin's "View site" link leads: a reviewer who opens
it is sent on to the audit log's list, while a developer still gets the portal's home.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from keypairs.models import AuditEvent
from portal.auth.roles import Role
from tests.auth_people import PASSWORD, person
from tests.people import signed_in

pytestmark = pytest.mark.django_db

REVIEW = reverse("admin:keypairs_auditevent_changelist")


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.PORTAL_ADMIN])
def test_a_reviewer_signing_in_lands_on_the_audit_review(client, role):
    person("rita", role)

    response = client.post(reverse("login"), {"username": "rita", "password": PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == REVIEW
    assert response.status_code == 200
    assert "No access" not in response.content.decode()


def test_the_admins_view_site_link_takes_an_auditor_to_the_audit_review():
    auditor = signed_in(person("audrey", Role.AUDITOR))
    review = auditor.get(REVIEW)
    assert 'href="/"' in review.content.decode()  # Django's "View site", to site_url

    response = auditor.get("/", follow=True)

    assert response.redirect_chain == [(REVIEW, 302)]
    assert response.status_code == 200


def test_a_reviewer_sent_on_from_the_front_page_is_not_recorded_as_refused():
    auditor = signed_in(person("audrey", Role.AUDITOR))

    auditor.get("/")

    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_REFUSED).exists()


def test_a_developer_who_also_reviews_still_gets_the_portals_home():
    both = signed_in(person("dana", Role.DEVELOPER, Role.AUDITOR))

    response = both.get("/")

    assert response.status_code == 200
    assert reverse("keypair_create") in response.content.decode()


def test_a_person_without_any_role_is_still_refused_at_the_front_page():
    nobody = signed_in(person("nora"))

    response = nobody.get("/")

    assert response.status_code == 403
