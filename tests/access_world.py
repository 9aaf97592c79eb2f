"""Access requests made for the approval and time limit tests, straight in the database.

Making them is another part's service (``access_request_create``); these tests start where it
ends: a pending request with its instances, rule, reason and decide-by time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keypairs.bcc.factory import get_client
from keypairs.models import AccessRequest, AccessRule, AuditEvent
from portal.auth.roles import Role
from tests.auth_people import person

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def approver(username: str = "carol", *roles: Role):
    user = person(username, Role.APPROVER, *roles)
    user.email = f"{username}@example.com"
    user.save()
    return user


def rule() -> AccessRule:
    return AccessRule.objects.get_or_create(
        name="web servers",
        defaults={"sso_group": "web", "region": "bj", "tag_key": "team", "tag_value": "web", "requires_approval": True},
    )[0]


def pending_request(
    requester,
    keypair_request,
    instance_ids: list[str],
    *,
    duration: timedelta | None = None,
    created_at: datetime = NOW,
    decide_within: timedelta = timedelta(hours=72),
) -> AccessRequest:
    return AccessRequest.objects.create(
        requester=requester,
        keypair_request=keypair_request,
        rule=rule(),
        region=keypair_request.region,
        instance_ids=instance_ids,
        duration=duration,
        reason="deploying the release",
        status=AccessRequest.Status.PENDING,
        created_at=created_at,
        decide_by=created_at + decide_within,
    )


def held_by(instance_id: str, region: str = "bj") -> str:
    return get_client(region).get_instance(instance_id).keypair_id or ""


def audited(*actions: str) -> list[tuple[str, str, str, str]]:
    rows = AuditEvent.objects.order_by("id")
    if actions:
        rows = rows.filter(action__in=actions)
    return list(rows.values_list("action", "outcome", "actor_username", "detail"))
