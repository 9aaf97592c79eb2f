"""The pages that change a key pair after its birth: delete it, rename it, change its description.

Like every key pair page: developers only, and another person's key pair is a 404 exactly like a
missing one (``selectors.keypair_request_of``). Every change is a POST with Django's CSRF check;
the GET pages only read (the delete confirmation asks BCC how many instances the key pair is
bound to, one detail call, never cached).
"""

from __future__ import annotations

import uuid

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from keypairs import selectors, services
from keypairs.audit import origin_of
from keypairs.bcc_state import keypair_in_bcc
from keypairs.forms_change import KeyPairChangeForm
from keypairs.models import KeyPairRequest
from portal.auth.decorators import developer_required

Status = KeyPairRequest.Status


@developer_required
@never_cache
@require_http_methods(["GET", "POST"])
def keypair_delete(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    keypair_request = selectors.keypair_request_of(user=request.user, public_id=public_id)
    if request.method == "GET":
        lookup = None
        if keypair_request.status == Status.CREATED and keypair_request.keypair_id:
            lookup = keypair_in_bcc(region=keypair_request.region, keypair_id=keypair_request.keypair_id)
        return _render_delete(request, keypair_request, lookup=lookup)
    try:
        result = services.keypair_delete(user=request.user, keypair_request=keypair_request, origin=origin_of(request))
    except services.ServiceError as failure:
        return _render_delete(request, keypair_request, error=failure.message, status=failure.http_status)
    flash.success(request, result.message)
    return redirect("keypair_detail", public_id=public_id)


def _render_delete(request, keypair_request, *, lookup=None, error: str | None = None, status: int = 200):
    context = {
        "kp": keypair_request,
        "lookup": lookup,
        "deletable": keypair_request.status == Status.CREATED and bool(keypair_request.keypair_id),
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
