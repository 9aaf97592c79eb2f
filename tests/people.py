"""The named people of the tests, healthchecks-style: Alice owns things, Bob is another
developer who must never see them. Fixtures for them live in conftest.py."""

from django.test import Client


def signed_in(user) -> Client:
    """A test client with ``user`` signed in."""
    client = Client()
    client.force_login(user)
    return client
