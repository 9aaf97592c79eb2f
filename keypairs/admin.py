"""Read-only admin for the audit log and create attempts.

Nothing here can add, change or delete, not even for a superuser: the audit log is
append-only by design, and a create attempt's record is evidence. ``Delivery`` is not
registered at all, so no admin page can ever show a ciphertext, salt or token hash.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from keypairs.audit import SIGNED_FIELDS
from keypairs.models import AuditEvent, Delivery, KeyPairRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    """View permission only; no bulk actions (so no "delete selected")."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "actor_username",
        "action",
        "outcome",
        "is_security_event",
        "region",
        "keypair_name",
        "keypair_id",
        "bcc_request_id",
    )
    list_filter = ("action", "outcome", "is_security_event", "region")
    # "=" makes exact lookups the indexes can answer; ids are pasted whole, names are typed in part.
    search_fields = ("=keypair_id", "=bcc_request_id", "=portal_request_id", "=actor_username", "keypair_name")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    # Every column, in chain order; the signed ones are not form fields, so list them.
    fields = readonly_fields = (*SIGNED_FIELDS, "prev_hash", "row_hash")
    list_per_page = 100
    # COUNT(*) over millions of rows on every page view is slow; "Show all" is not needed.
    show_full_result_count = False


@admin.register(KeyPairRequest)
class KeyPairRequestAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "owner", "region", "name", "status", "keypair_id", "bcc_request_id")
    list_filter = ("status", "region")
    search_fields = ("=public_id", "=keypair_id", "=bcc_request_id", "=owner__username", "name")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    # The one-time form token is the user's, not a reviewer's concern.
    exclude = ("form_token_hash",)
    readonly_fields = ("public_id", "created_at", "download")

    @admin.display(description="Private key download")
    def download(self, obj: KeyPairRequest) -> str:
        # Only these columns are read: the ciphertext never leaves the database here.
        delivery = (
            Delivery.objects.filter(request=obj)
            .values("expires_at", "claimed_at", "claimed_from", "wiped_at", "reported_at")
            .first()
        )
        if delivery is None:
            return "No private key was delivered."
        if delivery["claimed_at"] is not None:
            where = delivery["claimed_from"] or "an unknown address"
            text = f"Downloaded at {delivery['claimed_at']:%Y-%m-%d %H:%M:%S %Z} from {where}."
        elif delivery["wiped_at"] is not None or delivery["expires_at"] <= timezone.now():
            text = "Expired without a download; the private key was erased."
        else:
            text = f"Waiting for download until {delivery['expires_at']:%Y-%m-%d %H:%M:%S %Z}."
        if delivery["reported_at"] is not None:
            text += " The owner reported that they did not download it."
        return text
