"""/healthz, as a load balancer sees it: no sign-in, 200 while the database and the cache
answer, 503 naming the one that does not, and never a word about configuration."""

from __future__ import annotations

import logging
import socket

import pytest
from django.db import OperationalError, connection
from django.test import Client

from tests import backing_services

HEALTH_URL = "/healthz"
# What a driver's error can say: none of it may reach the response.
DATABASE_ERROR = 'connection to server at "db.internal.example" (10.0.0.5), port 5432 failed: FATAL: role "portal"'


@pytest.fixture
def anonymous():
    return Client()


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_cache(location: str) -> dict:
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}}


@pytest.mark.django_db
def test_it_answers_ok_without_a_sign_in(anonymous):
    response = anonymous.get(HEALTH_URL)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_it_answers_a_head_request(anonymous):
    response = anonymous.head(HEALTH_URL)

    assert response.status_code == 200


@pytest.mark.django_db
def test_it_only_allows_get_and_head(anonymous):
    assert anonymous.post(HEALTH_URL).status_code == 405


@pytest.mark.django_db
def test_it_answers_503_when_the_database_does_not_answer_and_says_why_only_in_the_log(
    anonymous, monkeypatch, caplog, settings
):
    def refuse(*args, **kwargs):
        raise OperationalError(DATABASE_ERROR)

    monkeypatch.setattr(connection, "cursor", refuse)

    with caplog.at_level(logging.WARNING, logger="portal.health"):
        response = anonymous.get(HEALTH_URL)

    assert response.status_code == 503
    # Without REDIS_URL the cache is a table in that same database: it is down with it.
    cache_in_the_database = settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")
    cache = "unreachable" if cache_in_the_database else "ok"
    assert response.json() == {"status": "unavailable", "database": "unreachable", "cache": cache}
    assert "db.internal.example" not in response.content.decode()
    assert "the database did not answer (OperationalError" in caplog.text
    assert "db.internal.example" in caplog.text


@pytest.mark.django_db
def test_it_answers_503_when_the_redis_cache_does_not_answer(anonymous, settings, caplog):
    port = closed_port()
    settings.CACHES = redis_cache(f"redis://127.0.0.1:{port}/0")

    with caplog.at_level(logging.WARNING, logger="portal.health"):
        response = anonymous.get(HEALTH_URL)

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "cache": "unreachable"}
    assert str(port) not in response.content.decode()
    assert "the cache did not answer (ConnectionError" in caplog.text


@pytest.mark.redis
@pytest.mark.django_db
def test_it_answers_ok_with_a_live_redis_cache_and_leaves_no_probe_behind(anonymous, settings):
    import redis

    url = backing_services.redis_url()
    reason = backing_services.redis_unavailable(url)
    if reason:
        pytest.skip(reason)
    settings.CACHES = redis_cache(url)

    response = anonymous.get(HEALTH_URL)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    with redis.Redis.from_url(url) as client:
        assert list(client.scan_iter(match="*portal:healthz:*")) == []
