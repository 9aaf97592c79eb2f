"""The portal's own "page not found", whatever DEBUG says.

With DEBUG on (``make run``), Django answers an unknown URL with its technical 404 page,
which lists every URL pattern of the portal, and a view's ``Http404`` with a page naming the
view that raised it. ``make run`` needs DEBUG for its local defaults (sandbox, local
accounts, development keys), so instead of turning it off this middleware renders
``404.html`` itself: for a URL no view matches (no ``process_view`` ran) and for an
``Http404`` raised by a view. With DEBUG off Django would render the same template.

One page for every 404 also keeps "someone else's key pair" indistinguishable from "no
such key pair": same status, same body, apart from the request id in the headers.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

_VIEW_RESOLVED = "_portal_view_resolved"


class NotFoundPageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 404 and not getattr(request, _VIEW_RESOLVED, False):
            return not_found(request)
        return response

    def process_view(self, request: HttpRequest, *args) -> None:
        setattr(request, _VIEW_RESOLVED, True)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Http404):
            return not_found(request)
        return None


def not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "404.html", status=404)
