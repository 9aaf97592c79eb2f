"""A developer's key pair life in Chinese, in the real Chromium set to zh-CN, against the BCC sandbox.

She downloads a key pair's private key (once), sees it listed as downloaded with a date and zone
in the Chinese format, then deletes another key pair after its confirmation. Every page of hers is
read for English sentences; the screenshots are in /tmp/screens (looked at when this was written).
The sign-in and create pages are other areas' and are driven by their fields' ids only.
"""

from __future__ import annotations

import re

import pytest

from keypairs.models import KeyPairRequest
from tests.browser.test_create_and_download import assert_pages_kept_their_policy, screenshot
from tests.i18n.english import english_sentences

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails) and says why
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase nobody guesses"
KEYPAIR_PAGE = re.compile(r"/keypairs/[0-9a-f-]{36}/$")
# zh_Hans DATETIME_FORMAT (portal/formats/zh_Hans): "2026年12月3日 15:04 UTC", the zone always named.
CHINESE_TIME = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} UTC")


@pytest.fixture
def alice(django_user_model):
    from portal.auth.roles import Role, assign_roles

    user = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    assign_roles(user, {Role.DEVELOPER})
    return user


@pytest.fixture
def browser_context_options() -> dict:
    """A profile whose locale is zh-CN: Chromium sends Accept-Language zh-CN, as a Chinese desktop's does."""
    return {"locale": "zh-CN"}


def sign_in_and_create(page, alice, name: str) -> None:
    page.goto("/keypairs/new")
    if "/accounts/login/" in page.url:
        page.locator("#id_username").fill(alice.username)
        page.locator("#id_password").fill(PASSWORD)
        page.locator("form[action*='login'] button[type=submit]").click()
    page.locator("#id_name").fill(name)
    page.locator("#id_region").select_option("bj")
    page.locator("#create-form button[type=submit]").click()
    expect(page).to_have_url(KEYPAIR_PAGE)


def all_chinese(page) -> None:
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert english_sentences(page.content()) == []


def test_a_developer_downloads_a_private_key_once_then_deletes_a_key_pair_all_in_chinese(
    page, browser_log, alice, portal_on_sandbox, tmp_path
):
    sign_in_and_create(page, alice, "build-server")

    expect(page.get_by_role("heading", name="密钥对 build-server")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("这是您保存私钥的唯一机会。")
    expect(page.locator("#expires-at")).to_have_text(CHINESE_TIME)
    expect(page.get_by_text("BCC 指纹（MD5）")).to_be_visible()
    screenshot(page, "zh-keypair-waiting.png")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="下载私钥").click()
    key_file = tmp_path / "build-server.pem"
    download_info.value.save_as(key_file)
    assert key_file.read_text().startswith("-----BEGIN ")

    # keypair-detail.js reloads the page: the state is the delivery's, said in Chinese.
    downloaded = page.locator("#downloaded-note")
    expect(downloaded).to_contain_text("门户已不再保存此私钥，因此无法再次下载。")
    expect(downloaded.locator("time")).to_have_text(CHINESE_TIME)
    expect(page.get_by_role("button", name="下载私钥")).to_have_count(0)
    expect(page.get_by_role("button", name="我没有下载过此私钥")).to_be_visible()
    all_chinese(page)
    screenshot(page, "zh-keypair-downloaded.png")

    sign_in_and_create(page, alice, "old-server")
    page.get_by_role("navigation").get_by_role("link", name="我的密钥对").click()
    rows = page.locator("#keypair-table tbody tr")
    expect(rows).to_have_count(2)
    listed_download = rows.filter(has_text="build-server").locator("td[data-label='状态']")
    listed_waiting = rows.filter(has_text="old-server").locator("td[data-label='状态']")
    expect(listed_download).to_contain_text("已下载")
    expect(listed_download).to_contain_text(CHINESE_TIME)
    # "until 07:33" had no date and no zone: now the whole time, in Chinese.
    expect(listed_waiting).to_contain_text(re.compile(r"等待下载\s+有效期至 " + CHINESE_TIME.pattern))
    expect(rows.first.locator("td[data-label='创建时间'] time").first).to_have_text(CHINESE_TIME)
    all_chinese(page)
    screenshot(page, "zh-keypair-list.png")

    page.get_by_role("link", name="old-server").click()
    page.locator("#keypair-actions").get_by_role("link", name="删除", exact=True).click()
    expect(page.get_by_role("heading", name="删除密钥对 old-server")).to_be_visible()
    expect(page.locator("#bound-instances")).to_have_text("据 BCC 显示，它已绑定 0 个实例。")
    all_chinese(page)
    screenshot(page, "zh-delete-confirmation.png")
    assert len(portal_on_sandbox.keypairs()) == 2  # nothing happens before the confirmation

    page.get_by_role("button", name="删除此密钥对").click()

    expect(page).to_have_url(KEYPAIR_PAGE)
    expect(page.locator(".messages")).to_contain_text(
        "密钥对 old-server 已删除：任何人都无法再用它登录新的实例。其尚在等待下载的私钥已被清除。"
    )
    expect(page.locator("#deleted-note")).to_contain_text(CHINESE_TIME)
    all_chinese(page)
    screenshot(page, "zh-keypair-deleted.png")
    assert [keypair["name"] for keypair in portal_on_sandbox.keypairs()] == ["build-server"]
    assert KeyPairRequest.objects.get(name="old-server").status == KeyPairRequest.Status.DELETED
    assert_pages_kept_their_policy(browser_log)
