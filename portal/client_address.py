"""Where a request really came from: the one place that decides a client's address.

Views, audit rows and log lines all ask here, never ``REMOTE_ADDR`` directly, so that the
answer behind a load balancer is the same everywhere.
"""

from __future__ import annotations

from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The address of the client that sent ``request``."""
    return request.META.get("REMOTE_ADDR") or None
