"""The bind page, its result and the access request pages, read in Simplified Chinese.

Each page is rendered by Django's test client with the browser asking for ``zh-CN``, against the
BCC sandbox over real HTTP, in the states a person meets (no rule, a rule that needs approval,
instances running, stopped, starting, Windows, holding someone's key pair; a request pending,
approved, denied, expired, withdrawn) and with the form errors each form can give. No English
sentence may be left (``tests.i18n.english``); ids, names and the person's own words may.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from keypairs.bcc.factory import get_client
from keypairs.models import AccessRequest, AccessRule, AuditEvent
from portal.auth.models import Identity
from tests.access_world import approver, pending_request
from tests.i18n.english import english_sentences
from tests.i18n.keypairs_recorded import imported
from tests.i18n.keypairs_recorded import recorded as made
from tests.people import signed_in
from tests.sandbox_instances import linux_instances, windows_instances

pytestmark = pytest.mark.usefixtures("portal_on_sandbox")


@pytest.fixture(autouse=True)
def default_language_after():
    """The test client's requests in Chinese leave Chinese active in this thread: not for the next test."""
    yield
    translation.deactivate()


# The person's own words (a request's reason, as tests.access_world writes it) are not the portal's.
THEIR_WORDS = ("deploying the release",)


def in_chinese(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    return client


def text_of(response) -> str:
    return response.content.decode()


def no_english(response, *allowed: str) -> str:
    html = text_of(response)
    assert english_sentences(html, allowed=THEIR_WORDS + allowed) == []
    assert '<html lang="zh-hans"' in html
    return html


def bind_url(keypair_request) -> str:
    return reverse("keypair_bind", kwargs={"public_id": keypair_request.public_id})


@pytest.fixture
def groups(alice):
    """Alice's SSO groups: web servers bind at once (8 hours at most), database servers need approval."""
    Identity.objects.create(issuer="https://sso.example.com", subject="alice", user=alice, groups=["team-web"])
    AccessRule.objects.create(
        name="web", sso_group="team-web", region="bj", tag_key="team", tag_value="web", max_duration=timedelta(hours=8)
    )
    AccessRule.objects.create(
        name="db", sso_group="team-web", region="bj", tag_key="team", tag_value="db", requires_approval=True
    )


@pytest.fixture
def region(alice, bob, portal_on_sandbox):
    """Instances of every kind the bind page shows, and Alice's key pair "web"."""
    sandbox = portal_on_sandbox
    web = made(alice, "web")
    linux_instances(sandbox, "bj", ids=["i-run"], name="web-run", tags={"team": "web"}, zoneName="cn-bj-a")
    linux_instances(sandbox, "bj", ids=["i-stop"], name="web-stop", tags={"team": "web"}, status="Stopped")
    linux_instances(sandbox, "bj", ids=["i-start"], name="web-start", tags={"team": "web"}, status="Starting")
    windows_instances(sandbox, "bj", ids=["i-win"], name="web-win", tags={"team": "web"})
    linux_instances(sandbox, "bj", ids=["i-bobs"], name="web-bobs", tags={"team": "web"})
    linux_instances(sandbox, "bj", ids=["i-mine"], name="web-mine", tags={"team": "web"})
    linux_instances(sandbox, "bj", ids=["i-here"], name="web-here", tags={"team": "web"})
    linux_instances(sandbox, "bj", ids=["i-console"], name="web-console", tags={"team": "web"})
    linux_instances(sandbox, "bj", ids=["i-db"], name="db-1", tags={"team": "db"})
    linux_instances(sandbox, "bj", ids=["i-other"], name="ops-1", tags={"team": "ops"})
    linux_instances(sandbox, "bj", ids=["i-bare"], name="bare-1")
    client = get_client("bj")
    client.attach_keypair(made(bob, "bobs").keypair_id, instance_ids=["i-bobs"])
    client.attach_keypair(made(alice, "other").keypair_id, instance_ids=["i-mine"])
    client.attach_keypair(web.keypair_id, instance_ids=["i-here"])
    client.attach_keypair(imported("console-made"), instance_ids=["i-console"])
    return web


# --- The bind page ---------------------------------------------------------------------------------


def test_without_any_rule_the_bind_page_says_which_rule_is_needed_in_chinese(alice, region):
    html = no_english(in_chinese(signed_in(alice)).get(bind_url(region)))

    assert 'id="no-rule"' in html
    assert "没有访问规则允许您所在的组" in html and "地域" in html and "实例" in html
    assert "带有标签 team=web 的实例" in html and "名为 bare-1 的实例" in html


def test_the_bind_page_with_every_kind_of_instance_and_holder_is_in_chinese(alice, groups, region):
    html = no_english(in_chinese(signed_in(alice)).get(bind_url(region)))

    for term in ("实例", "绑定", "地域", "规则 web", "规则 db", "需要审批", "最长 8 小时"):
        assert term in html, term
    # BCC's states as its console says them, and why an instance cannot be chosen.
    assert "运行中" in html and "已停止" in html and "启动中" in html
    assert "该实例当前状态为启动中" in html and "仅支持将密钥对绑定到 Linux 实例" in html
    # Whose key pair each instance holds now.
    assert "他人的：bob（bobs）" in html and "您的：other" in html and "在门户之外创建：console-made" in html
    assert 'id="bound-here"' in html and "解绑" in html
    assert "带有标签 team=ops 的实例" in html  # the rule that would be needed
    assert 'id="confirm-replace"' in html and "需要多少小时" in html and "申请访问的原因" in html


def test_the_bind_pages_filter_and_pages_are_in_chinese(alice, groups, region, settings, monkeypatch):
    monkeypatch.setattr("keypairs.views_bind.PAGE_SIZE", 2)
    client = in_chinese(signed_in(alice))

    html = no_english(client.get(bind_url(region) + "?page=2"))
    assert "第 2 页" in html and "上一页" in html and "下一页" in html

    html = no_english(client.get(bind_url(region) + "?q=nothing-like-it"))
    assert 'id="no-match"' in html and "“nothing-like-it”" in html


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({}, "请至少选择一个实例。"),
        ({"instance": "not an id!"}, "该实例不在本页面提供的选项中。"),
        ({"instance": [f"i-{n}" for n in range(101)]}, "一次最多选择 100 个实例。"),
        ({"instance": "i-bobs", "duration_hours": "2"}, "当前已绑定其他密钥对"),
        ({"instance": "i-run"}, "规则 web 允许的访问时长最多为 8 小时：请填写您需要的时长。"),
        ({"instance": "i-run", "duration_hours": "9"}, "规则 web 允许的访问时长最多为 8 小时。"),
        ({"instance": "i-run", "duration_hours": "0"}, "确保该值大于或等于1"),
        ({"instance": "i-db"}, "规则 db 需要审批：请向审批人说明您需要此访问权限的原因。"),
    ],
)
def test_each_error_of_the_bind_form_is_said_in_chinese(alice, groups, region, form, said):
    response = in_chinese(signed_in(alice)).post(bind_url(region), form)

    assert response.status_code == 400
    assert said in no_english(response)


def test_the_bind_result_says_each_outcome_in_chinese(alice, groups, region):
    form = {
        "instance": ["i-run", "i-bobs", "i-db", "i-here", "i-other", "i-gone"],
        "duration_hours": "4",
        "reason": "发布新版本",
        "confirm_replace": "on",
    }
    html = no_english(in_chinese(signed_in(alice)).post(bind_url(region), form))

    assert "绑定成功。" in html and "等待审批（规则 db）" in html and "已绑定此密钥对：无需操作。" in html
    assert "带有标签 team=ops 的实例" in html and "BCC 在 bj 地域中没有该实例" in html
    assert "后续步骤" in html and "ssh -i web.pem" in html
    assert AccessRequest.objects.get().instance_ids == ["i-db"]
    # The audit log stays the operators', in English.
    [refusal] = AuditEvent.objects.filter(action="bind_failed", outcome="denied")
    assert "i-other: No access rule lets your groups (" in refusal.detail
    assert "bind to instances in bj tagged team=ops" in refusal.detail
    assert "i-gone: BCC has no such instance in bj" in refusal.detail


def test_unbinding_and_its_notice_are_in_chinese(alice, groups, region):
    url = reverse("keypair_unbind_instance", kwargs={"public_id": region.public_id})
    client = in_chinese(signed_in(alice))

    html = no_english(client.post(url, {"instance": "i-here"}))
    assert "该密钥对已不能再登录 i-here。" in html

    response = client.post(url, {"instance": "bad id!"})
    assert response.status_code == 400 and "该实例不在本页面提供的选项中。" in no_english(response)


def test_bcc_unreachable_on_the_bind_page_is_said_in_chinese(alice, groups, region, portal_on_sandbox):
    portal_on_sandbox.inject("status", status=500, operation="list_instances")

    html = no_english(in_chinese(signed_in(alice)).get(bind_url(region)))

    assert "无法连接 BCC" in html and "无法显示实例" in html


# --- The access request pages ----------------------------------------------------------------------


def waiting(alice, sandbox, **fields) -> AccessRequest:
    linux_instances(sandbox, "bj", ids=["i-web1"], name="web-1")
    return pending_request(alice, made(alice, "web"), ["i-web1"], created_at=timezone.now(), **fields)


def detail_url(access_request) -> str:
    return f"/access/requests/{access_request.public_id}/"


def test_my_access_requests_empty_and_full_are_in_chinese(alice, portal_on_sandbox):
    client = in_chinese(signed_in(alice))
    html = no_english(client.get("/access/my-requests/"))
    assert "您尚未申请访问任何实例。" in html

    waiting(alice, portal_on_sandbox)
    html = no_english(client.get("/access/my-requests/"))
    assert "等待审批" in html and "申请时间" in html and "UTC" in html and "年" in html


def test_the_queue_empty_and_full_is_in_chinese(alice, bob, portal_on_sandbox):
    carol = in_chinese(signed_in(approver()))
    assert "没有待审批的申请。" in no_english(carol.get("/access/requests/"))

    waiting(alice, portal_on_sandbox, duration=timedelta(hours=4))
    get_client("bj").attach_keypair(made(bob, "bobs").keypair_id, instance_ids=["i-web1"])
    html = no_english(carol.get("/access/requests/"))
    assert "待审批的访问申请" in html and "4 小时" in html and "当前绑定 bob: bobs" in html
    assert "审批截止" in html and "地域" in html


def test_a_pending_request_for_the_approver_and_for_the_requester_is_in_chinese(alice, portal_on_sandbox):
    request = waiting(alice, portal_on_sandbox)

    html = no_english(in_chinese(signed_in(approver())).get(detail_url(request)))
    assert "批准并立即绑定" in html and "拒绝原因（申请人会看到）" in html and "当前未绑定密钥对" in html

    html = no_english(in_chinese(signed_in(alice)).get(detail_url(request)))
    assert "等待审批人审批。" in html


def test_deciding_and_its_errors_are_in_chinese(alice, portal_on_sandbox):
    request = waiting(alice, portal_on_sandbox)
    carol_user = approver()
    carol = in_chinese(signed_in(carol_user))

    refused = carol.post(f"{detail_url(request)}deny", {"reason": ""})
    assert refused.status_code == 400 and "请说明拒绝的原因" in no_english(refused)

    # Carol's own request, on Alice's key pair: nobody decides their own.
    hers = pending_request(carol_user, request.keypair_request, ["i-web1"], created_at=timezone.now())
    own = carol.post(f"{detail_url(hers)}approve", {"reason": ""})
    assert own.status_code == 403 and "任何人都不能审批自己的访问申请" in no_english(own)

    approved = carol.post(f"{detail_url(request)}approve", {"reason": "可以"}, follow=True)
    html = no_english(approved)
    assert "已批准。已绑定到：i-web1。" in html and re.search(r"carol，于 \d{4}年.* UTC：可以", html)
    assert "i-web1</code>: 已绑定" in html

    again = carol.post(f"{detail_url(request)}deny", {"reason": "晚了"})
    assert again.status_code == 409 and "该申请已不再等待审批：当前状态为已批准。" in no_english(again)


def test_an_approved_request_not_bound_offers_the_retry_in_chinese(alice, portal_on_sandbox):
    request = waiting(alice, portal_on_sandbox, duration=timedelta(hours=2))
    portal_on_sandbox.inject("status", status=500, operation="list_instances")
    carol = in_chinese(signed_in(approver()))

    html = no_english(carol.post(f"{detail_url(request)}approve", {"reason": ""}, follow=True))

    assert "已批准，但未绑定到：i-web1：绑定失败。" in html and "重试绑定" in html
    assert "门户无法从 BCC 读取实例" in html


@pytest.mark.parametrize("status", ["denied", "expired", "withdrawn"])
def test_a_decided_request_is_in_chinese(alice, portal_on_sandbox, status):
    request = waiting(alice, portal_on_sandbox)
    carol = approver()
    AccessRequest.objects.filter(pk=request.pk).update(
        status=status,
        decided_at=timezone.now(),
        **({"decided_by": carol, "decision_reason": "不是本周"} if status == "denied" else {}),
    )

    for client in (signed_in(alice), signed_in(carol)):
        html = no_english(in_chinese(client).get(detail_url(request)))
        label = {"denied": "已拒绝", "expired": "未审批已过期", "withdrawn": "已撤回"}[status]
        assert label in html and "年" in html and "UTC" in html
        if status == "denied":
            assert re.search(r"carol，于 \d{4}年.* UTC：不是本周", html)
