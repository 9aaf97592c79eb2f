"""Fixtures of the offboarding tests: Pat the portal admin, the two policies, and the SSO modes."""

from __future__ import annotations

import pytest

from portal.auth.roles import Role
from tests.auth_people import person
from tests.test_auth_oidc import oidc_mode, provider  # noqa: F401 - fixtures for these tests
from tests.test_auth_proxy import jwks, proxy_mode  # noqa: F401 - fixtures for these tests


@pytest.fixture
def pat(db):
    """A portal admin with an address: the summaries go to her."""
    admin = person("pat", Role.PORTAL_ADMIN)
    admin.email = "pat@example.com"
    admin.save(update_fields=["email"])
    return admin


@pytest.fixture
def flag_policy(settings):
    settings.OFFBOARDING_POLICY = "flag"


@pytest.fixture
def delete_policy(settings):
    settings.OFFBOARDING_POLICY = "delete"
    settings.OFFBOARDING_GRACE_DAYS = 14
