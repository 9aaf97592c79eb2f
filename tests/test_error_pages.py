"""The portal's own 404, 403 and 500 pages; never Django's technical page listing the URLs."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.exceptions import PermissionDenied
from django.template.loader import get_template
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import permission_denied

from portal.auth.roles import Role
from tests.auth_people import person
from tests.create_flow import create, the_request

NOT_FOUND = "There is nothing at this address, or nothing you may see."
NOT_ALLOWED = "Your roles do not allow this."


def without_csrf_token(body: bytes) -> bytes:
    """The page without its CSRF token (the sign-out form's), which is masked afresh each time."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", body)


@pytest.mark.parametrize("debug", [True, False], ids=["debug-make-run", "production"])
def test_an_unknown_address_gets_the_portals_404_page(alice_client, settings, debug):
    settings.DEBUG = debug

    response = alice_client.get("/no-such-page/")

    body = response.content.decode()
    assert response.status_code == 404
    assert NOT_FOUND in body
    assert "URLconf" not in body
    assert "keypairs/&lt;uuid:public_id&gt;" not in body and "keypairs/<uuid:public_id>" not in body


def test_an_unknown_address_still_gets_its_missing_slash_added(alice_client, settings):
    settings.DEBUG = True
    assert alice_client.get("/keypairs").status_code == 301


def test_someone_elses_key_pair_looks_exactly_like_a_missing_one(alice_client, bob_client, portal_on_sandbox, settings):
    settings.DEBUG = True
    create(alice_client)
    alices = reverse("keypair_detail", kwargs={"public_id": the_request().public_id})
    missing = reverse("keypair_detail", kwargs={"public_id": uuid.uuid4()})

    hers = bob_client.get(alices)
    nothing = bob_client.get(missing)

    assert (hers.status_code, nothing.status_code) == (404, 404)
    assert NOT_FOUND in hers.content.decode()
    assert without_csrf_token(hers.content) == without_csrf_token(nothing.content)


def test_a_permission_denied_gets_the_portals_403_page(db):
    # What Django's handler403 does with a PermissionDenied raised anywhere (DEBUG or not).
    request = RequestFactory().get("/somewhere")
    request.user = person("erin", Role.AUDITOR)

    response = permission_denied(request, PermissionDenied())

    assert response.status_code == 403
    assert NOT_ALLOWED in response.content.decode()


def test_the_500_page_renders_with_no_context_and_no_database():
    # No db fixture: pytest-django refuses any query, so rendering proves it needs none.
    page = get_template("500.html").render({})
    assert "Something went wrong" in page
    assert "{%" not in page


def test_a_crashing_view_gets_the_portals_500_page(alice_client, settings, monkeypatch):
    from keypairs import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.selectors, "keypair_requests_of", broken)
    alice_client.raise_request_exception = False

    response = alice_client.get(reverse("keypair_list"))

    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert "boom" not in response.content.decode()
