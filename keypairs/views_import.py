"""Importing a public key: the form page, and the preview of what the server understood of a key.

Security: the pasted text may be a private key pasted by mistake. Both views are wrapped in
``sensitive_post_parameters`` (Django's error reports hide the fields), the form's checks run
under ``sensitive_variables``, nothing here logs the text, a refused private key is never
rendered back into the page, and the preview answers only with what ``public_key_inspect``
returns or with its fixed refusal sentence. The preview is a POST with CSRF (the text is in the
body, never in a URL), for developers only, and never cached.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from keypairs import limits, services
from keypairs.audit import origin_of
from keypairs.forms import KeyPairImportForm, read_public_key_upload
from keypairs.namesakes import unconfirmed_namesake
from keypairs.public_keys import InspectedPublicKey, PublicKeyRefused, public_key_inspect
from keypairs.result_notices import announce_result
from portal.auth.decorators import developer_required

KEY_FIELDS = ("public_key", "public_key_file")


@sensitive_post_parameters(*KEY_FIELDS)
@developer_required
@never_cache
@require_http_methods(["GET", "POST"])
def keypair_import(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render(request, KeyPairImportForm(initial={"form_token": _new_form_token()}))

    form = KeyPairImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, form, status=400)
    data = form.cleaned_data
    namesake = unconfirmed_namesake(user=request.user, data=data, posted=request.POST)
    if namesake is not None:
        return _render(request, form, namesake=namesake)
    try:
        result = services.keypair_import(
            user=request.user,
            form_token=data["form_token"],
            name=data["name"],
            description=data["description"],
            region=data["region"],
            public_key=data["inspected"],
            origin=origin_of(request),
        )
    except services.ServiceError as failure:
        form.add_error(None, failure.message)
        own = getattr(failure, "own_keypair", None)
        response = _render(request, form, status=failure.http_status, own_keypair=own)
        if failure.retry_after:
            response["Retry-After"] = str(failure.retry_after)
        return response
    announce_result(request, result.keypair_request)
    return redirect("keypair_detail", public_id=result.keypair_request.public_id)


@sensitive_post_parameters(*KEY_FIELDS)
@developer_required
@never_cache
@require_POST
def keypair_import_preview(request: HttpRequest) -> JsonResponse:
    """What the server understands of a key, as JSON: the page's live preview asks this as the person types."""
    upload = request.FILES.get("public_key_file")
    try:
        if upload is not None:
            inspected = public_key_inspect(read_public_key_upload(upload))
        else:
            inspected = public_key_inspect(request.POST.get("public_key", ""))
    except PublicKeyRefused as refusal:
        return JsonResponse({"ok": False, "code": refusal.code, "message": str(refusal.message)}, status=400)
    return JsonResponse({"ok": True, **_understood(inspected)})


def _render(
    request: HttpRequest, form: KeyPairImportForm, *, status: int = 200, own_keypair=None, namesake=None
) -> HttpResponse:
    understood = None
    if form.is_bound:
        form.data = form.data.copy()
        form.data["form_token"] = _new_form_token()
        if not form.public_key_may_be_shown_again():
            form.data["public_key"] = ""  # a private key, or text too large to tell, never comes back
        inspected = getattr(form, "cleaned_data", {}).get("inspected")
        understood = _understood(inspected) if inspected else None
        if namesake is not None and inspected:
            # A chosen .pub file does not survive the page: the key goes on in the text field,
            # so that "import anyway" sends the same key.
            form.data["public_key"] = inspected.openssh_line
    quotas = limits.region_quotas(settings.BCC_REGIONS)
    context = {
        "form": form,
        "quotas": quotas,
        "chosen_region": form["region"].value(),
        "understood": understood,
        "own_keypair": own_keypair,
        "namesake": namesake,
    }
    return render(request, "keypairs/import.html", context, status=status)


def _understood(inspected: InspectedPublicKey) -> dict[str, object]:
    return {
        "key_type": inspected.key_type,
        "bits": inspected.bits,
        "sha256_fingerprint": inspected.sha256_fingerprint,
        "comment": inspected.comment,
    }


def _new_form_token() -> str:
    return secrets.token_urlsafe(32)
