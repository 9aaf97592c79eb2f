"""Access requests, the requester's side: ask for a binding under a rule that requires approval,
or withdraw the request. Approving, denying and binding on approval live elsewhere (the
approver's side).

A request names the key pair, the rule, the instances and the time asked for, and a reason the
approvers read. It is audited ``access_requested`` and mailed to every approver: an active person
holding ``keypairs.approve_accessrequest`` with an email address. A mail no approver received is
audited ``mail_failed``: the request still waits on the approvers' page, and someone is told.
Asking again for the same thing while a request is pending (a double submit) answers with that
request: nothing new is stored or mailed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from keypairs.audit import Origin, audit_record
from keypairs.mail import send_portal_mail
from keypairs.models import AccessRequest, AccessRule, AuditEvent, KeyPairRequest
from keypairs.services._auditor import auditor_for
from keypairs.services.errors import ServiceRefused
from portal.auth.roles import may_approve_access

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Status = AccessRequest.Status

APPROVE_PERMISSION = "keypairs.approve_accessrequest"
REQUESTED_MAIL = "access_requested"
REASON_REQUIRED = _("Say why you need this access: the approvers read it.")
NOT_APPROVAL_RULE = _("This rule does not require approval: bind the key pair directly.")
NOT_PENDING = _("This request is no longer waiting for a decision, so it cannot be withdrawn.")
NOT_YOURS = _("Only the person who asked can withdraw this request.")


def access_request_create(
    *,
    requester,
    keypair_request: KeyPairRequest,
    rule: AccessRule,
    instance_ids: Sequence[str],
    duration: timedelta | None,
    reason: str,
    origin: Origin,
) -> AccessRequest:
    """A pending request to bind ``keypair_request`` to ``instance_ids`` under ``rule``; approvers are mailed.

    The caller (``keypairs.services.bind_under_rules``) has checked that ``rule`` applies to the
    requester and selects the instances, and that ``duration`` is within the rule's limit.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise ServiceRefused(str(REASON_REQUIRED), http_status=400, code="reason_required")
    if not rule.requires_approval:
        raise ServiceRefused(str(NOT_APPROVAL_RULE), http_status=400, code="no_approval_needed")
    ids = sorted(set(instance_ids))
    pending = AccessRequest.objects.filter(
        requester=requester, keypair_request=keypair_request, rule=rule, status=Status.PENDING
    )
    for earlier in pending:
        if sorted(earlier.instance_ids) == ids and earlier.duration == duration:
            return earlier
    now = timezone.now()
    access_request = AccessRequest.objects.create(
        requester=requester,
        keypair_request=keypair_request,
        rule=rule,
        region=keypair_request.region,
        instance_ids=ids,
        duration=duration,
        reason=reason[:500],
        created_at=now,
        decide_by=now + timedelta(hours=settings.ACCESS_REQUEST_DECIDE_WITHIN_HOURS),
    )
    audit = auditor_for(user=requester, origin=origin, keypair_request=keypair_request)
    audit(action=Action.ACCESS_REQUESTED, outcome=Outcome.SUCCESS, detail=_detail(access_request))
    _mail_the_approvers(access_request, origin=origin)
    return access_request


def access_request_withdraw(*, requester, access_request: AccessRequest, origin: Origin) -> AccessRequest:
    """The requester takes back a request still pending (audited as ``access_requested``, "withdrawn")."""
    if access_request.requester_id != requester.pk:
        raise ServiceRefused(str(NOT_YOURS), http_status=403, code="not_yours")
    changed = AccessRequest.objects.filter(pk=access_request.pk, status=Status.PENDING).update(
        status=Status.WITHDRAWN, decided_at=timezone.now()
    )
    if not changed:
        raise ServiceRefused(str(NOT_PENDING), http_status=409, code="not_pending")
    access_request.refresh_from_db()
    audit = auditor_for(user=requester, origin=origin, keypair_request=access_request.keypair_request)
    audit(
        action=Action.ACCESS_WITHDRAWN,
        outcome=Outcome.SUCCESS,
        detail=f"withdrawn by the requester: request {access_request.public_id}",
    )
    return access_request


def approver_addresses(*, except_person=None) -> list[str]:
    """Every active approver's address: the people ``portal.auth.roles.may_approve_access`` lets decide.

    Holders of the approve permission through a group or directly; a superuser only with the
    approver role, as ``may_approve_access`` says. ``except_person`` (the requester) is left out:
    nobody decides their own request, so a mail asking them to would mislead.
    """
    app_label, codename = APPROVE_PERMISSION.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    if permission is None:
        return []
    people = (
        get_user_model()
        .objects.filter(Q(groups__permissions=permission) | Q(user_permissions=permission), is_active=True)
        .exclude(email="")
    )
    if except_person is not None:
        people = people.exclude(pk=except_person.pk)
    return sorted({person.email for person in people.distinct() if may_approve_access(person)})


def _detail(access_request: AccessRequest) -> str:
    duration = f", for {access_request.duration}" if access_request.duration else ""
    rule = access_request.rule.name if access_request.rule else ""
    return (
        f"request {access_request.public_id} under rule {rule}: instances {', '.join(access_request.instance_ids)}"
        f"{duration}"
    )


def _mail_the_approvers(access_request: AccessRequest, *, origin: Origin) -> None:
    keypair_request = access_request.keypair_request
    context = {
        "access_request": access_request,
        "requester": access_request.requester.get_username(),
        "keypair": keypair_request,
        "rule": access_request.rule,
        "review_path": reverse("access_request_detail", kwargs={"public_id": access_request.public_id}),
    }
    addresses = approver_addresses(except_person=access_request.requester)
    if not send_portal_mail(to=addresses, template=REQUESTED_MAIL, context=context):
        audit_record(
            action=Action.MAIL_FAILED,
            outcome=Outcome.FAILURE,
            origin=origin,
            region=keypair_request.region,
            keypair_name=keypair_request.name,
            keypair_id=keypair_request.keypair_id,
            detail=f"access request {access_request.public_id}: no approver could be mailed",
        )
