"""Access rules in the admin (keypairs/admin_access.py): portal admins add them, with a sentence
for each mistake; auditors read them; bindings and access requests are read only."""

from __future__ import annotations

import pytest

from keypairs.models import AccessRule
from portal.auth.roles import Role
from tests.auth_people import person
from tests.people import signed_in

ADD = "/admin/keypairs/accessrule/add/"
GOOD = {
    "name": "web servers",
    "sso_group": "team-web",
    "region": "bj",
    "tag_key": "team",
    "tag_value": "web",
    "name_prefix": "",
    "max_duration": "8:00:00",
    "enabled": "on",
}


@pytest.fixture
def pat(db):
    return signed_in(person("pat", Role.PORTAL_ADMIN))


def test_a_portal_admin_adds_a_rule(pat):
    response = pat.post(ADD, GOOD)

    assert response.status_code == 302
    rule = AccessRule.objects.get()
    assert (rule.name, rule.sso_group, rule.tag_key, rule.max_duration.total_seconds()) == (
        "web servers",
        "team-web",
        "team",
        8 * 3600,
    )


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        ({"tag_key": "", "tag_value": ""}, "Give a tag key or a name prefix"),
        ({"tag_key": ""}, "A tag value needs its tag key."),
        ({"region": "mars"}, "Select a valid choice"),
        ({"max_duration": "0:00:00"}, "The time limit must be at least one hour"),
        ({"max_duration": "-1 00:00:00"}, "The time limit must be at least one hour"),
    ],
    ids=["no selector", "value without key", "unknown region", "zero duration", "negative duration"],
)
def test_a_rule_that_would_be_wrong_is_refused_with_a_sentence(pat, change, sentence):
    response = pat.post(ADD, {**GOOD, **change})

    assert response.status_code == 200
    assert sentence in response.content.decode()
    assert not AccessRule.objects.exists()


def test_an_auditor_reads_the_rules_but_cannot_add_one(db):
    auditor = signed_in(person("audrey", Role.AUDITOR))
    AccessRule.objects.create(name="web", sso_group="team-web", region="bj", tag_key="team")

    assert auditor.get("/admin/keypairs/accessrule/").status_code == 200
    assert auditor.post(ADD, GOOD).status_code == 403
    assert AccessRule.objects.count() == 1
