import uuid
from datetime import UTC, datetime

import pytest
from django.utils import translation

from keypairs.sandbox import SandboxServer
from tests.people import signed_in
from tests.required_groups import RequiredGroups


@pytest.fixture(autouse=True)
def default_language_after_each_test():
    """Each test starts in the default language (LANGUAGE_CODE).

    LocaleMiddleware activates a request's language in the thread that serves it and leaves it
    there: without this, a test client's request in Chinese would leave the next test of the same
    worker rendering Chinese where it expects English.
    """
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def own_cache(settings, monkeypatch):
    """Each test gets a cache of its own (a fresh key prefix; a fresh local-memory store).

    The rate-limit counters and quota counts of keypairs/limits.py live in the cache: without
    this, one test's creates would count against the next test's Alice, and on Redis against
    another xdist worker's, since both share one Redis database.

    ``cache.clear()`` is refused: on Redis it is FLUSHDB, which empties every worker's cache
    mid-test (a refusal flood counted there once wrote its first row twice). A test that needs
    an empty cache calls ``empty_cache()`` (the ``empty_cache`` fixture): a fresh prefix again.
    """
    from django.core.cache.backends.redis import RedisCache

    def refuse_clear(self):
        raise AssertionError("cache.clear() on Redis empties every worker's cache: use the empty_cache fixture")

    monkeypatch.setattr(RedisCache, "clear", refuse_clear)
    _own_namespace(settings)
    yield
    from django.core.cache import caches as connections

    if connections["default"].__class__.__name__ == "LocMemCache":
        connections["default"].clear()  # its store would otherwise stay in memory for the whole run


def _own_namespace(settings) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    caches = {}
    for alias, config in settings.CACHES.items():
        config = {**config, "KEY_PREFIX": namespace}
        if config["BACKEND"].endswith("LocMemCache"):
            config["LOCATION"] = namespace
        caches[alias] = config
    settings.CACHES = caches


@pytest.fixture
def empty_cache(settings):
    """Call it to start from an empty cache, this test's only (a fresh prefix; see own_cache)."""
    return lambda: _own_namespace(settings)


@pytest.fixture(scope="session")
def sandbox_server():
    """One BCC sandbox for the whole run (starting one is cheap, but its key pairs are not)."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server):
    """The session's BCC sandbox, emptied: no key pairs, faults, or logged requests; default quota and clock."""
    sandbox_server.reset()
    sandbox_server.quota = 500
    sandbox_server.clock = lambda: datetime.now(UTC)
    yield sandbox_server
    sandbox_server.reset()


@pytest.fixture
def portal_on_sandbox(sandbox, settings):
    """Point the portal's BCC settings at the emptied session sandbox; returns the sandbox."""
    from keypairs.bcc.factory import reset_clients

    settings.BCC_ENDPOINT = sandbox.endpoint_template
    settings.BCC_ACCESS_KEY_ID = sandbox.access_key_id
    settings.BCC_SECRET_ACCESS_KEY = sandbox.secret_access_key
    # Short timeouts: fault tests wait on them.
    settings.BCC_READ_TIMEOUT = 2.0
    settings.BCC_CONNECT_TIMEOUT = 1.0
    reset_clients()
    yield sandbox
    reset_clients()


@pytest.fixture
def alice(db):
    """A developer who creates key pairs."""
    from django.contrib.auth import get_user_model

    from portal.auth.roles import Role, assign_roles

    user = get_user_model().objects.create_user(username="alice", password="password")
    assign_roles(user, {Role.DEVELOPER})
    return user


@pytest.fixture
def bob(db):
    """Another developer: must never see or get Alice's key pairs."""
    from django.contrib.auth import get_user_model

    from portal.auth.roles import Role, assign_roles

    user = get_user_model().objects.create_user(username="bob", password="password")
    assign_roles(user, {Role.DEVELOPER})
    return user


@pytest.fixture
def alice_client(alice):
    return signed_in(alice)


@pytest.fixture
def bob_client(bob):
    return signed_in(bob)


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback, and the portal's mail pointed at it (as EMAIL_URL smtp://... would)."""
    from tests.smtp_server import start_smtp_server

    server, controller = start_smtp_server()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield server
    controller.stop()


def pytest_configure(config):
    # REQUIRE_GROUPS: a skipped browser, postgres, redis, load or two_instances test fails (CI).
    RequiredGroups.register(config)
