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
from keypairs.bcc_instances import status_label
from keypairs.models import AccessRule

# Whole sentences, one per way of selecting an instance: Chinese puts "tagged ..." before the noun.
NO_RULE_TAGGED = _(
    "No access rule lets your groups ({groups}) bind to instances in {region} tagged {tags}: ask a portal admin."
)
NO_RULE_NAMED = _(
    "No access rule lets your groups ({groups}) bind to instances in {region} named {name}: ask a portal admin."
)
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
    return min(rules, key=_openness, default=None)


def _openness(rule: AccessRule):
    return (rule.requires_approval, -(rule.max_duration or timedelta.max).total_seconds(), rule.name)


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


class RuleBook:
    """A person's rules of one region, read once and indexed, so that judging an instance is cheap.

    The bind page judges every instance of a region (thousands): rather than asking each rule of
    each instance, a tag rule is found by a dict lookup of the instance's tags, name prefix rules
    (few) are tried in turn, and the least restrictive of those found wins (``least_restrictive``'s
    order, ranked once). The "no rule" sentence of instances with the same tags is made once.
    """

    def __init__(self, *, groups: Iterable[str], region: str, rules: Sequence[AccessRule]) -> None:
        self.groups = frozenset(groups)
        self.region = region
        ranked = sorted(rules, key=_openness)
        self._rank = {id(rule): rank for rank, rule in enumerate(ranked)}
        self._by_tag: dict[tuple[str, str], list[AccessRule]] = {}
        self._by_prefix: list[AccessRule] = []
        for rule in ranked:
            if rule.tag_key:
                self._by_tag.setdefault((rule.tag_key, rule.tag_value or ""), []).append(rule)
            elif rule.name_prefix:
                self._by_prefix.append(rule)
        self._refusals: dict[tuple, str] = {}
        # Without prefix rules the verdict depends on the tags alone: instances sharing them share it.
        self._by_tags: dict[tuple, AccessRule | None] | None = None if self._by_prefix else {}

    def rule_for(self, instance: Instance) -> AccessRule | None:
        """What ``least_restrictive`` of the rules that ``select`` the instance gives, by lookup."""
        if self._by_tags is None:
            return self._judge(instance)
        if instance.tags not in self._by_tags:
            self._by_tags[instance.tags] = self._judge(instance)
        return self._by_tags[instance.tags]

    def _judge(self, instance: Instance) -> AccessRule | None:
        found = [rule for rule in self._by_prefix if instance.name.startswith(rule.name_prefix)]
        for key, value in instance.tags:
            found += self._by_tag.get((key, ""), ())
            if value:
                found += self._by_tag.get((key, value), ())
        return min(found, key=lambda rule: self._rank[id(rule)], default=None)

    def choice(self, instance: Instance) -> Choice:
        rule = self.rule_for(instance)
        if rule is None:
            return Choice(instance, None, refusal=self._refusal(instance))
        return Choice(instance, rule, unavailable=unavailable_sentence(instance))

    def _refusal(self, instance: Instance) -> str:
        if not instance.tags:  # the sentence names the instance: nothing to share
            return no_rule_sentence(groups=self.groups, region=self.region, instance=instance)
        sentence = self._refusals.get(instance.tags)
        if sentence is None:
            sentence = no_rule_sentence(groups=self.groups, region=self.region, instance=instance)
            self._refusals[instance.tags] = sentence
        return sentence


def choices_for(*, groups: Iterable[str], region: str, instances: Sequence[Instance]) -> list[Choice]:
    """Each of ``instances`` (one region's) against the rules of ``groups``: see ``Choice``."""
    groups = frozenset(groups)
    book = RuleBook(groups=groups, region=region, rules=rules_for(groups=groups, region=region))
    return [book.choice(instance) for instance in instances]


def choice_for(instance: Instance, *, groups: frozenset[str], region: str, rules: Sequence[AccessRule]) -> Choice:
    """One instance against ``rules`` (the POST's check, on BCC's state of that moment)."""
    return RuleBook(groups=groups, region=region, rules=rules).choice(instance)


def unavailable_sentence(instance: Instance) -> str:
    """Why BCC would refuse to bind ``instance`` now; "" when it would bind it."""
    if instance.is_windows:
        return str(NOT_LINUX)
    if instance.status not in BINDABLE_STATUSES:
        return NOT_BINDABLE_STATUS.format(status=status_label(instance.status) or gettext("in an unknown state"))
    return ""


def no_rule_sentence(*, groups: Iterable[str], region: str, instance: Instance) -> str:
    """The rule a person would need: "... bind to instances in bj tagged team=web: ask a portal admin"."""
    names = ", ".join(sorted(groups)) or gettext("none")
    if instance.tags:
        tags = ", ".join(f"{k}={v}" if v else k for k, v in instance.tags)
        return NO_RULE_TAGGED.format(groups=names, region=region, tags=tags)
    return NO_RULE_NAMED.format(groups=names, region=region, name=instance.name or instance.instance_id)
