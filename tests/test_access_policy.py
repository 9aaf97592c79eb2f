"""The access policy (keypairs/access_policy.py): which rule allows an instance, default deny."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keypairs import access_policy
from keypairs.bcc.models import Instance
from keypairs.models import AccessRule
from portal.auth.models import Identity

WEB = Instance("i-web1", name="web-1", status="Running", os_name="Ubuntu", tags=(("team", "web"),))


def rule(name, **fields) -> AccessRule:
    return AccessRule.objects.create(name=name, sso_group=fields.pop("group", "team-web"), region="bj", **fields)


@pytest.mark.django_db
def test_the_least_restrictive_rule_allows_an_instance():
    rule("approval, no limit", tag_key="team", requires_approval=True)
    rule("8 hours", tag_key="team", tag_value="web", max_duration=timedelta(hours=8))
    rule("3 days", name_prefix="web-", max_duration=timedelta(days=3))

    [choice] = access_policy.choices_for(groups={"team-web"}, region="bj", instances=[WEB])

    assert choice.rule.name == "3 days" and choice.selectable


@pytest.mark.django_db
def test_no_rule_names_the_rule_that_would_be_needed():
    rule("db", tag_key="team", tag_value="db")
    rule("someone else's", group="team-ops", tag_key="team")

    [choice] = access_policy.choices_for(groups={"team-web", "developers"}, region="bj", instances=[WEB])

    assert not choice.allowed and not choice.selectable
    assert choice.refusal == (
        "No access rule lets your groups (developers, team-web) bind to instances in bj tagged team=web: "
        "ask a portal admin."
    )


def test_a_tag_rule_with_a_value_needs_that_value_and_a_prefix_rule_the_name():
    assert access_policy.selects(AccessRule(tag_key="team"), WEB)
    assert not access_policy.selects(AccessRule(tag_key="team", tag_value="db"), WEB)
    assert access_policy.selects(AccessRule(name_prefix="web-"), WEB)
    assert not access_policy.selects(AccessRule(name_prefix="db-"), WEB)


@pytest.mark.django_db
def test_a_persons_groups_are_their_identities_groups_and_their_django_groups(alice):
    Identity.objects.create(issuer="https://a", subject="1", user=alice, groups=["team-web"])
    Identity.objects.create(issuer="https://b", subject="1", user=alice, groups=["team-db"])

    assert access_policy.groups_of(alice) == {"team-web", "team-db", "developers"}
