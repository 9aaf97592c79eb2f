"""Read-only admin: the auditors' review of the audit log, and the create attempts.

Nothing here can add, change or delete, not even for a superuser: the audit log is
append-only by design, and a create attempt's record is evidence. ``Delivery`` is not
registered at all, so no admin page can ever show a ciphertext, salt or token hash.

Who sees what (``portal/auth/roles.py``): auditors have view permission on audit events
and the BCC inventory; portal admins also on create attempts, users and groups, and they
alone act on the inventory (``keypairs/admin_inventory.py``, imported at the end of this
module); developers are not staff and never reach the admin.

The audit log's pages are built for a million rows and more (``keypairs/audit_review.py``):
no ``COUNT(*)`` over the table, no ``SELECT DISTINCT`` for the region filter or the date
hierarchy, a search an index answers (prefixes of names, whole ids), and no facet counts. The list
shows whether the chain verified when last checked, with a button to check again, and the
filtered set can be exported as a streamed CSV, itself recorded in the log.
"""

from __future__ import annotations

import datetime
import functools
from typing import ClassVar

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import get_script_prefix, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.http import content_disposition_header, urlencode
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy, gettext_noop, ngettext
from django.views.decorators.http import require_POST

from keypairs import audit_review
from keypairs.audit import SIGNED_FIELDS, audit_acknowledge, audit_record, unacknowledged_head_rebuilds
from keypairs.audit_shipping import shipping_status
from keypairs.models import AuditEvent, Delivery, KeyPairRequest

# The portal's name on every admin page, in the reader's language (Django's own says "Django administration").
admin.site.site_header = gettext_lazy("BCC key pair portal: administration")
admin.site.site_title = gettext_lazy("BCC key pair portal")

EXPORT_DETAIL = "CSV export of the audit log; filters: {filters}"
# Marked here, translated when shown (gettext at call time).
ACKNOWLEDGED_MESSAGE = gettext_noop("Acknowledged: the rebuilt chain head is recorded as reviewed by you.")
NOTHING_TO_ACKNOWLEDGE_MESSAGE = gettext_noop("There is no chain problem waiting for an acknowledgement.")
MAX_EVENT_ID = 2**63 - 1
KEYPAIR_TIMELINE_TITLE = gettext_noop("Every event of this key pair, oldest first")
PERSON_TIMELINE_TITLE = gettext_noop("Every event of this person, oldest first")
# Searched by case-insensitive prefix (indexes: migration 0007); the other search fields exactly.
PREFIX_SEARCH_FIELDS = frozenset({"actor_username", "keypair_name"})


class ReadOnlyAdmin(admin.ModelAdmin):
    """View permission only; no bulk actions (so no "delete selected")."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RegionFilter(admin.SimpleListFilter):
    """The configured regions: Django's default would run SELECT DISTINCT region over the whole log."""

    title = gettext_lazy("region")
    parameter_name = "region"

    def lookups(self, request, model_admin):
        return [(region, region) for region in settings.BCC_REGIONS]

    def queryset(self, request, queryset):
        return queryset.filter(region=self.value()) if self.value() else queryset


class KeyPairTimelineFilter(admin.SimpleListFilter):
    """The "Key pair id" links' filter: the key pair's events, the first rows of its create included.

    It reads the links' ``keypair_id__exact``. Its one choice is the key pair shown, so the
    sidebar names it on a timeline and shows nothing elsewhere (listing every key pair id would
    read the whole log).
    """

    title = gettext_lazy("key pair")
    parameter_name = "keypair_id__exact"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        return audit_review.keypair_timeline(queryset, self.value()) if self.value() else queryset


class AuditEventChangeList(ChangeList):
    """Adds ``date_choices``: the date hierarchy without scanning the log.

    Django's hierarchy lists the years, months or days that hold events with ``SELECT
    DISTINCT`` over every matching row. Here the span comes from the first and the newest
    event (two primary-key lookups: ``created_at`` grows with the id along the chain), and
    every year, month or day within it is offered; a day without events shows an empty list.
    """

    date_field = "created_at"

    def date_choices(self) -> dict:
        first, last = self._span()
        if first is None:
            return {"show": False}
        year_field, month_field, day_field = (f"{self.date_field}__{part}" for part in ("year", "month", "day"))
        try:
            year = int(self.params.get(year_field, 0))
            month = int(self.params.get(month_field, 0))
            day = int(self.params.get(day_field, 0))
        except ValueError:
            return {"show": False}
        if not year and first.year == last.year:
            # Like Django's: a span within one year (or month) opens at that year (or month).
            year = first.year
            if first.month == last.month:
                month = first.month

        def link(filters):
            return self.get_query_string(filters, [f"{self.date_field}__"])

        if year and month and day:
            chosen = datetime.date(year, month, day)
            return {
                "show": True,
                "back": {"link": link({year_field: year, month_field: month}), "title": _month_title(chosen)},
                "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
            }
        if year and month:
            days = _days(year, month, first, last)
            return {
                "show": True,
                "back": {"link": link({year_field: year}), "title": str(year)},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: month, day_field: day.day}),
                        "title": capfirst(formats.date_format(day, "MONTH_DAY_FORMAT")),
                    }
                    for day in days
                ],
            }
        if year:
            months = [m for m in range(1, 13) if (first.year, first.month) <= (year, m) <= (last.year, last.month)]
            return {
                "show": True,
                "back": {"link": link({}), "title": gettext("All dates")},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: m}),
                        "title": _month_title(datetime.date(year, m, 1)),
                    }
                    for m in months
                ],
            }
        return {
            "show": True,
            "choices": [{"link": link({year_field: y}), "title": str(y)} for y in range(first.year, last.year + 1)],
        }

    def _span(self) -> tuple[datetime.datetime | None, datetime.datetime | None]:
        times = AuditEvent.objects.values_list(self.date_field, flat=True)
        first, last = times.order_by("id").first(), times.order_by("-id").first()
        if first is None or last is None:
            return None, None
        return timezone.localtime(first), timezone.localtime(last)


def action_label(action: str) -> str:
    """The action's name in the reader's language, or the stored value for an action no longer named.

    Not ``get_action_display()``: it hashes every choice's lazy label, translating all 48 of them
    for each row (4,800 translations for a page of 100 rows, a third of the page's time).
    """
    try:
        return str(AuditEvent.Action(action).label)
    except ValueError:
        return action


@functools.lru_cache(maxsize=16)
def _audit_list_path(script_prefix: str) -> str:
    """The audit log's path under ``script_prefix``: ``reverse()`` once, not twice for every row."""
    return reverse("admin:keypairs_auditevent_changelist")


def _month_title(day: datetime.date) -> str:
    return capfirst(formats.date_format(day, "YEAR_MONTH_FORMAT"))


def _days(year: int, month: int, first: datetime.datetime, last: datetime.datetime) -> list[datetime.date]:
    start = datetime.date(year, month, 1)
    end = (start + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
    start, end = max(start, first.date()), min(end, last.date())
    return [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    # The time with seconds and its zone, and a badge on security events rather than a tick on
    # every row; audit-review.css keeps the columns within a 1280 px window (long names and ids
    # wrap instead of being cut off).
    list_display = (
        "when",
        "actor_timeline",
        "action_with_badge",
        "outcome",
        "region",
        "keypair_name",
        "keypair_id_timeline",
        "bcc_request_id",
    )
    list_filter = (
        "action",
        "outcome",
        "is_security_event",
        RegionFilter,
        ("created_at", admin.DateFieldListFilter),
        KeyPairTimelineFilter,
    )
    # Shown as the search box's help; get_search_results does the matching.
    search_fields = ("actor_username", "keypair_name", "keypair_id", "bcc_request_id", "portal_request_id")
    search_help_text = gettext_lazy(
        "The start of an actor or key pair name (any case), or a whole key pair id, BCC or portal request id, "
        "or event number."
    )
    date_hierarchy = "created_at"
    ordering = ("-id",)
    # Every column, in chain order; the signed ones are not form fields, so list them.
    fields = readonly_fields = (*SIGNED_FIELDS, "prev_hash", "row_hash")
    list_per_page = 100
    paginator = audit_review.AuditEventPaginator
    # No second COUNT(*) for "N total", and no per-choice counts beside the filters.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    class Media:
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("css/audit-review.css",)}

    def get_changelist(self, request, **kwargs):
        return AuditEventChangeList

    @admin.display(description=gettext_lazy("Time"), ordering="id")
    def when(self, event: AuditEvent) -> str:
        return audit_review.timestamp(event.created_at)

    @admin.display(description=gettext_lazy("Actor"), ordering="actor_username")
    def actor_timeline(self, event: AuditEvent) -> str:
        return self._timeline_link("actor_username", event.actor_username, gettext(PERSON_TIMELINE_TITLE))

    @admin.display(description=gettext_lazy("Key pair id"), ordering="keypair_id")
    def keypair_id_timeline(self, event: AuditEvent) -> str:
        return self._timeline_link("keypair_id", event.keypair_id, gettext(KEYPAIR_TIMELINE_TITLE))

    def _timeline_link(self, field: str, value: str, title: str) -> str:
        """A link to this very list filtered to ``field == value``, oldest event first: a timeline.

        It stays the admin's list (read-only, auditors and portal admins only, exported the
        same way); the order is the "Time" column ascending, which sorts by the event's id,
        the chain's own order.
        """
        if not value:
            return ""
        oldest_first = str(self.list_display.index("when"))  # ORDER_VAR counts columns from 0
        query = urlencode({f"{field}__exact": value, ORDER_VAR: oldest_first})
        url = f"{_audit_list_path(get_script_prefix())}?{query}"
        return format_html('<a href="{}" title="{}">{}</a>', url, title, value)

    @admin.display(description=gettext_lazy("Action"), ordering="action")
    def action_with_badge(self, event: AuditEvent) -> str:
        label = action_label(event.action)
        if not event.is_security_event:
            return label
        return format_html('{} <span class="audit-badge-security">{}</span>', label, gettext("Security event"))

    def get_search_results(self, request, queryset, search_term):
        """Matches an index can answer: a ``LIKE '%term%'`` would read every row.

        Key pair names and actors match by case-insensitive prefix ("web" finds "web-server",
        "Developer" finds "developer"), served by the indexes of migration 0007. Ids and
        request ids match exactly, case and all, as BCC's do. A whole number also matches
        the event's own number.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        found = audit_review.search_matches(
            queryset,
            prefix_fields=[field for field in self.search_fields if field in PREFIX_SEARCH_FIELDS],
            exact_fields=[field for field in self.search_fields if field not in PREFIX_SEARCH_FIELDS],
            term=term,
            event_id=int(term) if term.isdigit() and int(term) <= MAX_EVENT_ID else None,
        )
        # For get_paginator: the count the search already made, so the page does not count again.
        if request is not None:
            request.audit_search_count = found.count
        return found.queryset, False

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return self.paginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            known_count=getattr(request, "audit_search_count", None),
        )

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            # POST (with the admin's CSRF check): an export writes an audit row, and a cross-site
            # link or image must not be able to make an auditor's browser write one.
            path("export/", self.admin_site.admin_view(require_POST(self.export_view)), name=f"{info}_export"),
            path("verify/", self.admin_site.admin_view(require_POST(self.verify_view)), name=f"{info}_verify"),
            path(
                "acknowledge/",
                self.admin_site.admin_view(require_POST(self.acknowledge_view)),
                name=f"{info}_acknowledge",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "chain_status": audit_review.chain_status(),
            "unacknowledged_rebuilds": unacknowledged_head_rebuilds(),
            "shipping": shipping_status(),
        }
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _filters_of(request: HttpRequest) -> str:
        return request.GET.urlencode() or "none"

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The events the list shows (same filters, search and order), all of them, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        events = changelist.get_queryset(request)
        # Recorded before the first row leaves: an export cut short was still an export.
        audit_record(
            action=AuditEvent.Action.EXPORTED,
            outcome=AuditEvent.Outcome.SUCCESS,
            actor=request.user,
            request=request,
            detail=EXPORT_DETAIL.format(filters=self._filters_of(request)),
        )
        response = StreamingHttpResponse(audit_review.csv_lines(events), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=audit_review.export_file_name()
        )
        response["Cache-Control"] = "no-store"
        return response

    def verify_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """Verify the whole chain now (slow on a large log: docs/benchmarks.md, section 5) and show the result."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        status = audit_review.verify_and_remember()
        if status is None:
            self.message_user(request, gettext(audit_review.ALREADY_RUNNING_MESSAGE), messages.WARNING)
        else:
            self.message_user(request, _verification_message(status), messages.SUCCESS if status.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:keypairs_auditevent_changelist"))

    def acknowledge_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """An auditor acknowledges the rebuilt chain head(s) ``verify_audit`` reports (recorded in the log)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if audit_acknowledge(actor=request.user, request=request) is None:
            self.message_user(request, gettext(NOTHING_TO_ACKNOWLEDGE_MESSAGE), messages.WARNING)
        else:
            self.message_user(request, gettext(ACKNOWLEDGED_MESSAGE), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:keypairs_auditevent_changelist"))


def _verification_message(status: audit_review.ChainStatus) -> str:
    """The result of "Verify the whole chain now" for the reviewer; what broke stays as
    ``audit_verify`` words it (event numbers and hashes, shared with ``manage.py verify_audit``)."""
    if status.ok:
        return ngettext(
            "Audit chain verified: %(count)s event.",
            "Audit chain verified: %(count)s events.",
            status.events_checked,
        ) % {"count": status.events_checked}
    return gettext("The audit chain did NOT verify: %(problem)s") % {"problem": status.message}


@admin.register(KeyPairRequest)
class KeyPairRequestAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "owner", "region", "name", "status", "keypair_id", "bcc_request_id")
    list_filter = ("status", "region")
    search_fields = ("=public_id", "=keypair_id", "=bcc_request_id", "=owner__username", "name")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # The one-time form token is the user's, not a reviewer's concern.
    exclude = ("form_token_hash",)
    readonly_fields = ("public_id", "created_at", "download")

    @admin.display(description=gettext_lazy("Private key download"))
    def download(self, obj: KeyPairRequest) -> str:
        # Only these columns are read: the ciphertext never leaves the database here.
        delivery = (
            Delivery.objects.filter(request=obj)
            .values("expires_at", "claimed_at", "claimed_from", "wiped_at", "reported_at")
            .first()
        )
        if delivery is None:
            return gettext("No private key was delivered.")
        if delivery["claimed_at"] is not None:
            when = audit_review.timestamp(delivery["claimed_at"])
            if delivery["claimed_from"]:
                text = gettext("Downloaded at %(time)s from %(address)s.") % {
                    "time": when,
                    "address": delivery["claimed_from"],
                }
            else:
                text = gettext("Downloaded at %(time)s from an unknown address.") % {"time": when}
        elif delivery["wiped_at"] is not None or delivery["expires_at"] <= timezone.now():
            text = gettext("Expired without a download; the private key was erased.")
        else:
            text = gettext("Waiting for download until %(time)s.") % {
                "time": audit_review.timestamp(delivery["expires_at"])
            }
        if delivery["reported_at"] is not None:
            text += " " + gettext("The owner reported that they did not download it.")
        return text


# After the site's own registrations: the page "Key pairs of people who left" (and every
# flagged key pair), and the BCC inventory's page, which registers itself; access to instances.
from keypairs import admin_access, admin_flagged, admin_inventory  # noqa: E402, F401

admin_flagged.install()
from keypairs import admin_bindings  # noqa: E402, F401  (the page "Bindings that could not be removed")
