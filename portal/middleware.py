"""Cross-cutting response policy: a request id on every request, and headers that keep
pages out of caches and frames.

The portal shows private-key download pages and audit data, so by default nothing it
renders may be stored by a browser or a proxy (`Cache-Control: no-store`).

Both middlewares come first in MIDDLEWARE, before Django's SecurityMiddleware and WhiteNoise,
so that every response carries their headers: also the redirect from HTTP to HTTPS and the
static files WhiteNoise answers (which keep WhiteNoise's own long cache lifetimes: headers
are only added where the response has none), and the request id is bound while any
middleware logs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from portal.logging import bind_request_id, unbind_request_id

# No inline script anywhere: every script is a file under static/, so an injected
# <script> in a page would not run.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class RequestIdMiddleware:
    """Gives each request an id that logs, audit rows and the response header share.

    An id sent by the client is not trusted (it could be chosen to collide with another
    request's in the logs); the portal always makes its own. While the request is served the
    id is bound to ``portal.logging.request_id_var``, so every line logged on its behalf (the
    BCC client's included) carries it without being handed it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = uuid.uuid4().hex
        bound = bind_request_id(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            # A gthread worker serves the next request on this same thread.
            unbind_request_id(bound)
        response["X-Request-ID"] = request.request_id
        return response


class SecurityHeadersMiddleware:
    """Headers Django's SecurityMiddleware does not set: CSP and a no-store default, and
    ``X-Frame-Options`` for the responses that never reach XFrameOptionsMiddleware (the
    HTTPS redirect, static files)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Cache-Control", "no-store")
        if not getattr(response, "xframe_options_exempt", False):
            response.setdefault("X-Frame-Options", "DENY")
        return response
