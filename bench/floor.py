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

Beside it, two references, for the pages that list rows. First, a plain table of the person's
key pairs (``/bench/plain-list/``): the same 25 rows a page as "My key pairs", seven columns, each
cell one variable (a link, a date), in the base layout, with no filters, no BCC state and no
badges: what Django's template engine costs for such a table. Second, for the auditors' pages:
Django's own admin, untouched, listing the same
audit log (``/bench/django-admin/``): the same model, the same 100 rows a page, the same eight
columns as plain fields, the same kinds of filters and the date hierarchy, none of the portal's
code. What the portal's audit log costs beyond that is the portal's; the rest is the admin's.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from keypairs.list_filters import PAGE_SIZE
from keypairs.models import AuditEvent
from keypairs.selectors import keypair_requests_of
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


_PLAIN_LIST_SOURCE = """{% extends "base.html" %}{% load i18n %}
{% block content %}
<h1>{% translate "My key pairs" %}</h1>
<table><thead><tr><th>{% translate "Name" %}</th><th>{% translate "Region" %}</th>
<th>{% translate "Key pair id" %}</th><th>{% translate "Created" %}</th><th>{% translate "Fingerprint" %}</th>
<th>{% translate "State" %}</th><th>{% translate "Kind" %}</th></tr></thead>
<tbody>{% for kp in page %}<tr><td><a href="{% url 'keypair_detail' public_id=kp.public_id %}">{{ kp.name }}</a></td>
<td>{{ kp.region }}</td><td>{{ kp.keypair_id }}</td><td>{{ kp.created_at|date:"DATETIME_FORMAT" }}</td>
<td>{{ kp.fingerprint_sha256 }}</td><td>{{ kp.get_status_display }}</td><td>{{ kp.kind }}</td></tr>{% endfor %}</tbody>
</table>
{% endblock %}"""
_PLAIN_LIST = None


def plain_list(request: HttpRequest) -> HttpResponse:
    global _PLAIN_LIST
    if _PLAIN_LIST is None:
        _PLAIN_LIST = engines["django"].from_string(_PLAIN_LIST_SOURCE)
    page = Paginator(keypair_requests_of(user=request.user), PAGE_SIZE).get_page(1)
    return HttpResponse(_PLAIN_LIST.render({"page": page}, request))


def floor(request: HttpRequest) -> HttpResponse:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = engines["django"].from_string(_TEMPLATE_SOURCE)
    return HttpResponse(_TEMPLATE.render({}, request))


class PlainAuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "actor_username",
        "action",
        "outcome",
        "region",
        "keypair_name",
        "keypair_id",
        "bcc_request_id",
    )
    list_filter = ("action", "outcome", "is_security_event", "region", "created_at")
    date_hierarchy = "created_at"
    list_per_page = 100
    ordering = ("-id",)
    show_full_result_count = False
    actions = None
    # Django's own template: the portal's (templates/admin/keypairs/auditevent/) adds its export and chain status.
    change_list_template = "admin/change_list.html"

    def lookup_allowed(self, lookup, value, request=None):
        return True  # ?keypair_id=...: a key pair's timeline, as the portal's audit log links to it


django_admin = admin.AdminSite(name="bench_django_admin")
django_admin.register(AuditEvent, PlainAuditEventAdmin)

urlpatterns = [
    path(FLOOR_URL, floor, name="bench_floor"),
    path("bench/plain-list/", plain_list, name="bench_plain_list"),
    path("bench/django-admin/", django_admin.urls),
    *portal_urlpatterns,
]
