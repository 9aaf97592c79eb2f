"""Can this instance serve requests? The checks behind ``/healthz``.

A load balancer asks every few seconds and takes an instance out of rotation while it
answers 503. Each check therefore costs a round trip or two, never waits on BCC (one slow
cloud API must not take every instance out at once; a BCC outage is the user's clear
message, not a dead portal), and answers only True or False: why a check failed goes to the
log for operators, never into the response, which anyone may read.

Checked: the database (every page needs it) and Django's cache, where the rate limit, the
shared quota count and the audit chain status live. The cache is Redis when ``REDIS_URL`` is
set, else a table in the database (so it answers when, and only when, the database does).

A failing cache makes this answer 503 even though the pages keep working without it: as
``keypairs.limits`` says, creates then go through without the rate limit and the form shows
the quota as unknown, with an error in the log. The health check reports the degraded
instance; it does not mean the instance cannot serve.
"""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

CACHE_PROBE_SECONDS = 10


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as error:  # whatever the driver raises, the answer is "no"
        logger.warning("Health check: the database did not answer (%s: %s)", type(error).__name__, error)
        return False


def cache_answers() -> bool:
    """Write a value and read it back: a cache that accepts nothing cannot enforce the rate limit."""
    key = f"portal:healthz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "ok", timeout=CACHE_PROBE_SECONDS)
        answered = cache.get(key) == "ok"
        cache.delete(key)
    except Exception as error:
        logger.warning("Health check: the cache did not answer (%s: %s)", type(error).__name__, error)
        return False
    if not answered:
        logger.warning("Health check: the cache did not return the value just written to it")
    return answered
