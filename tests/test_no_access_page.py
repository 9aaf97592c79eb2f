"""The "no access" page names the provider groups that grant roles only to people the provider vouched for.

Someone with no assertion at all (proxy mode) or not signed in learns nothing about the
company's group names; a signed-in person without the right role, or someone the provider
vouched for without any role, is told which group to ask for (issue 9).
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.test_auth_proxy import assertion, get, jwks, proxy_mode  # noqa: F401 - fixtures used below

GROUP_NAMES = ("developers", "auditors", "portal-admins")


def names_groups(response) -> bool:
    page = response.content.decode()
    return any(f": {name}<" in page for name in GROUP_NAMES)


@pytest.mark.usefixtures("proxy_mode")
def test_without_an_assertion_the_page_names_no_group():
    response = Client().get("/keypairs/")

    assert response.status_code == 403
    assert not names_groups(response)


@pytest.mark.usefixtures("proxy_mode")
def test_someone_the_proxy_vouches_for_without_a_role_is_told_the_groups():
    response = get(Client(), "/", assertion(groups=["everyone"]))

    assert response.status_code == 403
    assert names_groups(response)


@pytest.mark.usefixtures("proxy_mode")
def test_a_signed_in_auditor_refused_a_developer_page_is_told_the_groups():
    client = Client()
    token = assertion(groups=["auditors"])
    get(client, "/admin/", token)

    response = get(client, "/keypairs/new", token)

    assert response.status_code == 403
    assert names_groups(response)


def test_an_anonymous_visitor_of_the_no_access_url_is_told_no_group(db, settings):
    settings.AUTH_MODE = "oidc"

    response = Client().get("/accounts/no-access/")

    assert response.status_code == 403
    assert not names_groups(response)
