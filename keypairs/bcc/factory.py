"""BCC clients built from Django settings: one per region per process, reused.

Reusing a client reuses its connection pool, so its pooled connections (and TLS sessions)
survive from one web request to the next. The cache key holds every setting a client is
built from, so changed settings can never be served by a stale client; clearing on Django's
``setting_changed`` also lets ``override_settings`` drop clients it made unreachable.

This is the only module under ``keypairs.bcc`` that imports Django.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from keypairs.bcc.client import BccClient
from keypairs.bcc.signer import Credentials

REGION_NOT_OFFERED = "BCC region {region!r} is not one of BCC_REGIONS."
CREDENTIALS_MISSING = "BCC_ACCESS_KEY_ID and BCC_SECRET_ACCESS_KEY must be set to talk to BCC."
CA_BUNDLE_MISSING = "BCC_CA_BUNDLE names {path}, which does not exist."
VERIFY_OFF = "BCC_CA_BUNDLE must be True or the path of a CA bundle; TLS verification cannot be turned off."

_SETTING_NAMES = frozenset(
    {
        "BCC_ACCESS_KEY_ID",
        "BCC_SECRET_ACCESS_KEY",
        "BCC_ENDPOINT",
        "BCC_CONNECT_TIMEOUT",
        "BCC_READ_TIMEOUT",
        "BCC_MAX_ATTEMPTS",
        "BCC_CA_BUNDLE",
        "BCC_REGIONS",
    }
)

_clients: dict[tuple, BccClient] = {}
_lock = threading.Lock()


def get_client(region: str, *, max_attempts: int | None = None) -> BccClient:
    """The client for ``region``, which must be listed in ``BCC_REGIONS``.

    ``max_attempts`` lowers ``BCC_MAX_ATTEMPTS`` for callers that must answer within a page's
    time (``keypairs.bcc_state``); it can never raise it.
    """
    if region not in settings.BCC_REGIONS:
        raise ValueError(REGION_NOT_OFFERED.format(region=region))
    attempts = int(settings.BCC_MAX_ATTEMPTS)
    if max_attempts is not None:
        attempts = max(min(attempts, max_attempts), 1)
    key = (*_cache_key(region), attempts)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _build(region, max_attempts=attempts)
        return client


def reset_clients() -> None:
    """Forget (and close) every cached client. For tests, and when settings change."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


@receiver(setting_changed)
def _reset_on_setting_changed(*, setting: str, **kwargs) -> None:
    if setting in _SETTING_NAMES:
        reset_clients()


def _cache_key(region: str) -> tuple:
    return (
        region,
        settings.BCC_ACCESS_KEY_ID,
        settings.BCC_SECRET_ACCESS_KEY,
        settings.BCC_ENDPOINT,
        settings.BCC_CONNECT_TIMEOUT,
        settings.BCC_READ_TIMEOUT,
        settings.BCC_MAX_ATTEMPTS,
        settings.BCC_CA_BUNDLE,
    )


def _build(region: str, *, max_attempts: int) -> BccClient:
    if not settings.BCC_ACCESS_KEY_ID or not settings.BCC_SECRET_ACCESS_KEY:
        raise ImproperlyConfigured(CREDENTIALS_MISSING)
    verify = settings.BCC_CA_BUNDLE
    if verify is not True and not (isinstance(verify, str) and verify):
        raise ImproperlyConfigured(VERIFY_OFF)
    if verify is not True and not os.path.exists(verify):
        raise ImproperlyConfigured(CA_BUNDLE_MISSING.format(path=verify))
    return BccClient(
        credentials=Credentials(settings.BCC_ACCESS_KEY_ID, settings.BCC_SECRET_ACCESS_KEY),
        # replace(), not format(): a stray brace elsewhere in the URL must not break it.
        endpoint=settings.BCC_ENDPOINT.replace("{region}", region),
        region=region,
        connect_timeout=float(settings.BCC_CONNECT_TIMEOUT),
        read_timeout=float(settings.BCC_READ_TIMEOUT),
        max_attempts=max_attempts,
        verify=verify,
    )
