"""The portal's pages. Each view parses its input, calls one service or selector, and renders.

Who may see what: every view requires a signed-in user (LoginRequiredMiddleware) except the
health check. A key pair request is visible only to its owner; anyone else gets a 404, as if
it did not exist.
"""

from __future__ import annotations

import logging
import secrets
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from keypairs import limits, selectors, services
from keypairs.audit import origin_of
from keypairs.delivery import (
    MESSAGE_NOT_HANDED_OUT,
    ClaimOutcome,
    DownloadNotHandedOut,
    delivery_claim,
    delivery_report,
)
from keypairs.download_form import KeyPairDownloadForm
from keypairs.forms import KeyPairCreateForm
from keypairs.list_filters import KeypairListFilterForm
from keypairs.namesakes import unconfirmed_namesake
from keypairs.result_notices import announce_result
from portal import health as health_checks
from portal.auth.decorators import developer_required
from portal.auth.views import is_approver_only, is_reviewer_only, landing_url

logger = logging.getLogger(__name__)

# The download token lives only in the owner's browser, in this cookie: HttpOnly (no script
# can read it), SameSite=Strict (no other site can make the browser send it), scoped to the
# key pair's own path, and gone when the download window closes. It is never in a URL, a
# page or the database, so neither logs nor a database copy can reveal the private key.
DOWNLOAD_COOKIE = "keypair_download"


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The portal's front page. Reviewers are sent on to the audit review instead of a refusal:
    "/" is what people type, and where the admin's "View site" link leads."""
    if is_reviewer_only(request.user) or is_approver_only(request.user):
        return redirect(landing_url(request.user))
    return _developer_home(request)


@developer_required
def _developer_home(request: HttpRequest) -> HttpResponse:
    recent = selectors.keypair_requests_of(user=request.user)[:5]
    return render(request, "keypairs/home.html", {"recent": recent})


@login_not_required
@never_cache
@require_safe  # GET, and HEAD for load balancers that only look at the status
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when the database and the cache answer, else 503 naming which
    did not. Says nothing about configuration; the reason goes to the log (portal/health.py)."""
    checks = {"database": health_checks.database_answers(), "cache": health_checks.cache_answers()}
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "unavailable"}
    body.update({name: "ok" if answered else "unreachable" for name, answered in checks.items()})
    return JsonResponse(body, status=200 if healthy else 503)


@developer_required
@require_http_methods(["GET", "POST"])
def keypair_create(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render_create(request, KeyPairCreateForm(initial={"form_token": _new_form_token()}))

    form = KeyPairCreateForm(request.POST)
    if not form.is_valid():
        return _render_create(request, form, status=400)
    data = form.cleaned_data
    namesake = unconfirmed_namesake(user=request.user, data=data, posted=request.POST)
    if namesake is not None:
        return _render_create(request, form, namesake=namesake)
    try:
        result = services.keypair_create(
            user=request.user,
            form_token=data["form_token"],
            browser_session=_browser_session(request),
            name=data["name"],
            description=data["description"],
            region=data["region"],
            origin=origin_of(request),
        )
    except services.ServiceError as failure:
        form.add_error(None, failure.message)
        response = _render_create(request, form, status=failure.http_status)
        if failure.retry_after:
            response["Retry-After"] = str(failure.retry_after)
        return response

    # A replayed form lands on the earlier attempt's page; while its key is (or may soon be)
    # waiting, the replay sets the download cookie again, in case the first response's never
    # reached the browser.
    announce_result(request, result.keypair_request)
    response = redirect("keypair_detail", public_id=result.keypair_request.public_id)
    if result.download_token:
        response.set_cookie(
            DOWNLOAD_COOKIE,
            result.download_token,
            max_age=settings.KEYPAIR_DOWNLOAD_TTL_SECONDS,
            path=_download_cookie_path(result.keypair_request.public_id),
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Strict",
        )
    return response


def _render_create(request: HttpRequest, form: KeyPairCreateForm, *, status: int = 200, namesake=None) -> HttpResponse:
    if form.is_bound:
        # A fresh one-time token for the next attempt; the user's own input stays as typed.
        form.data = form.data.copy()
        form.data["form_token"] = _new_form_token()
    # What is left of the quota everyone shares, per offered region: the page shows the chosen one's.
    quotas = limits.region_quotas(settings.BCC_REGIONS)
    context = {"form": form, "quotas": quotas, "chosen_region": form["region"].value(), "namesake": namesake}
    return render(request, "keypairs/create.html", context, status=status)


@developer_required
@never_cache
@require_GET
def keypair_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    keypair_request = selectors.keypair_request_of(user=request.user, public_id=public_id)
    # Before the context is read: a key pair changed or deleted in BCC updates the record.
    bcc, bcc_comparison = services.keypair_record_sync(record=keypair_request, origin=origin_of(request))
    delivery = getattr(keypair_request, "delivery", None)
    context = {
        "kp": keypair_request,
        "bcc": bcc,
        "bcc_comparison": bcc_comparison,
        "delivery": delivery,
        "delivery_state": delivery.state if delivery else None,
        "has_download_cookie": bool(request.COOKIES.get(DOWNLOAD_COOKIE)),
        "key_file": _key_file_name(keypair_request.name),
    }
    return render(request, "keypairs/detail.html", context)


@developer_required
@require_POST
def keypair_download(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The one download, as ``.pem`` or ``.ppk`` (the form's ``format``). The format is checked
    before the claim, and the claim itself converts (``delivery_claim``), so neither a bad
    format nor a failed conversion spends the download."""
    form = KeyPairDownloadForm(request.POST)
    if not form.is_valid():
        context = {"message": form.errors["format"][0], "public_id": public_id}
        return render(request, "keypairs/download_refused.html", context, status=400)
    key_format = form.cleaned_data["format"]
    try:
        result = delivery_claim(
            delivery_public_id=public_id,
            user=request.user,
            token=request.COOKIES.get(DOWNLOAD_COOKIE),
            origin=origin_of(request),
            key_format=key_format,
        )
    except DownloadNotHandedOut:
        # The claim and its "downloaded" row commit together, so their failure left the key
        # in place: say so, rather than a 500 that reads like a lost key.
        logger.exception(
            "A download of key pair request %s failed in the database; the key was not handed out", public_id
        )
        context = {"message": MESSAGE_NOT_HANDED_OUT, "public_id": public_id}
        return render(request, "keypairs/download_refused.html", context, status=503)
    if not result.ok:
        if result.outcome is ClaimOutcome.NOT_CONVERTED:
            logger.warning("Key pair request %s: the private key could not be converted to %s", public_id, key_format)
        context = {"message": result.message, "public_id": public_id if result.delivery else None}
        return render(request, "keypairs/download_refused.html", context, status=result.http_status)

    response = HttpResponse(result.key_file, content_type=key_format.content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=_key_file_name(result.delivery.request.name, extension=key_format.extension)
    )
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    response.delete_cookie(DOWNLOAD_COOKIE, path=_download_cookie_path(public_id), samesite="Strict")
    return response


@developer_required
@require_POST
def keypair_report(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """ "I did not download this": the button's POST shows what will be reported and asks; only
    the confirming POST (``confirm=yes``) reports. Another user's key pair is a 404 either way."""
    if request.POST.get("confirm") != "yes":
        keypair_request = selectors.keypair_request_of(user=request.user, public_id=public_id)
        context = {"kp": keypair_request, "delivery": getattr(keypair_request, "delivery", None)}
        return render(request, "keypairs/report_confirm.html", context)
    delivery = delivery_report(delivery_public_id=public_id, user=request.user, origin=origin_of(request))
    if delivery is None:
        context = {"message": _("There is no such key pair.")}
        return render(request, "keypairs/download_refused.html", context, status=404)
    return redirect("keypair_detail", public_id=public_id)


@developer_required
@never_cache
@require_GET
def keypair_list(request: HttpRequest) -> HttpResponse:
    """The person's key pairs as BCC holds them: one list walk per region at most (cached), then one page."""
    form = KeypairListFilterForm(request.GET or None)
    # Before the page is read, so that a key pair found deleted or renamed in BCC is filtered as it is now.
    live = selectors.keypairs_live_in_bcc_of(user=request.user)
    sync = services.keypair_records_sync(records=live, origin=origin_of(request))
    page = selectors.keypair_list_page(user=request.user, filters=form.filters(), page_number=request.GET.get("page"))
    rows = [(record, sync.comparisons.get(record.pk)) for record in page]
    context = {"form": form, "page": page, "rows": rows, "unreachable": sync.unreachable, "filtered": form.filters()}
    return render(request, "keypairs/list.html", context)


def _browser_session(request: HttpRequest) -> str:
    """The session key of the submitting browser, which the download token is bound to.

    A signed-in browser always has one; saving makes one should a sign-in mode ever not.
    """
    if request.session.session_key is None:
        request.session.save()
    return request.session.session_key


def _new_form_token() -> str:
    return secrets.token_urlsafe(32)


def _download_cookie_path(public_id: uuid.UUID) -> str:
    return reverse("keypair_detail", kwargs={"public_id": public_id})


def _key_file_name(name: str, *, extension: str = ".pem") -> str:
    # "/" is allowed in BCC names but not in file names.
    return name.replace("/", "_") + extension
