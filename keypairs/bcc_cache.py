"""What the modules that keep BCC's state in Django's cache share: the account key, a cache call
that never fails a page.

``keypairs.bcc_state`` (key pairs) and ``keypairs.bcc_instances`` (instances) each keep one
region's list walk in the shared cache; both key their entries by BCC account as well as region
and both carry on without the cache when it fails.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


def bcc_account() -> str:
    """Which BCC account and endpoint a cached state belongs to, without the key id in clear.

    ``CACHE_KEY_PREFIX`` keeps two portals on one Redis apart only when operators set it, and its
    default is the same everywhere, so the account is in every key as well.
    """
    seen = f"{settings.BCC_ACCESS_KEY_ID}\0{settings.BCC_ENDPOINT}".encode()
    return hashlib.sha256(seen).hexdigest()[:16]


def cache_call(operation: Callable[..., Any], *args: Any) -> Any:
    """Run one cache operation; None when the cache itself fails (logged), so no page fails with it."""
    try:
        return operation(*args)
    except Exception:
        logger.exception("The cache failed (%s); BCC's state is read without it", operation.__name__)
        return None
