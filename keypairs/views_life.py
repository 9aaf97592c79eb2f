"""The pages that change a key pair after its birth: delete it, rename it, change its description.

Like every key pair page: developers only, and another person's key pair is a 404 exactly like a
missing one (``selectors.keypair_request_of``). Every change is a POST with Django's CSRF check;
the GET pages only read (the delete confirmation asks BCC how many instances the key pair is
bound to, one detail call, never cached; when it is bound, which ones, one uncached walk of the
region's instances, so the list confirmed is the list BCC holds).
"""

from __future__ import annotations

import uuid

from django.contrib import messages as flash
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from keypairs import selectors, services
from keypairs.audit import origin_of
from keypairs.bcc.errors import BccError
from keypairs.bcc_state import Presence, keypair_in_bcc
from keypairs.forms_change import KeyPairChangeForm
from keypairs.keypair_instances import instances_bound_to
from keypairs.models import KeyPairRequest
from portal.auth.decorators import developer_required

Status = KeyPairRequest.Status

CONFIRM_UNBIND = _("Tick the box to confirm that every instance listed loses this key pair.")
INSTANCES_UNREAD = _(
    "BCC could not say which instances hold this key pair just now; reload the page to see them before unbinding."
)


@developer_required
@never_cache
@require_http_methods(["GET", "POST"])
def keypair_delete(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    keypair_request = selectors.keypair_request_of(user=request.user, public_id=public_id)
    if request.method == "GET":
        return _render_delete(request, keypair_request)
    unbind_all = request.POST.get("unbind_all") == "yes"
    if unbind_all and request.POST.get("confirm") != "yes":
        return _render_delete(request, keypair_request, error=str(CONFIRM_UNBIND), status=400)
    delete = services.keypair_unbind_all_then_delete if unbind_all else services.keypair_delete
    try:
        result = delete(user=request.user, keypair_request=keypair_request, origin=origin_of(request))
    except services.ServiceError as failure:
        return _render_delete(request, keypair_request, error=failure.message, status=failure.http_status)
    flash.success(request, result.message)
    return redirect("keypair_detail", public_id=public_id)


def _render_delete(request, keypair_request, *, error: str | None = None, status: int = 200):
    deletable = keypair_request.status == Status.CREATED and bool(keypair_request.keypair_id)
    lookup = keypair_in_bcc(region=keypair_request.region, keypair_id=keypair_request.keypair_id) if deletable else None
    bound = lookup is not None and lookup.presence is Presence.EXISTS and bool(lookup.keypair.instance_count)
    instances, instances_error = [], None
    if bound:
        try:
            instances = instances_bound_to(region=keypair_request.region, keypair_id=keypair_request.keypair_id)
        except (BccError, ImproperlyConfigured):
            instances_error = INSTANCES_UNREAD
    context = {
        "kp": keypair_request,
        "lookup": lookup,
        "deletable": deletable,
        "instances": instances,
        "instances_error": instances_error,
        "error": error,
    }
    return render(request, "keypairs/delete.html", context, status=status)


@developer_required
@never_cache
@require_http_methods(["GET", "POST"])
def keypair_change(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    keypair_request = selectors.keypair_request_of(user=request.user, public_id=public_id)
    if request.method == "GET":
        initial = {"name": keypair_request.name, "description": keypair_request.description}
        return _render_change(request, keypair_request, KeyPairChangeForm(initial=initial))
    form = KeyPairChangeForm(request.POST)
    if not form.is_valid():
        return _render_change(request, keypair_request, form, status=400)
    try:
        result = services.keypair_change(
            user=request.user,
            keypair_request=keypair_request,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            origin=origin_of(request),
        )
    except services.ServiceError as failure:
        form.add_error(None, failure.message)
        return _render_change(request, keypair_request, form, status=failure.http_status)
    flash.success(request, result.message)
    return redirect("keypair_detail", public_id=public_id)


def _render_change(request, keypair_request, form, *, status: int = 200):
    context = {"kp": keypair_request, "form": form, "changeable": keypair_request.status == Status.CREATED}
    return render(request, "keypairs/change.html", context, status=status)
