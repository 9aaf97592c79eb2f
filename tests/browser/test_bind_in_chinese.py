"""Alice reads the bind page in Simplified Chinese (her browser asks for zh-CN) and binds her key pair
to an instance that holds Bob's, confirming the replacement first; in Chromium at 1280 px, against
the BCC sandbox, with real SMTP on loopback. Bob, who chose Chinese, is told in Chinese.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from keypairs.bcc.factory import get_client
from keypairs.models import AccessRule, InstanceBinding
from portal.auth.models import Identity
from portal.auth.roles import Role, assign_roles
from portal.languages import remember_language
from tests.browser.test_create_and_download import assert_pages_kept_their_policy, screenshot
from tests.i18n.english import english_sentences
from tests.i18n.keypairs_recorded import recorded
from tests.sandbox_instances import linux_instances

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def people(django_user_model):
    alice = django_user_model.objects.create_user(username="alice")
    bob = django_user_model.objects.create_user(username="bob", email="bob@example.com")
    for person in (alice, bob):
        assign_roles(person, {Role.DEVELOPER})
    remember_language(bob, "zh-hans")
    return alice, bob


def signed_in_as(page, person, live_server) -> None:
    """The browser carries a session of ``person`` (the sign-in page is another part's, and tested there)."""
    client = Client()
    client.force_login(person)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_alice_binds_in_chinese_replacing_bobs_key_pair_after_confirming(
    page, browser_log, people, live_server, portal_on_sandbox, smtp_server
):
    alice, bob = people
    Identity.objects.create(issuer="https://sso.example.com", subject="alice", user=alice, groups=["team-web"])
    AccessRule.objects.create(name="web servers", sso_group="team-web", region="bj", tag_key="team", tag_value="web")
    mine, bobs = recorded(alice, "build-server"), recorded(bob, "bobs-key")
    sandbox = portal_on_sandbox
    linux_instances(sandbox, "bj", ids=["i-web1"], tags={"team": "web"}, name="web-1", internalIp="10.0.0.7")
    linux_instances(sandbox, "bj", ids=["i-web2"], tags={"team": "web"}, name="web-2", status="Stopped")
    linux_instances(sandbox, "bj", ids=["i-web3"], tags={"team": "web"}, name="web-3", status="Starting")
    linux_instances(sandbox, "bj", ids=["i-db1"], tags={"team": "db"}, name="db-1")
    get_client("bj").attach_keypair(bobs.keypair_id, instance_ids=["i-web1"])
    page.set_viewport_size(LAPTOP)
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    signed_in_as(page, alice, live_server)

    page.goto(f"/keypairs/{mine.public_id}/bind/")

    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_role("heading", level=1).inner_text().startswith("绑定到实例")
    assert english_sentences(page.content()) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    assert page.locator("#row-i-web1 .holder").inner_text() == "他人的：bob（bobs-key）"
    assert page.locator("#row-i-web1").inner_text().count("运行中") == 1
    assert "已停止" in page.locator("#row-i-web2").inner_text()
    assert "该实例当前状态为启动中" in page.locator("#row-i-web3").inner_text()
    assert "带有标签 team=db 的实例" in page.locator("#not-covered").inner_text()

    page.get_by_label("绑定到 i-web1").check()
    page.get_by_role("button", name="绑定", exact=True).click()
    # Not confirmed: refused, nothing sent, and said in Chinese.
    assert "如需替换，请勾选确认" in page.locator("#form-error").inner_text()
    assert english_sentences(page.content()) == []
    assert get_client("bj").get_instance("i-web1").keypair_id == bobs.keypair_id

    page.get_by_label("绑定到 i-web1").check()
    page.locator("#confirm-replace").check()
    screenshot(page, "bind-in-chinese.png")
    page.get_by_role("button", name="绑定", exact=True).click()

    assert "绑定成功。" in page.locator("#outcome-i-web1").inner_text()
    assert "后续步骤" in page.locator("#next-steps").inner_text()
    assert "ssh -i build-server.pem root@10.0.0.7" in page.locator("#next-steps").inner_text()
    assert english_sentences(page.content()) == []
    screenshot(page, "bind-result-in-chinese.png")
    assert get_client("bj").get_instance("i-web1").keypair_id == mine.keypair_id
    assert InstanceBinding.objects.get(state="bound").keypair_request == mine
    [told] = smtp_server.mails_to("bob@example.com")
    assert "您的密钥对 bobs-key 已在 1 个实例上失效" in told.subject
    assert_pages_kept_their_policy(browser_log)
