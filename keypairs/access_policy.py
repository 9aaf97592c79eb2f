"""Who may bind their key pair to which instance: the access rules, read. Default deny.

A person's groups are the union of their SSO identities' groups (``Identity.groups``, the groups
claim at their last sign-in or assertion) and their Django groups' names (local accounts and
development). A rule applies to a person when it is enabled, names one of their groups and the
key pair's region. It selects an instance by tag (``tag_key``, and ``tag_value`` when given) or by
a name prefix; an instance no applicable rule selects cannot be chosen, and the page says which
rule would be needed.

Where several rules select an instance, the least restrictive one allows it: one without
approval beats one with, then the longest ``max_duration`` (none: no limit) wins; ties go to
the rule's name, so the choice is stable.

The bind page reads this to show what may be chosen, and the service that binds
(``keypairs.services.bind_under_rules``) reads it again on the POST against BCC's state of that
moment: what the form says is never trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from keypairs.bcc.models import BINDABLE_STATUSES, Instance
from keypairs.models import AccessRule

NO_RULE = _("No access rule lets your groups ({groups}) bind to instances in {region} {described}: ask a portal admin.")
NOT_LINUX = _("BCC binds key pairs to Linux instances only.")
NOT_BINDABLE_STATUS = _("BCC binds key pairs only to running or stopped instances; this one is {status}.")
NOT_FOUND = _("BCC has no such instance in {region} (it may have been released).")


def groups_of(user) -> frozenset[str]:
    """The groups access rules may name for ``user``: their identities' SSO groups and Django groups."""
    groups: set[str] = set()
    for identity_groups in user.identities.values_list("groups", flat=True):
        groups.update(group for group in identity_groups or () if isinstance(group, str))
    groups.update(user.groups.values_list("name", flat=True))
    return frozenset(groups)


def rules_for(*, groups: Iterable[str], region: str) -> list[AccessRule]:
    """The enabled rules of ``region`` that name one of ``groups``."""
    return list(AccessRule.objects.filter(enabled=True, region=region, sso_group__in=list(groups)))


def selects(rule: AccessRule, instance: Instance) -> bool:
    """Whether ``rule`` selects ``instance``: its tag (key, and value when the rule gives one), or its name prefix."""
    if rule.tag_key:
        wanted = rule.tag_value
        return any(key == rule.tag_key and (not wanted or value == wanted) for key, value in instance.tags)
    return bool(rule.name_prefix) and instance.name.startswith(rule.name_prefix)


def least_restrictive(rules: Iterable[AccessRule]) -> AccessRule | None:
    """The rule that allows the most: no approval first, then the longest time limit (none is longest)."""
    longest = timedelta.max

    def openness(rule: AccessRule):
        return (rule.requires_approval, -(rule.max_duration or longest).total_seconds(), rule.name)

    return min(rules, key=openness, default=None)


@dataclass(frozen=True)
class Choice:
    """One instance as the bind page offers it: the rule that allows it, or why it cannot be chosen."""

    instance: Instance
    rule: AccessRule | None
    # Why no rule allows it (the rule that would be needed); "" when a rule does.
    refusal: str = ""
    # Why BCC would not bind it now (Windows, starting); "" when it would.
    unavailable: str = ""

    @property
    def allowed(self) -> bool:
        return self.rule is not None

    @property
    def selectable(self) -> bool:
        return self.rule is not None and not self.unavailable


def choices_for(*, groups: Iterable[str], region: str, instances: Sequence[Instance]) -> list[Choice]:
    """Each of ``instances`` (one region's) against the rules of ``groups``: see ``Choice``."""
    groups = frozenset(groups)
    rules = rules_for(groups=groups, region=region)
    return [choice_for(instance, groups=groups, region=region, rules=rules) for instance in instances]


def choice_for(instance: Instance, *, groups: frozenset[str], region: str, rules: Sequence[AccessRule]) -> Choice:
    rule = least_restrictive(rule for rule in rules if selects(rule, instance))
    if rule is None:
        return Choice(instance, None, refusal=no_rule_sentence(groups=groups, region=region, instance=instance))
    return Choice(instance, rule, unavailable=unavailable_sentence(instance))


def unavailable_sentence(instance: Instance) -> str:
    """Why BCC would refuse to bind ``instance`` now; "" when it would bind it."""
    if instance.is_windows:
        return str(NOT_LINUX)
    if instance.status not in BINDABLE_STATUSES:
        return NOT_BINDABLE_STATUS.format(status=instance.status or gettext("in an unknown state"))
    return ""


def no_rule_sentence(*, groups: Iterable[str], region: str, instance: Instance) -> str:
    """The rule a person would need: "... bind to instances in bj tagged team=web: ask a portal admin"."""
    if instance.tags:
        described = gettext("tagged {tags}").format(tags=", ".join(f"{k}={v}" if v else k for k, v in instance.tags))
    else:
        described = gettext("named {name}").format(name=instance.name or instance.instance_id)
    names = ", ".join(sorted(groups)) or gettext("none")
    return NO_RULE.format(groups=names, region=region, described=described)
