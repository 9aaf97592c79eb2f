"""The access request pages: the approvers' queue, a request's page (decide, retry a bind), and "My access requests".

Approvers see every request and decide pending ones (approve, deny with a reason) on the
request's page, with CSRF-checked POSTs; each decision is one call to
``keypairs.services.access_decisions``. The requester sees their own requests read-only, with
status and decision; anyone else gets a 404, as if the request did not exist. Nobody decides
their own request: the page offers them no form, and the service refuses (and audits) a POST.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from keypairs import access_selectors
from keypairs.audit import origin_of
from keypairs.models import AccessRequest, InstanceBinding
from keypairs.services.access_decisions import (
    access_request_approve,
    access_request_deny,
    access_request_retry_bind,
    instances_never_bound,
)
from keypairs.services.errors import ServiceError
from portal.auth.decorators import approver_required, developer_required
from portal.auth.roles import may_approve_access

MAX_ROWS = 200


@require_GET
@never_cache
@approver_required
def access_request_queue(request: HttpRequest) -> HttpResponse:
    pending = list(access_selectors.pending_requests()[:MAX_ROWS])
    instances = access_selectors.instances_now(pending)
    rows = [(access_request, instances[access_request.pk]) for access_request in pending]
    return render(request, "access/queue.html", {"rows": rows, "max_rows": MAX_ROWS})


@require_GET
@never_cache
@developer_required
def my_access_requests(request: HttpRequest) -> HttpResponse:
    mine = list(access_selectors.requests_of(request.user)[:MAX_ROWS])
    return render(request, "access/mine.html", {"access_requests": mine, "max_rows": MAX_ROWS})


@require_GET
@never_cache
def access_request_detail(request: HttpRequest, public_id) -> HttpResponse:
    access_request = _visible(request, public_id)
    return _detail(request, access_request)


@require_POST
@approver_required
def access_request_approve_view(request: HttpRequest, public_id) -> HttpResponse:
    access_request = _visible(request, public_id)
    try:
        decision = access_request_approve(
            approver=request.user,
            access_request=access_request,
            reason=request.POST.get("reason", ""),
            origin=origin_of(request),
        )
    except ServiceError as error:
        return _detail(request, access_request, error=error)
    _say_bind(request, decision.bind, _("Approved."))
    return redirect("access_request_detail", public_id=public_id)


@require_POST
@approver_required
def access_request_deny_view(request: HttpRequest, public_id) -> HttpResponse:
    access_request = _visible(request, public_id)
    try:
        access_request_deny(
            approver=request.user,
            access_request=access_request,
            reason=request.POST.get("reason", ""),
            origin=origin_of(request),
        )
    except ServiceError as error:
        return _detail(request, access_request, error=error)
    messages.success(request, _("Denied. The requester is told, with your reason."))
    return redirect("access_request_detail", public_id=public_id)


@require_POST
@approver_required
def access_request_retry_bind_view(request: HttpRequest, public_id) -> HttpResponse:
    access_request = _visible(request, public_id)
    try:
        outcome = access_request_retry_bind(
            approver=request.user, access_request=access_request, origin=origin_of(request)
        )
    except ServiceError as error:
        return _detail(request, access_request, error=error)
    _say_bind(request, outcome, _("Bind tried again."))
    return redirect("access_request_detail", public_id=public_id)


def _visible(request: HttpRequest, public_id) -> AccessRequest:
    access_request = access_selectors.visible_request(
        request.user, public_id, approver=may_approve_access(request.user)
    )
    if access_request is None:
        raise Http404
    return access_request


def _detail(request: HttpRequest, access_request: AccessRequest, *, error: ServiceError | None = None) -> HttpResponse:
    access_request.refresh_from_db()
    approver = may_approve_access(request.user)
    own = access_request.requester_id == request.user.pk
    pending = access_request.status == AccessRequest.Status.PENDING
    approved = access_request.status == AccessRequest.Status.APPROVED
    context = {
        "access_request": access_request,
        "instances": access_selectors.instances_now([access_request])[access_request.pk] if approver else [],
        "bindings": InstanceBinding.objects.filter(access_request=access_request).order_by("instance_id"),
        "not_bound": instances_never_bound(access_request) if approved else [],
        "may_decide": approver and not own and pending,
        "may_retry": approver and not own and approved,
        "own": own,
        "error": error,
    }
    return render(request, "access/detail.html", context, status=error.http_status if error else 200)


def _say_bind(request: HttpRequest, outcome, done: str) -> None:
    if outcome is None:
        messages.success(request, done)
        return
    if outcome.bound:
        messages.success(request, _("{done} Bound to: {ids}.").format(done=done, ids=", ".join(outcome.bound)))
    if outcome.not_bound:
        text = _("Not bound: {ids}.").format(ids=", ".join(outcome.not_bound))
        messages.error(request, f"{text} {outcome.failure}".strip())
