"""An auditor whose Chromium reads Simplified Chinese (locale zh-CN) signs in and reviews the audit
log in Chinese: the sign-in form, the list with its chain status, a filter, a key pair's timeline.

The browser's own locale picks the language (its Accept-Language header), as it would for a
person in Beijing: no cookie, no switch. Each page is checked for English sentences left to the
reader, and photographed (var/screens/) for a person to look at.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from keypairs import audit_review
from keypairs.audit import audit_record, audit_verify
from portal.auth.roles import Role, assign_roles
from tests.browser.test_create_and_download import assert_pages_kept_their_policy, screenshot
from tests.i18n.english import english_sentences

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
LAPTOP = {"width": 1280, "height": 800}
DEFAULT_TIMEOUT_MS = 10_000  # as tests/browser/conftest.py
REVIEW_PATH = re.compile(r"/admin/keypairs/auditevent/$")
# Django's own admin leaves this English in zh_Hans (a visually hidden column header of the
# admin's app list): not the portal's string.
DJANGOS_OWN = ("Change or view list link",)


@pytest.fixture
def zh_page(browser, browser_context, live_server, browser_log):
    """A tab of a fresh Chromium profile whose locale is zh-CN (so it asks for Chinese pages).

    Made beside conftest's ``browser_context``, which readies Playwright's loop (and the async
    guard) for the test and closes after this one does.
    """
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=LAPTOP)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    browser_log.watch(context)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def auditor(django_user_model):
    user = django_user_model.objects.create_user(username="audrey", password=PASSWORD)
    assign_roles(user, {Role.AUDITOR})
    return user


def no_english_left(page) -> None:
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert english_sentences(page.content(), DJANGOS_OWN) == []


def test_an_auditor_reviews_the_audit_log_in_chinese(zh_page, browser_log, auditor):
    page = zh_page
    audit_record(action="requested", outcome="success", actor_username="alice", region="bj", keypair_name="web",
                 portal_request_id="r-1")  # fmt: skip
    audit_record(action="created", outcome="success", actor_username="alice", region="bj", keypair_name="web",
                 keypair_id="k-web", portal_request_id="r-1")  # fmt: skip
    audit_record(action="download_refused", outcome="denied", actor_username="bob", region="bj",
                 keypair_name="web", keypair_id="k-web", is_security_event=True)  # fmt: skip
    audit_record(action="created", outcome="success", actor_username="carol", region="gz", keypair_name="db",
                 keypair_id="k-db")  # fmt: skip
    audit_review.remember(audit_verify())

    page.goto("/accounts/login/")
    expect(page.locator("h1")).to_have_text("登录")
    no_english_left(page)
    screenshot(page, "zh-sign-in.png")
    page.get_by_label("用户名").fill(auditor.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(REVIEW_PATH)

    expect(page.locator("#chain-status-text")).to_contain_text("审计链于")
    # Her sign-in is the fifth event, written after the verification.
    expect(page.locator("#chain-status-text")).to_contain_text("校验通过：共 4 个事件；此后新写入 1 个，尚未校验。")
    expect(page.locator("p.paginator")).to_contain_text("5 条审计记录")
    expect(page.locator("#export-csv")).to_have_text("将这些事件导出为 CSV")
    expect(page.locator(".audit-badge-security")).to_have_text("安全事件")
    no_english_left(page)
    screenshot(page, "zh-audit-log.png")

    # A filter of the sidebar: the action, by its Chinese label.
    page.locator("#changelist-filter").get_by_role("link", name="下载被拒绝", exact=True).click()
    page.wait_for_url(re.compile(r"action__exact=download_refused"))
    expect(page.locator("p.paginator")).to_contain_text("1 条审计记录")
    no_english_left(page)
    screenshot(page, "zh-audit-log-filtered.png")

    # The key pair's timeline, from its id's link: its three events, oldest first.
    link = page.locator("td.field-keypair_id_timeline a").first
    expect(link).to_have_attribute("title", "此密钥对的全部事件，最早的在前")
    link.click()
    page.wait_for_url(re.compile(r"keypair_id__exact=k-web"))
    expect(page.locator("p.paginator")).to_contain_text("3 条审计记录")
    expect(page.locator("#result_list td.field-action_with_badge")).to_have_text(
        ["已请求创建", "已创建", re.compile(r"下载被拒绝\s*安全事件")]
    )
    no_english_left(page)
    screenshot(page, "zh-keypair-timeline.png")

    assert_pages_kept_their_policy(browser_log)
    assert browser_log.console_errors == []
