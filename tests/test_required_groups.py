"""REQUIRE_GROUPS, as CI uses it: a skipped test of a listed group fails the run, and so does a
listed group that ran nothing; unlisted groups still skip quietly.

Each case runs pytest in a subprocess on a small project of its own, with the plugin the
suite's conftest installs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CONFTEST = """
from tests.required_groups import RequiredGroups

def pytest_configure(config):
    RequiredGroups.register(config)
"""
PYTEST_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
markers =
    browser: b
    postgres: p
    redis: r
    load: l
    two_instances: t
"""
TESTS = """
import pytest

@pytest.mark.redis
def test_needs_redis():
    pytest.skip("Redis is unreachable")

@pytest.mark.load
def test_runs_under_load():
    pass
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_groups.py").write_text(TESTS)
    return tmp_path


def run_pytest(project: Path, **variables: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REQUIRE_")}
    # No django, xdist or hypothesis plugins: the little project needs none, and starts faster.
    environment.update(variables, PYTHONPATH=str(ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", str(project)],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_requirements_a_skip_is_only_a_skip(project):
    result = run_pytest(project)

    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout
    assert "Required groups" not in result.stdout


def test_a_skipped_test_of_a_listed_group_fails_and_says_why(project):
    result = run_pytest(project, REQUIRE_GROUPS="redis,load")

    assert result.returncode == 1
    assert "1 failed, 1 passed" in result.stdout
    assert "Redis is unreachable" in result.stdout
    assert "The redis tests may not skip in this run" in result.stdout
    assert "REQUIRED GROUPS DID NOT RUN: redis (tests run per group: load 1, redis 0)" in result.stdout


def test_a_listed_group_that_ran_no_test_fails_the_run(project):
    result = run_pytest(project, REQUIRE_GROUPS="load,two_instances")

    assert result.returncode == 1
    assert "1 passed, 1 skipped" in result.stdout
    assert "REQUIRED GROUPS DID NOT RUN: two_instances" in result.stdout


def test_the_run_passes_and_counts_each_group_when_every_listed_group_ran(project):
    result = run_pytest(project, REQUIRE_GROUPS="load")

    assert result.returncode == 0, result.stdout
    assert "Required groups ran (tests per group): load 1" in result.stdout


def test_require_postgres_turns_skips_into_failures_without_requiring_the_group_to_run(project):
    result = run_pytest(project, REQUIRE_POSTGRES="1")

    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout


def test_an_unknown_group_is_a_usage_error(project):
    result = run_pytest(project, REQUIRE_GROUPS="load,laod")

    assert result.returncode == 4
    assert "REQUIRE_GROUPS names unknown groups (laod)" in result.stderr
