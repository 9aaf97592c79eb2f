"""A key pair's pages in Simplified Chinese: no English sentence left, in every state they show.

Alice's browser asks for zh-CN. Her key pairs are made for real: through the create form in
the BCC sandbox (real HTTP), or imported there, and changed or deleted there "in the console"
with the BCC client. Each page and each of its refusals is read with ``english_sentences``; only
the names and ids this test made may be Latin, and they are never three English words.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from keypairs import messages
from keypairs.bcc.factory import get_client
from keypairs.models import Delivery, KeyPairRequest
from tests.create_flow import create, the_request
from tests.i18n.english import english_sentences
from tests.sandbox_instances import linux_instances

Status = KeyPairRequest.Status
Kind = KeyPairRequest.Kind
CHINESE = re.compile("[\u4e00-\u9fff]")


def in_chinese(user) -> Client:
    """A signed-in browser whose Accept-Language is Chinese, as a browser set to zh-CN sends it."""
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5")
    client.force_login(user)
    return client


def chinese_page(response, *, status: int = 200, allowed: tuple[str, ...] = ()) -> str:
    """The page, after checking it is the Chinese one and has no English sentence."""
    assert response.status_code == status, response.status_code
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    assert english_sentences(page, allowed=allowed) == []
    return page


def detail(record) -> str:
    return reverse("keypair_detail", kwargs={"public_id": record.public_id})


def url(name: str, record) -> str:
    return reverse(name, kwargs={"public_id": record.public_id})


def public_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def imported(owner, name: str, *, kind: str = Kind.IMPORT, status: str = Status.CREATED) -> KeyPairRequest:
    """A key pair imported into the sandbox, and the portal's record of it."""
    held = get_client("bj").import_keypair(name=name, public_key=public_key(), description="")
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=secrets.token_hex(32),
        client_token=secrets.token_hex(32),
        kind=kind,
        region="bj",
        name=name,
        status=status,
        keypair_id=held.keypair_id,
        fingerprint_sha256=held.fingerprint,
        completed_at=timezone.now(),
    )


def not_in_bcc(owner, name: str, status: str, error_message: str = "") -> KeyPairRequest:
    return KeyPairRequest.objects.create(
        owner=owner,
        form_token_hash=uuid.uuid4().hex,
        client_token=uuid.uuid4().hex,
        region="bj",
        name=name,
        status=status,
        error_message=error_message,
    )


@pytest.fixture
def alice_zh(alice):
    return in_chinese(alice)


@pytest.fixture
def made(alice_zh, portal_on_sandbox) -> KeyPairRequest:
    """Alice's key pair made through the create form, its private key waiting for her browser."""
    assert create(alice_zh, name="build-server").status_code == 302
    record = the_request()
    # The create page's one-time notice ("created in …") is the create flow's, checked with it.
    alice_zh.get(detail(record))
    return record


# --- The key pair's page, in each state -------------------------------------------------------------


def test_waiting_for_download_in_the_browser_that_created_it(alice_zh, made):
    page = chinese_page(alice_zh.get(detail(made)))

    assert "这是您保存私钥的唯一机会。" in page
    assert "下载私钥" in page and "文件格式" in page
    assert "密钥对" in page and "私钥" in page and "SHA256 指纹" in page and "BCC 指纹（MD5）" in page
    assert "华北-北京（bj）" in page
    # Every date names its zone, in the Chinese format.
    assert "年" in page and " UTC" in page


def test_waiting_for_download_in_another_browser(alice, made):
    page = chinese_page(in_chinese(alice).get(detail(made)))

    assert "此私钥只能在创建该密钥对的浏览器中下载，而当前是另一个浏览器。" in page


def test_downloaded_then_reported(alice_zh, made):
    assert alice_zh.post(url("keypair_download", made), {"format": "pem"}).status_code == 200

    downloaded = chinese_page(alice_zh.get(detail(made)))
    asked = chinese_page(alice_zh.post(url("keypair_report", made)))
    alice_zh.post(url("keypair_report", made), {"confirm": "yes"})
    reported = chinese_page(alice_zh.get(detail(made)))

    assert "无法再次下载" in downloaded and "我没有下载过此私钥" in downloaded
    assert "是的，报告：我没有下载过此私钥" in asked
    assert "其私钥可能已落入他人之手：请立即删除此密钥对。" in reported


def test_reported_before_any_download(alice_zh, made):
    alice_zh.post(url("keypair_report", made), {"confirm": "yes"})

    page = chinese_page(alice_zh.get(detail(made)))

    assert "因此门户已清除其私钥" in page


def test_expired_unclaimed(alice_zh, made):
    Delivery.objects.filter(request=made).update(expires_at=timezone.now() - timedelta(minutes=1))

    page = chinese_page(alice_zh.get(detail(made)))

    assert "私钥未在有效期内下载，已被清除。" in page


def test_being_created_failed_and_unknown(alice, alice_zh, portal_on_sandbox):
    pending = not_in_bcc(alice, "pending-one", Status.PENDING)
    # The reconciler writes its sentence in the background, in English; Alice reads it in Chinese.
    with translation.override("en"):
        unknown_sentence = messages.OUTCOME_UNKNOWN.format(reference="req-4711")
    unknown = not_in_bcc(alice, "unknown-one", Status.UNKNOWN, unknown_sentence)
    with translation.override("en"):
        worker_lost = str(messages.WORKER_LOST)
    reconciled = not_in_bcc(alice, "reconciled-one", Status.RECONCILED, worker_lost)
    failed = not_in_bcc(alice, "failed-one", Status.FAILED)

    pending_page = chinese_page(alice_zh.get(detail(pending)))
    unknown_page = chinese_page(alice_zh.get(detail(unknown)))
    reconciled_page = chinese_page(alice_zh.get(detail(reconciled)))
    failed_page = chinese_page(alice_zh.get(detail(failed)))

    assert "BCC 正在创建此密钥对" in pending_page
    assert "参考编号 req-4711" in unknown_page and "BCC 未及时响应" in unknown_page
    assert "BCC 创建此密钥对期间门户停止运行" in reconciled_page
    assert "此密钥对未能创建。" in failed_page


def test_a_create_with_no_answer_is_said_in_chinese(alice_zh, portal_on_sandbox, settings):
    portal_on_sandbox.inject("latency", operation="create", seconds=settings.BCC_READ_TIMEOUT + 1)

    response = create(alice_zh, name="slow-one")

    record = the_request()
    page = chinese_page(alice_zh.get(detail(record)))
    assert response.status_code in (302, 504)
    assert "BCC 未及时响应" in page


def test_imported_and_assigned(alice, alice_zh, portal_on_sandbox):
    own = imported(alice, "laptop-key")
    assigned = imported(alice, "legacy-key", kind=Kind.ASSIGNED)

    own_page = chinese_page(alice_zh.get(detail(own)))
    assigned_page = chinese_page(alice_zh.get(detail(assigned)))

    assert "此密钥对由您自己的公钥导入。" in own_page
    assert "由门户管理员分配给您" in assigned_page


def test_renamed_and_deleted_in_the_console(alice, alice_zh, portal_on_sandbox):
    renamed = imported(alice, "web-server")
    get_client("bj").rename_keypair(renamed.keypair_id, name="web-renamed")
    gone = imported(alice, "gone-server")
    get_client("bj").delete_keypair(gone.keypair_id)

    renamed_page = chinese_page(alice_zh.get(detail(renamed)))
    gone_page = chinese_page(alice_zh.get(detail(gone)))

    assert "已在 BCC 控制台中被修改" in renamed_page and "web-server → web-renamed" in renamed_page
    assert "此密钥对已在门户之外被删除：BCC 中已没有它。" in gone_page


def test_bcc_unreachable(alice, alice_zh, portal_on_sandbox):
    record = imported(alice, "far-server")
    portal_on_sandbox.inject("status", status=500, operation="get")

    page = chinese_page(alice_zh.get(detail(record)))

    assert "无法连接 BCC，当前显示的是门户中的记录" in page
    assert "年" in page and " UTC 无法连接 BCC" in page


def test_close_to_and_past_its_maximum_age(alice, alice_zh, portal_on_sandbox, settings):
    settings.KEYPAIR_MAX_AGE_DAYS = 90
    settings.KEYPAIR_MAX_AGE_DAYS_BY_REGION = {}
    settings.KEYPAIR_EXPIRY_REMINDER_DAYS = [14, 3]
    near = imported(alice, "near-key")
    past = imported(alice, "past-key")
    KeyPairRequest.objects.filter(pk=near.pk).update(bcc_created_at=timezone.now() - timedelta(days=85))
    KeyPairRequest.objects.filter(pk=past.pk).update(bcc_created_at=timezone.now() - timedelta(days=93))

    near_page = chinese_page(alice_zh.get(detail(near)))
    past_page = chinese_page(alice_zh.get(detail(past)))
    listed = chinese_page(alice_zh.get(reverse("keypair_list")))

    assert "此地域的密钥对最长使用期限为 90 天。" in near_page and "到期（5 天后）" in near_page
    assert "3 天前" in past_page
    assert "即将到期" in listed and "已超期" in listed


# --- My key pairs --------------------------------------------------------------------------------


def test_the_list_with_every_state_and_bccs(alice, alice_zh, made, portal_on_sandbox, empty_cache):
    renamed = imported(alice, "web-server")
    get_client("bj").rename_keypair(renamed.keypair_id, name="web-renamed")
    gone = imported(alice, "gone-server")
    get_client("bj").delete_keypair(gone.keypair_id)
    bound = imported(alice, "bound-key")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"])
    get_client("bj").attach_keypair(bound.keypair_id, instance_ids=["i-web1"])
    imported(alice, "legacy-key", kind=Kind.ASSIGNED)
    not_in_bcc(alice, "pending-one", Status.PENDING)
    not_in_bcc(alice, "unknown-one", Status.UNKNOWN)
    not_in_bcc(alice, "failed-one", Status.FAILED)
    # The create form read the region's key pairs moments ago; the list would show that read.
    empty_cache()

    page = chinese_page(alice_zh.get(reverse("keypair_list")))

    assert "我的密钥对" in page
    assert "已在 BCC 控制台中重命名（原名称 web-server）" in page
    assert "已在门户之外被删除" in page and "存在，已绑定 1 个实例" in page
    assert "等待下载" in page and "有效期至 " in page and "已分配给您" in page
    assert "创建中" in page and "结果未知" in page and "失败" in page
    assert "全部地域" in page and "全部状态" in page and "名称包含" in page


def test_the_list_searched_filtered_and_empty(alice, alice_zh, made):
    for number in range(26):
        not_in_bcc(alice, f"batch-{number:02}", Status.FAILED)

    searched = chinese_page(alice_zh.get(reverse("keypair_list"), {"q": "build"}))
    no_match = chinese_page(alice_zh.get(reverse("keypair_list"), {"q": "nothing-like-it", "state": "deleted"}))
    paged = chinese_page(alice_zh.get(reverse("keypair_list")))
    filtered = chinese_page(alice_zh.get(reverse("keypair_list"), {"region": "bj", "state": "waiting"}))

    assert "build-server" in searched
    assert "没有符合搜索条件的密钥对。" in no_match
    assert "第 1 页，共 2 页" in paged
    assert "build-server" in filtered


def test_the_list_empty_and_with_bcc_unreachable(alice, bob, portal_on_sandbox):
    empty = chinese_page(in_chinese(bob).get(reverse("keypair_list")))
    imported(alice, "far-server")
    portal_on_sandbox.inject("status", status=500, operation="list")
    unreachable = chinese_page(in_chinese(alice).get(reverse("keypair_list")))

    assert "您还没有创建任何密钥对。" in empty
    assert "无法连接 BCC，当前显示的是门户中的记录" in unreachable


# --- Rename, delete, report, rotate ---------------------------------------------------------------


def test_the_rename_page_and_bccs_refusals(alice, alice_zh, portal_on_sandbox):
    record = imported(alice, "web-server")
    change = url("keypair_change", record)

    shown = chinese_page(alice_zh.get(change))
    unchanged = chinese_page(alice_zh.post(change, {"name": "web-server", "description": ""}, follow=True))
    saved = alice_zh.post(change, {"name": "web-renamed", "description": ""}, follow=True)
    get_client("bj").delete_keypair(record.keypair_id)
    gone = chinese_page(alice_zh.post(change, {"name": "web-again", "description": ""}), status=409)

    assert "重命名或编辑" in shown and "保存" in shown
    assert "未做任何更改：名称和描述与原来相同。" in unchanged
    assert "密钥对 web-renamed 已保存。" in chinese_page(saved)
    assert "BCC 中已没有此密钥对：它已在门户之外被删除。未做任何更改。" in gone


def test_the_rename_pages_field_errors(alice, alice_zh, portal_on_sandbox):
    record = imported(alice, "web-server")
    wrong = {"name": "", "description": "x" * 141}

    response = alice_zh.post(url("keypair_change", record), wrong)

    assert response.status_code == 400
    assert english_sentences(response.content.decode()) == []
    assert "重命名或编辑" in response.content.decode()


def test_the_rename_page_of_a_key_pair_not_in_bcc(alice, alice_zh, portal_on_sandbox):
    record = not_in_bcc(alice, "failed-one", Status.FAILED)

    page = chinese_page(alice_zh.get(url("keypair_change", record)))

    assert "此密钥对不在 BCC 中，因此无法重命名或修改描述。" in page


def test_the_delete_page_unbound_bound_and_refused(alice, alice_zh, made, portal_on_sandbox):
    unbound = chinese_page(alice_zh.get(url("keypair_delete", made)))
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1", "i-web2"], name="web")
    get_client("bj").attach_keypair(made.keypair_id, instance_ids=["i-web1", "i-web2"])
    bound = chinese_page(alice_zh.get(url("keypair_delete", made)))
    unconfirmed = chinese_page(alice_zh.post(url("keypair_delete", made), {"unbind_all": "yes"}), status=400)
    refused = chinese_page(alice_zh.post(url("keypair_delete", made)), status=409)

    assert "删除此密钥对" in unbound and "尚在等待下载的私钥将被清除。" in unbound
    assert "已绑定 2 个实例" in bound and "运行中" in bound and "从全部 2 个实例解绑，然后删除" in bound
    assert "请勾选复选框，确认所列的每个实例都将解绑此密钥对。" in unconfirmed
    assert "BCC 拒绝删除此密钥对：它已绑定 2 个实例，必须先解绑。" in refused


def test_the_delete_page_with_bcc_down_then_deleted(alice, alice_zh, made, portal_on_sandbox):
    portal_on_sandbox.inject("status", status=500, operation="get")
    unreachable = chinese_page(alice_zh.get(url("keypair_delete", made)))
    portal_on_sandbox.clear_faults()
    deleted = alice_zh.post(url("keypair_delete", made), follow=True)
    again = chinese_page(alice_zh.get(url("keypair_delete", made)))

    assert "无法连接 BCC，当前显示的是门户中的记录。您仍可尝试删除。" in unreachable
    deleted_page = chinese_page(deleted)
    assert "密钥对 build-server 已删除：任何人都无法再用它登录新的实例。" in deleted_page
    assert "其尚在等待下载的私钥已被清除。" in deleted_page
    assert "此密钥对已被删除。" in again


def test_a_delete_bcc_never_received_says_why_in_chinese(alice, alice_zh, portal_on_sandbox, settings):
    record = imported(alice, "web-server")
    settings.BCC_ENDPOINT = "http://127.0.0.1:9/{region}"  # discard: nothing listens
    from keypairs.bcc.factory import reset_clients

    reset_clients()

    page = chinese_page(alice_zh.post(url("keypair_delete", record)), status=503)

    assert "无法连接 BCC（无法连接 BCC）。密钥对未被删除，也未做任何更改，您可以重试。" in page


def test_the_rotate_page_and_its_refusals(alice, alice_zh, portal_on_sandbox):
    old = imported(alice, "old-key")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1", "i-web2"], name="web")
    get_client("bj").attach_keypair(old.keypair_id, instance_ids=["i-web1", "i-web2"])
    rotate = url("keypair_rotate", old)

    lonely = chinese_page(alice_zh.get(rotate))
    new = imported(alice, "new-key")
    shown = chinese_page(alice_zh.get(rotate))
    unchosen = chinese_page(alice_zh.post(rotate, {"confirm": "yes"}), status=400)
    unconfirmed = chinese_page(alice_zh.post(rotate, {"new": str(new.public_id)}), status=400)
    done = alice_zh.post(rotate, {"new": str(new.public_id), "confirm": "yes"}, follow=True)

    assert "您在 华北-北京（bj） 没有其他密钥对" in lonely
    assert "此密钥对：待替换" in shown and "运行中" in shown
    assert "请选择用于替换的密钥对。" in unchosen
    assert "请勾选复选框，确认在这些实例上替换旧密钥对，然后将其删除。" in unconfirmed
    assert "2 个实例现已绑定密钥对 new-key，替换了 old-key，old-key 已删除。" in chinese_page(done)


def test_the_rotate_page_of_a_key_pair_not_in_bcc(alice, alice_zh, portal_on_sandbox):
    record = not_in_bcc(alice, "failed-one", Status.FAILED)

    page = chinese_page(alice_zh.get(url("keypair_rotate", record)))

    assert "只有 BCC 中存在的密钥对才能被替换。" in page


# --- Downloads refused ------------------------------------------------------------------------------


def test_every_refused_download(alice, bob, alice_zh, made):
    bad_format = chinese_page(alice_zh.post(url("keypair_download", made), {"format": "zip"}), status=400)
    other_browser = chinese_page(in_chinese(alice).post(url("keypair_download", made)), status=403)
    not_hers = chinese_page(in_chinese(bob).post(url("keypair_download", made)), status=404)
    alice_zh.post(url("keypair_download", made), {"format": "pem"})
    second = chinese_page(alice_zh.post(url("keypair_download", made)), status=410)
    report_not_his = chinese_page(in_chinese(bob).post(url("keypair_report", made), {"confirm": "yes"}), status=404)

    assert "门户仅提供 .pem 或 .ppk 格式的私钥。" in bad_format
    assert "此私钥只能在创建该密钥对的浏览器中下载。" in other_browser
    assert "此处没有可下载的私钥。" in not_hers
    assert "此私钥已被下载过，且只能下载一次。" in second
    assert "不存在此密钥对。" in report_not_his
    assert "下载被拒绝" in second and "返回密钥对" in second


def test_a_download_after_the_window_closed(alice_zh, made):
    Delivery.objects.filter(request=made).update(expires_at=timezone.now() - timedelta(minutes=1))

    page = chinese_page(alice_zh.post(url("keypair_download", made)), status=410)

    assert "此私钥未在有效期内下载，已被清除。" in page
