"""Creating and importing key pairs in a Chromium that asks for Chinese, and the language switch.

What only a browser shows: the JS catalogue (/jsi18n/) loads under the portal's CSP and the
static scripts' live hints, preview and status lines speak Chinese; the server's rules reach
keypair-form.js in the page's language; the switch's choice is remembered on the next page.

Screenshots go to /tmp/screens/ (zh-*.png) for a person to look at; nothing asserts on them.
"""

from __future__ import annotations

import re

import pytest

from keypairs.public_keys import public_key_inspect
from tests.browser.test_create_and_download import (
    KEYPAIR_PAGE,
    PASSWORD,
    alice,  # noqa: F401 - the fixture, a developer with a password
    assert_pages_kept_their_policy,
    screenshot,
)
from tests.import_flow import dsa_line, ec_key, public_line

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chinese_page(page):
    """A tab whose browser asks for Chinese first (Accept-Language: zh-CN), as a developer's
    browser in China does; no language cookie, so the portal goes by that header."""
    page.context.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    return page


def sign_in(page, user) -> None:
    """By the fields' names: the sign-in page's words are another area's to translate."""
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/accounts/login/'] button[type=submit]").click()


def test_a_developer_creates_a_key_pair_in_chinese(chinese_page, browser_log, alice, portal_on_sandbox):  # noqa: F811
    page = chinese_page
    page.goto("/keypairs/new")
    sign_in(page, alice)

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", name="创建密钥对")).to_be_visible()
    name = page.get_by_role("textbox", name="名称", exact=True)
    expect(page.get_by_role("combobox", name="地域")).to_be_visible()
    expect(page.locator("#id_name_helptext")).to_contain_text("不能包含空格")

    # The rules' sentences come with the page, in Chinese...
    hint = page.locator("#id_name_hint")
    name.press_sequentially("1web")
    expect(hint).to_have_text("名称必须以字母（a–z 或 A–Z）开头。")
    # ...and how a character is named comes from the JS catalogue.
    name.fill("")
    name.press_sequentially("web server\u200b")
    expect(hint).to_have_text("名称不能包含 ' '（空格） 或 U+200B（不可见字符）。")
    expect(page.locator("#id_name_count")).to_have_text("11 / 65")
    screenshot(page, "zh-create-live-hint.png")

    # The server says the same when the form is sent anyway (novalidate).
    with page.expect_navigation() as navigation:
        page.locator("#create-button").click()
    assert navigation.value.status == 400
    expect(page.locator("#id_name_error li")).to_have_text(
        ["名称不能包含 ' '（空格） 或 U+200B ZERO WIDTH SPACE（不可见字符）。"]
    )
    screenshot(page, "zh-create-errors.png")

    page.get_by_role("textbox", name="名称", exact=True).fill("zh-web")
    page.get_by_role("textbox", name=re.compile(r"^描述\s*（选填）")).fill("北京的 Web 服务器")
    page.get_by_role("combobox", name="地域").select_option("gz")
    page.get_by_role("button", name="创建密钥对").click()

    expect(page).to_have_url(KEYPAIR_PAGE)
    expect(page.locator(".messages")).to_contain_text("已在地域")
    expect(page.locator(".messages")).to_contain_text("创建密钥对 zh-web。")
    assert [keypair["name"] for keypair in portal_on_sandbox.keypairs(region="gz")] == ["zh-web"]
    screenshot(page, "zh-create-result.png")
    assert_pages_kept_their_policy(browser_log)


def test_a_developer_imports_a_public_key_in_chinese(chinese_page, browser_log, alice, portal_on_sandbox):  # noqa: F811
    page = chinese_page
    page.goto("/keypairs/import")
    sign_in(page, alice)

    expect(page.get_by_role("heading", name="导入公钥")).to_be_visible()
    expect(page.get_by_role("heading", name="或在浏览器中生成")).to_be_visible()

    # Generating needs a name first: keypair-generate.js says so from the JS catalogue.
    page.get_by_role("button", name="生成、保存私钥并导入").click()
    expect(page.locator("#generate-status")).to_have_text(re.compile(r"^请先填写表单："))

    # The live preview: the server's refusal in Chinese...
    key = page.get_by_role("textbox", name="公钥")
    key.fill(dsa_line())
    expect(page.locator("#key-preview-error")).to_contain_text("这是 DSA 密钥（ssh-dss）。")
    screenshot(page, "zh-import-refused.png")
    # ...and what it understood, the size in the JS catalogue's words.
    line = public_line(ec_key(), "alice@laptop")
    key.fill(line)
    expect(page.locator("#key-preview")).to_be_visible()
    expect(page.locator("#preview-bits")).to_have_text("256 位")
    expect(page.locator("#preview-fingerprint")).to_have_text(public_key_inspect(line).sha256_fingerprint)
    expect(page.locator("#key-preview-error")).to_be_hidden()
    page.get_by_role("textbox", name="名称", exact=True).fill("zh-laptop")
    screenshot(page, "zh-import-preview.png")

    page.get_by_role("button", name="导入公钥").click()

    expect(page).to_have_url(KEYPAIR_PAGE)
    expect(page.locator(".messages")).to_contain_text("导入密钥对 zh-laptop。")
    assert [keypair["name"] for keypair in portal_on_sandbox.keypairs(region="bj")] == ["zh-laptop"]
    screenshot(page, "zh-import-result.png")
    # The preview answers a refused key with 400 on purpose; nothing else may have failed.
    assert [failed for failed in browser_log.failed_subresources if "/keypairs/import/preview" not in failed] == []
    browser_log.failed_subresources.clear()
    assert_pages_kept_their_policy(browser_log)


def test_the_language_switch_turns_the_portal_chinese_and_it_stays_so(page, browser_log, alice, portal_on_sandbox):  # noqa: F811
    page.goto("/keypairs/new")
    sign_in(page, alice)
    expect(page.get_by_role("heading", name="Create a key pair")).to_be_visible()

    page.get_by_role("button", name="简体中文").click()

    expect(page).to_have_url(re.compile(r"/keypairs/new$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", name="创建密钥对")).to_be_visible()
    # The next page, reached by the menu, is Chinese too: the choice is remembered.
    page.get_by_role("navigation").get_by_role("link", name="导入公钥").click()
    expect(page.get_by_role("heading", name="导入公钥")).to_be_visible()
    expect(page.get_by_role("button", name="English")).to_be_visible()
    # The scripts too: keypair-form.js names a space from the JS catalogue.
    page.get_by_role("textbox", name="名称", exact=True).press_sequentially("a b")
    expect(page.locator("#id_name_hint")).to_have_text("名称不能包含 ' '（空格）。")
    screenshot(page, "zh-switched.png")
    assert_pages_kept_their_policy(browser_log)
