"""The "BCC inventory" admin page: every key pair in the cloud account, its owner in the portal or **unowned**.

Filled by ``manage.py sync_bcc`` (``keypairs.services.inventory_sync``). Auditors and portal
admins see it (``keypairs.view_bccinventoryentry``); nobody adds, edits or deletes an entry
through the admin's forms. Portal admins alone (``keypairs.change_bccinventoryentry``, the
model's own change permission: no migration) may, on an unowned key pair still in BCC:

- **assign** it to an active developer (``inventory_assign``): it then is in their "My key pairs";
- **delete** it in BCC (``inventory_delete``): refused while it is bound to instances.

Each action is two POSTs with the admin's CSRF check: the button on the entry's page asks for a
confirmation page, and the confirmation's own POST acts. A GET answers 405, an auditor 403.
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from keypairs import audit_review, inventory_drift
from keypairs.admin import RegionFilter
from keypairs.audit import origin_of
from keypairs.forms_inventory import AssignForm
from keypairs.models import AuditEvent, BccInventoryEntry
from keypairs.services.errors import ServiceError
from keypairs.services.inventory import inventory_assign, inventory_delete, may_change_inventory

CONFIRM = "confirm"


class OwnershipFilter(admin.SimpleListFilter):
    title = gettext_lazy("owner")
    parameter_name = "owned"

    def lookups(self, request, model_admin):
        return [("unowned", gettext_lazy("Unowned")), ("owned", gettext_lazy("Owned in the portal"))]

    def queryset(self, request, queryset):
        if self.value() == "unowned":
            return queryset.filter(record__isnull=True)
        if self.value() == "owned":
            return queryset.filter(record__isnull=False)
        return queryset


class StateFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("live", pgettext_lazy("inventory filter: still in BCC", "In BCC")),
            ("gone", gettext_lazy("Gone")),
            (inventory_drift.GONE_AT_LAST_SYNC, gettext_lazy("Gone at the last sync")),
            (inventory_drift.CHANGED_OUTSIDE, gettext_lazy("Changed outside the portal")),
            (inventory_drift.UNOWNED, gettext_lazy("Unowned, in BCC")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "live":
            return queryset.filter(gone_at__isnull=True)
        if value == "gone":
            return queryset.filter(gone_at__isnull=False)
        if value in inventory_drift.DRIFT_FILTERS:
            return inventory_drift.DRIFT_FILTERS[value](queryset)
        return queryset


@admin.register(BccInventoryEntry)
class BccInventoryEntryAdmin(admin.ModelAdmin):
    list_display = ("name", "region", "keypair_id", "owner", "instances", "age_days", "last_seen", "marks")
    list_filter = (RegionFilter, OwnershipFilter, StateFilter)
    search_fields = ("name", "keypair_id")
    search_help_text = gettext_lazy("A key pair name's beginning (any case), or a whole key pair id.")
    list_select_related = ("record__owner",)
    ordering = ("region", "name")
    show_facets = admin.ShowFacets.NEVER
    actions = None
    change_form_template = "admin/keypairs/bccinventoryentry/change_form.html"
    change_list_template = "admin/keypairs/bccinventoryentry/change_list.html"

    class Media:
        css: ClassVar = {"all": ("css/audit-review.css",)}

    # --- Permissions: view for auditors and portal admins; no form ever changes an entry ------

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.has_perm("keypairs.view_bccinventoryentry")

    # --- The list -------------------------------------------------------------------------------

    def get_queryset(self, request):
        changed = AuditEvent.objects.filter(
            action=AuditEvent.Action.CHANGED_OUTSIDE, keypair_id=OuterRef("keypair_id")
        ).values("id")
        return super().get_queryset(request).annotate(changed_outside=Exists(changed))

    def get_search_results(self, request, queryset, search_term):
        """A name's beginning, any case, or a whole key pair id: what an index answers."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(name__istartswith=term) | queryset.filter(keypair_id=term), False

    @admin.display(description=gettext_lazy("Owner"), ordering="record__owner__username")
    def owner(self, entry: BccInventoryEntry) -> str:
        if entry.record is None:
            return format_html('<span class="audit-badge-security inventory-unowned">{}</span>', gettext("unowned"))
        return entry.record.owner.get_username()

    @admin.display(description=gettext_lazy("Instances"), ordering="instance_count")
    def instances(self, entry: BccInventoryEntry) -> int:
        return entry.instance_count

    @admin.display(description=gettext_lazy("Last seen"), ordering="last_seen_at")
    def last_seen(self, entry: BccInventoryEntry) -> str:
        return audit_review.timestamp(entry.last_seen_at)

    @admin.display(description=gettext_lazy("Age (days)"), ordering="bcc_created_at")
    def age_days(self, entry: BccInventoryEntry) -> str:
        if entry.bcc_created_at is None:
            return "—"
        return str((timezone.now() - entry.bcc_created_at).days)

    @admin.display(description=gettext_lazy("Drift"))
    def marks(self, entry: BccInventoryEntry) -> str:
        said = []
        if entry.gone_at is not None:
            said.append(gettext("Gone since %(time)s") % {"time": audit_review.timestamp(entry.gone_at)})
        if getattr(entry, "changed_outside", False):
            said.append(gettext("Changed outside the portal"))
        return "; ".join(said) or "—"

    # --- The entry's page, with the actions ----------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        entry = BccInventoryEntry.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        actionable = entry is not None and entry.record_id is None and entry.gone_at is None
        extra_context = {**(extra_context or {}), "may_act": actionable and may_change_inventory(request.user)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<int:entry_id>/assign/",
                self.admin_site.admin_view(require_POST(self.assign_view)),
                name=f"{info}_assign",
            ),
            path(
                "<int:entry_id>/delete-unowned/",
                self.admin_site.admin_view(require_POST(self.delete_view_unowned)),
                name=f"{info}_delete_unowned",
            ),
            *super().get_urls(),
        ]

    def assign_view(self, request: HttpRequest, entry_id: int) -> HttpResponse:
        entry = self._entry_to_act_on(request, entry_id)
        form = AssignForm(request.POST if CONFIRM in request.POST else None)
        if CONFIRM in request.POST and form.is_valid():
            try:
                record = inventory_assign(
                    actor=request.user,
                    entry_id=entry.pk,
                    owner_id=form.cleaned_data["owner"].pk,
                    origin=origin_of(request),
                )
            except ServiceError as error:
                return self._refused(request, entry, error)
            message = gettext("Key pair %(name)s now belongs to %(person)s: it is in their “My key pairs”.")
            self.message_user(request, message % {"name": record.name, "person": record.owner.get_username()})
            return HttpResponseRedirect(self._entry_url(entry))
        return self._confirmation(request, entry, "assign", form=form)

    def delete_view_unowned(self, request: HttpRequest, entry_id: int) -> HttpResponse:
        entry = self._entry_to_act_on(request, entry_id)
        if CONFIRM in request.POST:
            try:
                result = inventory_delete(actor=request.user, entry_id=entry.pk, origin=origin_of(request))
            except ServiceError as error:
                return self._refused(request, entry, error)
            self.message_user(request, result.message, messages.SUCCESS)
            return HttpResponseRedirect(self._entry_url(entry))
        return self._confirmation(request, entry, "delete")

    def _entry_to_act_on(self, request: HttpRequest, entry_id: int) -> BccInventoryEntry:
        if not may_change_inventory(request.user):
            raise PermissionDenied
        return get_object_or_404(BccInventoryEntry.objects.select_related("record__owner"), pk=entry_id)

    def _refused(self, request: HttpRequest, entry: BccInventoryEntry, error: ServiceError) -> HttpResponse:
        if error.http_status == 403:
            raise PermissionDenied
        self.message_user(request, error.message, messages.ERROR)
        return HttpResponseRedirect(self._entry_url(entry))

    def _confirmation(self, request: HttpRequest, entry: BccInventoryEntry, action: str, form=None) -> HttpResponse:
        if entry.record_id is not None or entry.gone_at is not None:
            message = gettext("Only an unowned key pair still in BCC can be assigned or deleted here.")
            self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(self._entry_url(entry))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "entry": entry,
            "action": action,
            "form": form,
            "title": gettext("Assign key pair %(name)s") % {"name": entry.name}
            if action == "assign"
            else gettext("Delete key pair %(name)s") % {"name": entry.name},
            "action_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_{_URL_NAMES[action]}", args=[entry.pk]
            ),
        }
        return TemplateResponse(request, "admin/keypairs/bccinventoryentry/confirm.html", context)

    def _entry_url(self, entry: BccInventoryEntry) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[entry.pk])


_URL_NAMES = {"assign": "assign", "delete": "delete_unowned"}
