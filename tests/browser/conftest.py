"""Fixtures for the browser tests: the portal on a live server, driven by Debian's Chromium.

Playwright drives the system's Chromium at /usr/bin/chromium, never a browser of its own
(Playwright's download needs a network this project's machines do not have).

Skip policy. Without Chromium (or without Playwright) the browser tests skip, saying why
and how to fix it, so that `make test` still runs everywhere. With ``REQUIRE_BROWSER=1``
(CI sets it) they fail instead: a CI run that silently skipped them would prove nothing.
At the end of the run a one-line banner says which of the two happened.

Playwright's sync API and Django in one thread. Playwright runs an asyncio loop in a
greenlet of the main thread and, after each call, leaves it registered as the thread's
running loop. Code that asks "am I inside async code?" then answers yes: Django's ORM raises
SynchronousOnlyOperation, ``asyncio.run()`` and ``async_to_sync`` refuse to start. Inside a
browser test that is expected and handled (see ``browser_context``); between browser tests
the registration is hidden, so that it cannot leak into the tests that never use a browser.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_MISSING = (
    f"Chromium not found at {CHROMIUM_PATH}: install it with `apt-get install chromium` to run the browser tests"
)
PLAYWRIGHT_MISSING = (
    "Playwright is not installed: install requirements-dev.txt (`make test` does) to run the browser tests"
)
REQUIRE_BROWSER_VARIABLE = "REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in containers, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium waits on update and sync servers it cannot reach on a closed
    # network, and hangs.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Long enough for a slow shared machine, short enough that a broken page fails fast.
DEFAULT_TIMEOUT_MS = 10_000
# The name under which each browser test's report carries the Chromium version to the summary.
CHROMIUM_VERSION_PROPERTY = "chromium_version"
FAVICON = "/favicon.ico"
LOAD_FAILURE_PREFIX = "Failed to load resource:"


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM_PATH.exists():
        return CHROMIUM_MISSING
    if importlib.util.find_spec("playwright") is None:
        return PLAYWRIGHT_MISSING
    return None


def browser_required() -> bool:
    return os.environ.get(REQUIRE_BROWSER_VARIABLE) == "1"


# --- The event loop Playwright leaves registered in the main thread ------------------------


class _PlaywrightLoopRegistration:
    """Hides Playwright's event loop from the main thread between browser tests, and brings it back."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def hide(self) -> None:
        self._loop = asyncio._get_running_loop()
        asyncio._set_running_loop(None)

    def restore(self) -> None:
        # Playwright's dispatcher resumes inside its loop and expects to find it registered.
        asyncio._set_running_loop(self._loop)


_playwright_loop = _PlaywrightLoopRegistration()


# --- Fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, launched once per run; skips or fails when it is missing."""
    reason = browser_unavailable_reason()
    if reason is not None:
        if browser_required():
            pytest.fail(
                f"{reason} ({REQUIRE_BROWSER_VARIABLE}=1 is set: the browser tests may not skip)", pytrace=False
            )
        pytest.skip(reason)

    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do (Playwright's expect has its own 5 s default, which a
    # loaded CI machine exceeded while a debounced preview request was answered).
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM_PATH), headless=True, args=CHROMIUM_ARGS)
        _playwright_loop.hide()
        try:
            yield chromium
        finally:
            _playwright_loop.restore()
            chromium.close()


@dataclass(frozen=True)
class DocumentResponse:
    url: str
    status: int
    content_security_policy: str | None


@dataclass
class BrowserLog:
    """What the browser reported while a test ran, in every tab of its context.

    ``console_errors``: console messages of type error (Chromium reports CSP violations
    there); ``page_errors``: uncaught script exceptions; ``failed_subresources``: scripts,
    stylesheets and the like that did not load (non-document requests that failed or got a
    4xx/5xx); ``documents``: every page response, with its Content-Security-Policy header.
    """

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_subresources: list[str] = field(default_factory=list)
    documents: list[DocumentResponse] = field(default_factory=list)

    def watch(self, context) -> None:
        context.on("console", self._on_console)
        context.on("weberror", lambda web_error: self.page_errors.append(str(web_error.error)))
        context.on("response", self._on_response)
        context.on("requestfailed", self._on_request_failed)

    @property
    def csp_violations(self) -> list[str]:
        return [message for message in self.console_errors if "Content Security Policy" in message]

    def _on_console(self, message) -> None:
        # Chromium also logs every 4xx/5xx response as an error. Pages answer 400 or 410 on
        # purpose (the tests check their statuses), and subresources are watched below.
        if message.type == "error" and not message.text.startswith(LOAD_FAILURE_PREFIX):
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _on_response(self, response) -> None:
        if response.request.resource_type == "document":
            headers = response.headers  # lower-case names
            self.documents.append(
                DocumentResponse(response.url, response.status, headers.get("content-security-policy"))
            )
        # Chromium asks every site for /favicon.ico; the portal has none. Not a page breakage.
        elif response.status >= 400 and not response.url.endswith(FAVICON):
            self.failed_subresources.append(f"{response.status} {response.url}")

    def _on_request_failed(self, request) -> None:
        # A document request "fails" when it turns into a download; that is not a breakage.
        if request.resource_type != "document":
            self.failed_subresources.append(f"{request.failure} {request.url}")


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def browser_context_options() -> dict:
    """More options of ``browser.new_context``; a test module overrides this fixture for, say,
    ``{"locale": "zh-CN"}`` (Chromium then sends Accept-Language: zh-CN)."""
    return {}


@pytest.fixture
def browser_context(browser, live_server, browser_log, monkeypatch, request, browser_context_options):
    """A fresh browser profile (no cookies) pointed at the live server, accepting downloads.

    Relative URLs in ``page.goto`` resolve against the live server. The context is closed,
    and Playwright's loop hidden again, when the test ends.
    """
    # Plain synchronous ORM calls in this thread (test data, pytest-django's flush) would
    # trip Django's async guard on Playwright's loop registration; this is the switch Django
    # documents for environments that register a loop without running async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    request.node.user_properties.append((CHROMIUM_VERSION_PROPERTY, browser.version))
    _playwright_loop.restore()
    try:
        context = browser.new_context(base_url=live_server.url, accept_downloads=True, **browser_context_options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        browser_log.watch(context)
        try:
            yield context
        finally:
            context.close()
    finally:
        _playwright_loop.hide()


@pytest.fixture
def blank_context(browser):
    """A fresh browser profile with no server behind it, for pages a test writes itself."""
    _playwright_loop.restore()
    try:
        context = browser.new_context()
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
    finally:
        _playwright_loop.hide()


@pytest.fixture
def page(browser_context):
    """A tab in the test's browser context."""
    return browser_context.new_page()


# --- The banner at the end of the run --------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say in one line whether the browser tests ran, and in which Chromium, or why they did not.

    A wrapper run first, so that the line comes last, after pytest's short summary, right
    above the final counts where nobody misses it.
    """
    result = yield
    _write_browser_banner(terminalreporter)
    return result


def _write_browser_banner(terminalreporter) -> None:
    # Read from the test reports, not from fixture state, so that it also works under
    # pytest-xdist, where the fixtures run in worker processes.
    stats = terminalreporter.stats
    browser_reports = [
        report
        for outcome in ("passed", "failed", "error", "skipped")
        for report in stats.get(outcome, [])
        if "browser" in getattr(report, "keywords", {})
    ]
    if not browser_reports:
        return

    skip_reasons = sorted({_skip_reason(report) for report in browser_reports if report.skipped})
    unavailable = sorted(
        {
            reason
            for report in browser_reports
            if report.failed and report.when == "setup"
            for reason in (CHROMIUM_MISSING, PLAYWRIGHT_MISSING)
            if reason in str(report.longrepr)
        }
    )
    versions = sorted(
        {
            value
            for report in browser_reports
            for name, value in report.user_properties
            if name == CHROMIUM_VERSION_PROPERTY
        }
    )

    if unavailable:
        terminalreporter.write_line(f"BROWSER TESTS FAILED: {'; '.join(unavailable)}", red=True, bold=True)
    elif skip_reasons and not versions:
        terminalreporter.write_line(f"BROWSER TESTS SKIPPED: {'; '.join(skip_reasons)}", yellow=True, bold=True)
    elif versions:
        terminalreporter.write_line(f"Browser tests ran in Chromium {', '.join(versions)}", green=True)


def _skip_reason(report) -> str:
    # A skip's longrepr is (path, line number, "Skipped: <reason>").
    longrepr = report.longrepr
    message = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return message.removeprefix("Skipped: ")
