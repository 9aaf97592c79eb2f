"""The floor: the least a signed-in page of this portal can cost, served by the portal itself.

``bench.pages`` measures every page of the portal beside this one, interleaved, in one run:
the page's worker CPU divided by the floor's is the figure its target is set on (issue 14).

The floor goes through everything a real page goes through and nothing more:

- the same gunicorn configuration and the same middleware stack (``bench/floor_settings.py``
  only adds this URL): the request id, the security headers, WhiteNoise, the session loaded,
  the language chosen, CSRF, the signed-in user loaded, the sign-in gate, messages;
- the portal's base layout rendered around a small template, with what the layout needs (the
  person's roles for the navigation, two CSRF tokens, the language switch, the script catalogue
  URL);
- the access log line gunicorn writes as JSON, as for every request.

It reads no key pair, calls no BCC and writes nothing.
"""

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from portal.urls import urlpatterns as portal_urlpatterns

FLOOR_URL = "bench/floor/"

# Compiled once, as the cached template loader keeps every template of the portal compiled.
_TEMPLATE = None
_TEMPLATE_SOURCE = """{% extends "base.html" %}{% load i18n %}
{% block title %}{% translate "Key pairs" %}{% endblock %}
{% block content %}
<h1>{% translate "Key pairs" %}</h1>
<p>{{ user.get_username }}</p>
<form method="post">{% csrf_token %}<button type="submit">{% translate "Delete" %}</button></form>
{% endblock %}"""


def floor(request: HttpRequest) -> HttpResponse:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = engines["django"].from_string(_TEMPLATE_SOURCE)
    return HttpResponse(_TEMPLATE.render({}, request))


urlpatterns = [path(FLOOR_URL, floor, name="bench_floor"), *portal_urlpatterns]
