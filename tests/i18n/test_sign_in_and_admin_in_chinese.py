"""Sign-in, refusals, error pages and the admin (the auditors' review, the inventory, flagged key
pairs, access to instances) leave no English sentence to a reader of Simplified Chinese.

Every page is rendered by the real views with Django's test client asking for zh-hans
(``Accept-Language: zh-CN``), over a real database, the BCC sandbox, the proxy's JWKS server and
the OIDC test provider where a page needs them. ``english_sentences`` finds runs of three English
words a reader would see. Django's own admin strings are translated by Django; what the page
itself leaves English on purpose is named in ``ALLOWED``.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from keypairs import audit_review
from keypairs.audit import audit_record, audit_verify
from keypairs.models import AccessRequest, AccessRule, AuditEvent, BccInventoryEntry, InstanceBinding, KeyPairRequest
from keypairs.offboarding import person_left
from portal.auth import refusals
from portal.auth.roles import Role
from tests.auth_people import person
from tests.i18n.english import english_sentences
from tests.offboarding_world import ORIGIN
from tests.test_auth_oidc import finish, oidc_mode, provider, start  # noqa: F401 - fixtures used below
from tests.test_auth_proxy import assertion, get, jwks, proxy_mode  # noqa: F401 - fixtures used below
from tests.test_bcc_state import imported, record_of

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}
AUDIT_LOG = "/admin/keypairs/auditevent/"
INVENTORY = "/admin/keypairs/bccinventoryentry/"
FLAGGED = "/admin/keypairs/flagged/"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) Test Browser"
DETAIL = "not the owner"
ALLOWED = (
    # A user agent is what the browser sent: the audit event's page shows it as recorded.
    USER_AGENT,
    # An audit row's detail is written once, in English, for every reviewer (house rule): shown as recorded.
    DETAIL,
    # Django's own: the admin's app list has this visually hidden column header, and Django 5.2's
    # zh_Hans catalogue has no translation for it.
    "Change or view list link",
)

pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


def chinese_page(response, *, status: int = 200) -> str:
    """The page's HTML, after checking its status, that it is Chinese, and that no English sentence is left."""
    assert response.status_code == status, response.content.decode()[:2000]
    page = response.content.decode()
    assert 'lang="zh-hans"' in page
    assert english_sentences(page, ALLOWED) == []
    return page


def zh_client(user=None) -> Client:
    client = Client(**ZH)
    if user is not None:
        client.force_login(user)
    return client


# --- Sign-in, refusals, error pages ------------------------------------------------------------------


def test_the_local_sign_in_page_and_its_error_are_in_chinese(db):
    person("audrey", Role.AUDITOR)
    client = zh_client()

    assert "<h1>登录</h1>" in chinese_page(client.get("/accounts/login/"))

    refused = chinese_page(client.post("/accounts/login/", {"username": "audrey", "password": "wrong"}))
    assert 'role="alert"' in refused


def test_signing_out_says_so_in_chinese(db):
    client = zh_client(person("audrey", Role.AUDITOR))

    page = chinese_page(client.post("/accounts/logout/", follow=True))

    assert "您已退出登录。" in page


@pytest.fixture
def sso(oidc_mode):  # noqa: F811 - tests/test_auth_oidc.py's fixture: the OIDC mode on its test provider
    return oidc_mode


@pytest.mark.usefixtures("sso")
def test_the_sso_sign_in_page_is_in_chinese():
    page = chinese_page(zh_client().get("/accounts/login/"))

    assert "使用公司账号登录" in page


def test_a_denied_consent_is_refused_in_chinese_and_audited_in_english(sso):
    client = zh_client()
    response = finish(client, sso.deny(start(client)))

    page = chinese_page(client.get(response["Location"]), status=403)

    assert "身份提供方未让此人登录（access_denied）。" in page
    assert AuditEvent.objects.get().detail == refusals.PROVIDER_ERROR.format(error="access_denied")


def test_someone_without_a_role_is_refused_in_chinese_with_the_groups_to_ask_for(sso):
    sso.set_user("sub-heidi", email="heidi@example.com", preferred_username="heidi", groups=["everyone"])
    client = zh_client()
    response = finish(client, sso.approve(start(client), "sub-heidi"))

    page = chinese_page(client.get(response["Location"]), status=403)

    assert "身份提供方确认了此人的身份，但此人在门户中没有任何角色。" in page
    assert "创建密钥对：developers" in page


@pytest.mark.usefixtures("proxy_mode")
@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, "代理没有传来身份断言（缺少请求头 X-Jwt-Assertion）。"),
        (assertion(exp=1, iat=0), "身份断言已过期。"),
        (assertion(aud="another-app"), "身份断言是发给其他应用的（受众错误）。"),
    ],
)
def test_the_proxys_refusals_are_in_chinese(settings, token, expected):
    settings.PROXY_JWT_HEADER = "X-Jwt-Assertion"

    page = chinese_page(get(zh_client(), "/", token, **ZH), status=403)

    assert expected in page


def test_an_id_token_refusal_translates_its_problem_too(db):
    from django.utils import translation

    from portal.auth.oidc import NONCE_PROBLEM

    with translation.override("zh-hans"):
        said = refusals.for_people(refusals.INVALID_ID_TOKEN.format(problem=NONCE_PROBLEM))

    assert said == "身份提供方的 ID 令牌被拒绝：其 nonce 与本次登录不匹配。"


def test_a_developer_page_refuses_an_auditor_in_chinese(db):
    client = zh_client(person("audrey", Role.AUDITOR))

    page = chinese_page(client.get("/keypairs/new"), status=403)

    assert "只有开发者可以创建和下载密钥对，而您没有开发者角色。" in page
    assert "（审计员）" in page


def test_a_developer_is_refused_the_admin_in_chinese(alice):
    page = chinese_page(zh_client(alice).get("/admin/login/"), status=403)

    assert "管理后台仅供审计员和门户管理员使用" in page


def test_an_approver_page_refuses_a_developer_in_chinese(alice):
    page = chinese_page(zh_client(alice).get("/access/requests/"), status=403)

    assert "只有审批人可以处理访问申请" in page


def test_the_not_signed_in_refusal_is_in_chinese(db):
    page = chinese_page(zh_client().get("/accounts/no-access/"), status=403)

    assert "您尚未登录门户。" in page


def test_not_found_is_in_chinese(alice):
    chinese_page(zh_client(alice).get("/no-such-page/"), status=404)


def test_not_allowed_is_in_chinese(db):
    # Staff without any role's permission: the flagged key pairs page raises PermissionDenied.
    staff = person("sam")
    staff.is_staff = True
    staff.save()

    page = chinese_page(zh_client(staff).get("/admin/keypairs/flagged/"), status=403)

    assert "无权操作" in page


def test_the_500_page_says_it_in_both_languages_with_no_request():
    from django.template.loader import get_template

    page = get_template("500.html").render({})

    assert "Something went wrong" in page and "出错了" in page
    assert '<div lang="zh-Hans">' in page and '<div lang="en">' in page


# --- The admin: auditors' review ----------------------------------------------------------------------


@pytest.fixture
def audrey(db):
    return person("audrey", Role.AUDITOR)


@pytest.fixture
def pat(db):
    return person("pat", Role.PORTAL_ADMIN)


@pytest.fixture
def log(db):
    audit_record(
        action="requested",
        outcome="success",
        actor_username="alice",
        region="bj",
        keypair_name="web",
        user_agent=USER_AGENT,
        portal_request_id="req-1",
    )
    audit_record(
        action="created",
        outcome="success",
        actor_username="alice",
        region="bj",
        keypair_name="web",
        keypair_id="k-web",
        bcc_request_id="bcc-1",
        portal_request_id="req-1",
        user_agent=USER_AGENT,
    )
    audit_record(
        action="download_refused", outcome="denied", actor_username="bob", region="bj", keypair_name="web",
        keypair_id="k-web", is_security_event=True, detail=DETAIL,
    )  # fmt: skip
    return list(AuditEvent.objects.order_by("id"))


def test_the_admin_index_with_the_drift_counts_is_in_chinese(audrey, log):
    page = chinese_page(zh_client(audrey).get("/admin/"))

    assert "BCC 资产清单：偏差" in page
    assert "尚未运行过同步" in page


def test_the_audit_log_with_its_filters_and_chain_status_is_in_chinese(audrey, log):
    audit_review.remember(audit_verify())
    client = zh_client(audrey)

    page = chinese_page(client.get(AUDIT_LOG))
    assert "审计链于" in page and "校验通过" in page
    assert "3 条审计记录" in page
    assert "下载被拒绝" in page and "安全事件" in page

    filtered = chinese_page(client.get(AUDIT_LOG, {"action__exact": "download_refused", "region": "bj"}))
    assert "1 条审计记录" in filtered

    searched = chinese_page(client.get(AUDIT_LOG, {"q": "web", "created_at__year": timezone.now().year}))
    assert "k-web" in searched


def test_verifying_the_chain_from_the_admin_says_so_in_chinese(audrey, log):
    page = chinese_page(zh_client(audrey).post(f"{AUDIT_LOG}verify/", follow=True))

    assert "审计链校验通过：共 3 个事件。" in page


def test_a_key_pairs_timeline_is_in_chinese(audrey, log):
    page = chinese_page(zh_client(audrey).get(AUDIT_LOG, {"keypair_id__exact": "k-web", "o": "0"}))

    assert "3 条审计记录" in page  # the "requested" row without the id comes in through its request id
    assert "此密钥对的全部事件，最早的在前" in page


def test_an_audit_event_is_in_chinese(audrey, log):
    page = chinese_page(zh_client(audrey).get(f"{AUDIT_LOG}{log[-1].pk}/change/"))

    assert "门户请求 ID" in page and DETAIL in page


def test_the_shipping_and_rebuilt_head_notes_are_in_chinese(audrey, log, settings):
    settings.AUDIT_SHIP_TO = ""
    page = chinese_page(zh_client(audrey).get(AUDIT_LOG))

    assert "转出已关闭" in page


# --- The admin: inventory, flagged, bindings, access rules --------------------------------------------


@pytest.fixture
def unowned(portal_on_sandbox, settings, db) -> BccInventoryEntry:
    settings.BCC_REGIONS = ["bj", "gz"]
    keypair_id = imported("bj", "legacy-build", "made by a script")
    call_command("sync_bcc", stdout=StringIO(), stderr=StringIO())
    return BccInventoryEntry.objects.get(keypair_id=keypair_id)


def test_the_inventory_list_entry_and_confirmations_are_in_chinese(pat, alice, unowned):
    client = zh_client(pat)

    listed = chinese_page(client.get(INVENTORY))
    assert "无归属" in listed
    chinese_page(client.get(INVENTORY, {"state": "unowned", "owned": "unowned", "region": "bj"}))

    entry = chinese_page(client.get(f"{INVENTORY}{unowned.pk}/change/"))
    assert "分配给某人…" in entry and "在 BCC 中删除…" in entry

    assign = chinese_page(client.post(f"{INVENTORY}{unowned.pk}/assign/"))
    assert "分配密钥对 legacy-build" in assign
    refused = chinese_page(client.post(f"{INVENTORY}{unowned.pk}/assign/", {"confirm": "yes"}))
    assert "请选择此密钥对的所有者。" in refused

    delete = chinese_page(client.post(f"{INVENTORY}{unowned.pk}/delete-unowned/"))
    assert "删除密钥对 legacy-build" in delete

    assigned = chinese_page(
        client.post(f"{INVENTORY}{unowned.pk}/assign/", {"confirm": "yes", "owner": alice.pk}, follow=True)
    )
    assert "现归 alice 所有" in assigned


def test_the_index_with_drift_after_a_sync_is_in_chinese(pat, unowned):
    page = chinese_page(zh_client(pat).get("/admin/"))

    assert "上次同步结束于" in page


def test_the_flagged_pages_are_in_chinese(pat, alice, audrey, portal_on_sandbox):
    left = record_of(alice, keypair_id="k-left", name="left-behind")
    old = record_of(person("carol", Role.DEVELOPER), keypair_id="k-old", name="too-old")
    KeyPairRequest.objects.filter(pk=old.pk).update(flagged_at=timezone.now(), flag_reason="expired")
    person_left(person=alice, route="deactivated", origin=ORIGIN)
    client = zh_client(pat)

    page = chinese_page(client.get(FLAGGED))
    assert "已离职人员的密钥对" in page and "超过最长使用期限" in page
    chinese_page(client.get(FLAGGED, {"reason": "expired"}))
    chinese_page(zh_client(audrey).get(FLAGGED))

    for decision in ("keep", "delete"):
        confirm = chinese_page(client.get(f"{FLAGGED}{left.public_id}/{decision}/"))
        assert "left-behind" in confirm

    kept = chinese_page(client.post(f"{FLAGGED}{old.public_id}/keep/", follow=True))
    assert "已保留：too-old 的标记已清除。" in kept


def test_the_stuck_bindings_page_is_in_chinese(pat, alice):
    keypair = record_of(alice, keypair_id="k-bound", name="bound-key")
    InstanceBinding.objects.create(
        keypair_request=keypair, region="bj", instance_id="i-1", instance_name="web-1",
        expires_at=timezone.now() - timedelta(hours=1), unbind_attempts=2, last_error="InstanceLocked",
    )  # fmt: skip
    client = zh_client(pat)

    page = chinese_page(client.get("/admin/keypairs/stuck-bindings/"))
    assert "bound-key" in page

    chinese_page(client.get("/admin/keypairs/"))


def test_the_access_admin_pages_are_in_chinese(pat, alice, audrey):
    rule = AccessRule.objects.create(name="web", sso_group="team-web", region="bj", tag_key="team")
    keypair = record_of(alice, keypair_id="k-web", name="web")
    AccessRequest.objects.create(
        requester=alice, keypair_request=keypair, rule=rule, region="bj", instance_ids=["i-1"],
        reason="deploy", decide_by=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    InstanceBinding.objects.create(keypair_request=keypair, region="bj", instance_id="i-1", rule=rule)
    client = zh_client(pat)

    for url in (
        "/admin/keypairs/accessrule/",
        f"/admin/keypairs/accessrule/{rule.pk}/change/",
        "/admin/keypairs/accessrule/add/",
        "/admin/keypairs/accessrequest/",
        "/admin/keypairs/instancebinding/",
        "/admin/keypairs/keypairrequest/",
        f"/admin/keypairs/keypairrequest/{keypair.pk}/change/",
    ):
        chinese_page(client.get(url))
    for url in ("/admin/keypairs/accessrule/", "/admin/keypairs/instancebinding/"):
        chinese_page(zh_client(audrey).get(url))

    no_selector = {"name": "all", "sso_group": "x", "region": "bj", "tag_value": "v"}
    refused = chinese_page(client.post("/admin/keypairs/accessrule/add/", no_selector))
    assert "请填写标签键或名称前缀" in refused and "填写标签值时必须同时填写标签键。" in refused
