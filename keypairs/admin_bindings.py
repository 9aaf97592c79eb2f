"""The admin page "Bindings that could not be removed": what ``expire_access`` tried and failed to unbind.

A time-limited binding whose unbind BCC refused or never answered stays ``bound`` (the key pair
still signs its owner in there) with ``unbind_attempts`` and ``last_error`` counted; the
command retries it on every run and mails the portal admins a summary while any is left. This
page lists them (key pair, owner, instance, since when it should have ended, attempts, last
error) so nobody has to read the log to know what is still open.

Who: portal admins, auditors and superusers view it; nobody acts here (the next run retries,
and an operator fixes what BCC refuses). Like the flagged key pairs page, a view of the admin
site without a model of its own: its URL goes in front of the site's, its link in the index.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy

from keypairs.access_expiry import stuck_bindings
from keypairs.admin_flagged import may_view

PAGE_TITLE = gettext_lazy("Bindings that could not be removed")
MAX_ROWS = 500


def stuck_bindings_view(request: HttpRequest) -> HttpResponse:
    if not may_view(request.user):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": PAGE_TITLE,
        "bindings": list(stuck_bindings()[:MAX_ROWS]),
        "max_rows": MAX_ROWS,
    }
    return render(request, "admin/keypairs/stuck_bindings.html", context)


def install(site: admin.AdminSite = admin.site) -> None:
    """Put the page's URL in front of the site's, and its link in the index for those who may see it."""
    site_urls, site_app_list = site.get_urls, site.get_app_list

    def get_urls():
        page = path("keypairs/stuck-bindings/", site.admin_view(stuck_bindings_view), name="keypairs_stuck_bindings")
        return [page, *site_urls()]

    def get_app_list(request, app_label=None):
        apps = site_app_list(request, app_label)
        if may_view(request.user):
            for app in apps:
                if app["app_label"] == "keypairs":
                    app["models"].append(
                        {
                            "name": PAGE_TITLE,
                            "object_name": "StuckBindings",
                            "admin_url": reverse("admin:keypairs_stuck_bindings"),
                            "add_url": None,
                            "view_only": True,
                            "perms": {"view": True},
                        }
                    )
        return apps

    site.get_urls, site.get_app_list = get_urls, get_app_list


install()
