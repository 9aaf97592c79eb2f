"""Groups of tests that may not skip: how CI proves it ran everything.

Tests that need something a machine may lack carry a marker (registered in pyproject.toml):

- ``browser``: Debian's Chromium, driven through Playwright;
- ``postgres``: a PostgreSQL server;
- ``redis``: a Redis server;
- ``load``: real gunicorn processes under a bounded load;
- ``two_instances``: two gunicorn instances sharing one PostgreSQL database;
- ``sdk``: Baidu's official Python SDK (requirements-bench.txt) against the sandbox;
- ``putty``: PuTTY's ``puttygen`` (Debian's putty-tools) reading the ``.ppk`` files the portal writes;
- ``gettext``: GNU gettext's ``xgettext`` (Debian's gettext), to check that the catalogues hold every
  string the sources mark.

Without the thing they need they skip, saying why, so that ``make test`` runs anywhere.
``REQUIRE_GROUPS=browser,postgres,...`` (``.ci/run`` sets it) changes that for the groups it
lists: a skipped test of a listed group is reported as a failure, and the run fails when a
listed group ran no test at all (deselected with ``-k``/``-m``, renamed, or lost), because a CI
run that quietly did not run them would prove nothing. A one-line summary at the end says how
many tests of each listed group ran. ``REQUIRE_BROWSER=1`` and ``REQUIRE_POSTGRES=1`` only add
their group to the skip rule.

Works under pytest-xdist: skips become failures in the worker that ran the test, and the
controller counts the reports every worker sends it.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

VARIABLE = "REQUIRE_GROUPS"
GROUPS = ("browser", "postgres", "redis", "load", "two_instances", "sdk", "putty", "gettext")
SINGLE_GROUP_VARIABLES = {"REQUIRE_BROWSER": "browser", "REQUIRE_POSTGRES": "postgres"}
# Marks a report whose skip was turned into a failure: the test did not run.
SKIPPED_PROPERTY = "required_group_skipped"


def listed_groups() -> set[str]:
    """The groups named by REQUIRE_GROUPS; a name that is not a group is a usage error."""
    names = {name.strip() for name in os.environ.get(VARIABLE, "").split(",") if name.strip()}
    unknown = names - set(GROUPS)
    if unknown:
        raise pytest.UsageError(
            f"{VARIABLE} names unknown groups ({', '.join(sorted(unknown))}); the groups are {', '.join(GROUPS)}"
        )
    return names


def groups_that_may_not_skip() -> set[str]:
    groups = listed_groups()
    groups.update(group for variable, group in SINGLE_GROUP_VARIABLES.items() if os.environ.get(variable) == "1")
    return groups


class RequiredGroups:
    """The pytest plugin; ``register`` installs it."""

    def __init__(self, config: pytest.Config) -> None:
        self.listed = listed_groups()
        self.may_not_skip = groups_that_may_not_skip()
        self.ran: Counter[str] = Counter()
        self.missing: list[str] = []
        self.in_worker = hasattr(config, "workerinput")
        self.collect_only = config.option.collectonly

    @classmethod
    def register(cls, config: pytest.Config) -> None:
        config.pluginmanager.register(cls(config), "required-groups")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        report = yield
        if report.skipped and not hasattr(report, "wasxfail"):
            groups = sorted(self.may_not_skip & {mark.name for mark in item.iter_markers()})
            if groups:
                report.outcome = "failed"
                report.user_properties.append((SKIPPED_PROPERTY, True))
                report.longrepr = (
                    f"{skip_reason(report)}\nThe {', '.join(groups)} tests may not skip in this run "
                    f"({VARIABLE}, REQUIRE_BROWSER or REQUIRE_POSTGRES): provide what they need."
                )
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        skipped = report.skipped or (SKIPPED_PROPERTY, True) in report.user_properties
        if report.when == "call" and not skipped:
            self.ran.update(group for group in GROUPS if group in report.keywords)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.in_worker or self.collect_only:
            return
        self.missing = sorted(group for group in self.listed if not self.ran[group])
        if self.missing and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.listed or self.in_worker or self.collect_only:
            return
        counts = ", ".join(f"{group} {self.ran[group]}" for group in sorted(self.listed))
        if self.missing:
            terminalreporter.write_line(
                f"REQUIRED GROUPS DID NOT RUN: {', '.join(self.missing)} (tests run per group: {counts})",
                red=True,
                bold=True,
            )
        else:
            terminalreporter.write_line(f"Required groups ran (tests per group): {counts}", green=True)


def skip_reason(report: pytest.TestReport) -> str:
    # A skip's longrepr is (path, line number, "Skipped: <reason>").
    longrepr = report.longrepr
    message = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return message.removeprefix("Skipped: ")
