"""The guided rotation page: replace a key pair on its instances with another of the owner's.

GET shows where the rotation stands, read from BCC now (``keypairs.services.rotation``): the
instances still holding the old key pair, those already holding the chosen new one, and the key
pairs the owner may choose. POST runs (or continues) the rotation. Developers only; another
person's key pair, old or new, is a 404 like a missing one.
"""

from __future__ import annotations

import uuid

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from keypairs import selectors
from keypairs.audit import origin_of
from keypairs.models import KeyPairRequest
from keypairs.services import rotation
from keypairs.services.errors import ServiceError
from portal.auth.decorators import developer_required

CHOOSE_NEW = _("Choose the key pair that replaces it.")
CONFIRM = _("Tick the box to confirm that the old key pair is replaced on these instances and then deleted.")
ROTATED = ngettext_lazy(
    "Key pair %(new)s now holds %(count)d instance in place of %(old)s, and %(old)s is deleted. Sign in to it "
    "with the new key pair's private key: BCC restarts a running instance for the new key to take effect, and a "
    "stopped one takes it at its next start.",
    "Key pair %(new)s now holds %(count)d instances in place of %(old)s, and %(old)s is deleted. Sign in to them "
    "with the new key pair's private key: BCC restarts a running instance for the new key to take effect, and a "
    "stopped one takes it at its next start.",
    "count",
)


@developer_required
@never_cache
@require_http_methods(["GET", "POST"])
def keypair_rotate(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    old = selectors.keypair_request_of(user=request.user, public_id=public_id)
    chosen = request.POST.get("new") if request.method == "POST" else request.GET.get("new")
    new = _chosen(request.user, chosen)
    if request.method == "GET":
        return _render(request, old, new)
    if new is None:
        return _render(request, old, None, error=str(CHOOSE_NEW), status=400)
    if request.POST.get("confirm") != "yes":
        return _render(request, old, new, error=str(CONFIRM), status=400)
    try:
        result = rotation.keypair_rotate(user=request.user, old=old, new=new, origin=origin_of(request))
    except ServiceError as failure:
        return _render(request, old, new, error=failure.message, status=failure.http_status)
    flash.success(request, ROTATED % {"new": new.name, "old": old.name, "count": len(result.bound)})
    return redirect("keypair_detail", public_id=new.public_id)


def _chosen(user, public_id: str | None) -> KeyPairRequest | None:
    try:
        return selectors.keypair_request_of(user=user, public_id=uuid.UUID(public_id)) if public_id else None
    except ValueError:
        return None


def _render(request, old: KeyPairRequest, new: KeyPairRequest | None, *, error: str | None = None, status: int = 200):
    state, unread = None, None
    if old.status == KeyPairRequest.Status.CREATED and old.keypair_id:
        try:
            state = rotation.rotation_state(old=old, new=new)
        except ServiceError as failure:
            unread = failure.message
    candidates = (
        KeyPairRequest.objects.filter(owner=request.user, region=old.region, status=KeyPairRequest.Status.CREATED)
        .exclude(keypair_id="")
        .exclude(pk=old.pk)
        .order_by("name")
    )
    context = {"kp": old, "new": new, "state": state, "candidates": candidates, "unread": unread, "error": error}
    return render(request, "keypairs/rotate.html", context, status=status)
