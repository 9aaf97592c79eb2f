"""The admin page "Key pairs of people who left", and of every flagged key pair: keep or delete each.

Listed: the key pairs of every person whose departure is open (``keypairs.offboarding``), as
flagged, pending deletion on a date, or deleted since they left; and every key pair a policy
flagged (owner left, or older than its maximum age). Filter ``?reason=owner_left`` or
``?reason=expired``. The bound-instance count comes from the last ``sync_bcc`` (the BCC
inventory), so opening the page never calls BCC; "unknown" when the inventory has no entry.

Who: portal admins and superusers see it and decide; auditors see it and cannot act. Each
decision is one key pair, confirmed on its own page, then POSTed with the admin's CSRF check:
"keep" clears the flag (``keypair_clear_flag``, audited ``flag_cleared``), "delete" goes through
``keypair_delete_for_governance`` (audited, the admin as actor). "Keep" is offered for flagged
key pairs, those pending deletion included: ``enforce_departures`` deletes only the key pairs
still flagged, so keeping one spares it.

A view of the admin site without a model of its own (no proxy model, no migration): its URLs
are put in front of the site's, and its link is added to the "BCC key pairs" section of the
admin index for those who may see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, gettext_lazy

from keypairs.audit import origin_of
from keypairs.models import BccInventoryEntry, Departure, KeyPairRequest
from keypairs.offboarding import pending_deletion_date
from keypairs.services.delete import keypair_delete_for_governance
from keypairs.services.errors import ServiceError
from keypairs.services.policy import keypair_clear_flag
from portal.auth.roles import Role, roles_of

Status = KeyPairRequest.Status
FlagReason = KeyPairRequest.FlagReason

PAGE_TITLE = gettext_lazy("Key pairs of people who left, and flagged key pairs")
LINK_NAME = gettext_lazy("Key pairs of people who left")
KEEP, DELETE = "keep", "delete"
DECISIONS = {
    KEEP: gettext_lazy("Keep"),
    DELETE: gettext_lazy("Delete"),
}
KEPT = gettext_lazy("Kept: the flag on {name} is cleared.")
NOT_FLAGGED = gettext_lazy("{name} is not flagged (any more): nothing to keep.")
DELETED = gettext_lazy("Deleted: {name} is gone from BCC.")
WHY_KEPT = "kept by a portal admin"
WHY_DELETED = "deleted by a portal admin (key pairs of people who left)"
MAX_ROWS = 500


def may_view(user) -> bool:
    """Portal admins, auditors and superusers (staff who may read key pairs or the audit log)."""
    return bool(
        user.is_active
        and user.is_staff
        and (user.has_perm("keypairs.view_keypairrequest") or user.has_perm("keypairs.view_auditevent"))
    )


def may_decide(user) -> bool:
    """Portal admins and superusers; auditors review, they do not act."""
    return bool(user.is_active and user.is_staff and (user.is_superuser or Role.PORTAL_ADMIN in roles_of(user)))


@dataclass
class Row:
    keypair_request: KeyPairRequest
    departure: Departure | None
    bound: int | None
    status: str
    can_keep: bool
    can_delete: bool


def _on_the_page(reason: str) -> Q:
    left = Q(owner__departure__isnull=False, owner__departure__returned_at__isnull=True) & (
        Q(status=Status.CREATED) | Q(status=Status.DELETED, deleted_at__gte=F("owner__departure__left_at"))
    )
    flagged = Q(flagged_at__isnull=False, status=Status.CREATED)
    if reason == FlagReason.OWNER_LEFT:
        return left | (flagged & Q(flag_reason=FlagReason.OWNER_LEFT))
    if reason == FlagReason.EXPIRED:
        return flagged & Q(flag_reason=FlagReason.EXPIRED)
    return left | flagged


def rows_for(reason: str) -> list[Row]:
    """The page's rows (at most MAX_ROWS), people who left first, in a few queries whatever the count."""
    records = (
        KeyPairRequest.objects.filter(_on_the_page(reason))
        .select_related("owner", "owner__departure")
        .order_by(F("owner__departure__left_at").desc(nulls_last=True), "owner__username", "created_at")
    )
    return _rows_of(list(records[:MAX_ROWS]))


def _rows_of(records: list[KeyPairRequest]) -> list[Row]:
    counts = _bound_counts(records)
    rows = []
    for record in records:
        departure = getattr(record.owner, "departure", None)
        if departure is not None and departure.returned_at is not None:
            departure = None
        rows.append(
            Row(
                keypair_request=record,
                departure=departure,
                bound=counts.get((record.region, record.keypair_id)),
                status=_status(record, departure),
                can_keep=record.status == Status.CREATED and record.flagged_at is not None,
                can_delete=record.status == Status.CREATED,
            )
        )
    return rows


def _bound_counts(records: list[KeyPairRequest]) -> dict[tuple[str, str], int]:
    ids = {record.keypair_id for record in records if record.keypair_id}
    if not ids:
        return {}
    entries = BccInventoryEntry.objects.filter(keypair_id__in=ids, gone_at__isnull=True)
    return {
        (region, keypair_id): count
        for region, keypair_id, count in entries.values_list("region", "keypair_id", "instance_count")
    }


def _when(moment: datetime) -> str:
    """In the portal's time zone and the reader's date format, naming the zone (portal/formats/)."""
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _status(record: KeyPairRequest, departure: Departure | None) -> str:
    if record.status == Status.DELETED:
        return (
            gettext("deleted on {when}").format(when=_when(record.deleted_at))
            if record.deleted_at
            else gettext("deleted")
        )
    when = pending_deletion_date(departure) if record.flag_reason in ("", FlagReason.OWNER_LEFT) else None
    if when is not None:
        return gettext("pending deletion on {when}").format(when=_when(when))
    if record.flagged_at is not None:
        return gettext("flagged ({reason}) on {when}").format(
            reason=FlagReason(record.flag_reason).label if record.flag_reason else "", when=_when(record.flagged_at)
        )
    return gettext("waiting for enforce_key_policy")


def flagged_view(request: HttpRequest) -> HttpResponse:
    if not may_view(request.user):
        raise PermissionDenied
    reason = request.GET.get("reason", "")
    if reason not in FlagReason.values:
        reason = ""
    context = {
        **admin.site.each_context(request),
        "title": PAGE_TITLE,
        "rows": rows_for(reason),
        "reason": reason,
        "reasons": FlagReason.choices,
        "may_decide": may_decide(request.user),
        "max_rows": MAX_ROWS,
    }
    return render(request, "admin/keypairs/flagged/list.html", context)


def decide_view(request: HttpRequest, public_id, decision: str) -> HttpResponse:
    """GET: the confirmation page; POST: the decision, then back to the list with what happened."""
    if not may_decide(request.user):
        raise PermissionDenied
    if decision not in DECISIONS:
        raise Http404
    row = _row(public_id)
    if row is None or not (row.can_keep if decision == KEEP else row.can_delete):
        raise Http404
    if request.method == "POST":
        _decide(request, row.keypair_request, decision)
        return HttpResponseRedirect(reverse("admin:keypairs_flagged"))
    context = {
        **admin.site.each_context(request),
        "title": gettext("Confirm: {decision} {name}").format(
            decision=DECISIONS[decision], name=row.keypair_request.name
        ),
        "row": row,
        "decision": decision,
        "decision_label": DECISIONS[decision],
    }
    return render(request, "admin/keypairs/flagged/confirm.html", context)


def _row(public_id) -> Row | None:
    records = KeyPairRequest.objects.filter(Q(public_id=public_id) & _on_the_page("")).select_related(
        "owner", "owner__departure"
    )
    rows = _rows_of(list(records[:1]))
    return rows[0] if rows else None


def _decide(request: HttpRequest, record: KeyPairRequest, decision: str) -> None:
    origin = origin_of(request)
    if decision == KEEP:
        kept = keypair_clear_flag(keypair_request=record, actor=request.user, why=WHY_KEPT, origin=origin)
        text, level = (KEPT, messages.SUCCESS) if kept else (NOT_FLAGGED, messages.WARNING)
        messages.add_message(request, level, text.format(name=record.name))
        return
    try:
        keypair_delete_for_governance(keypair_request=record, why=WHY_DELETED, origin=origin, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
        return
    messages.success(request, DELETED.format(name=record.name))


# --- In the admin site ----------------------------------------------------------------------


def _urls():
    return [
        path("keypairs/flagged/", admin.site.admin_view(flagged_view), name="keypairs_flagged"),
        path(
            "keypairs/flagged/<uuid:public_id>/<str:decision>/",
            admin.site.admin_view(decide_view),
            name="keypairs_flagged_decide",
        ),
    ]


def install(site: admin.AdminSite = admin.site) -> None:
    """Put the page's URLs in front of the site's, and its link in the index for those who may see it."""
    site_urls, site_app_list = site.get_urls, site.get_app_list

    def get_urls():
        return _urls() + site_urls()

    def get_app_list(request, app_label=None):
        apps = site_app_list(request, app_label)
        if may_view(request.user):
            for app in apps:
                if app["app_label"] == "keypairs":
                    app["models"].append(
                        {
                            "name": LINK_NAME,
                            "object_name": "FlaggedKeyPairs",
                            "admin_url": reverse("admin:keypairs_flagged"),
                            "add_url": None,
                            "view_only": True,
                            "perms": {"view": True},
                        }
                    )
        return apps

    site.get_urls, site.get_app_list = get_urls, get_app_list
