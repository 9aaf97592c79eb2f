"""Every kind of mail the portal sends, received by a real SMTP server on loopback, in its reader's language.

Mei chose Simplified Chinese (``PersonLanguage``, as the language switch or her sign-in keeps it);
Ed never chose a language, so he reads ``LANGUAGE_CODE`` (English). Each mail is checked as
received: subject and body with no English sentence (``tests.i18n.english``; ids, names, commands
and URLs may stay), its dates in the Chinese format naming the zone. A mail to several people of
different languages goes as one mail per language, each in its own.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone, translation

from keypairs.access_expiry import end_bindings, expire_requests, warn_ending
from keypairs.audit import Origin
from keypairs.bcc.factory import get_client
from keypairs.models import AccessRule, Departure, InstanceBinding
from keypairs.offboarding import person_left
from keypairs.services.access_decisions import access_request_approve, access_request_deny, access_request_retry_bind
from keypairs.services.access_requests import access_request_create
from keypairs.services.binding import TargetInstance, keypair_bind
from portal.auth.roles import Role
from portal.languages import remember_language
from tests.access_world import approver, pending_request
from tests.auth_people import person
from tests.i18n.english import english_sentences
from tests.i18n.keypairs_recorded import recorded as made
from tests.key_ages import aged, days_before_expiry, run_at
from tests.sandbox_instances import linux_instances

pytestmark = pytest.mark.usefixtures("portal_on_sandbox")


@pytest.fixture(autouse=True)
def default_language_after():
    """The test client's requests in Chinese leave Chinese active in this thread: not for the next test."""
    yield
    translation.deactivate()


ORIGIN = Origin()
# A date as the Chinese format writes it (portal/formats/zh_Hans): "2026年12月3日 15:04 UTC".
CHINESE_DATE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} UTC")
HAN = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_DATE = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC")


def in_chinese(mail, *allowed: str) -> str:
    """The mail's text, after checking that neither its subject nor its body has an English sentence."""
    assert english_sentences(mail.subject, allowed=allowed) == [], mail.subject
    assert english_sentences(mail.body, allowed=allowed) == [], mail.body
    assert HAN.search(mail.subject) and HAN.search(mail.body)
    return mail.subject + "\n" + mail.body


def chinese_person(username: str, *roles: Role):
    user = person(username, *roles)
    user.email = f"{username}@example.com"
    user.save()
    remember_language(user, "zh-hans")
    return user


def english_person(username: str, *roles: Role):
    user = person(username, *roles)
    user.email = f"{username}@example.com"
    user.save()
    return user


@pytest.fixture
def mei(db):
    """A developer who chose Simplified Chinese."""
    return chinese_person("mei", Role.DEVELOPER)


@pytest.fixture
def approval_rule(db) -> AccessRule:
    return AccessRule.objects.create(
        name="db", sso_group="team-db", region="bj", tag_key="team", tag_value="db", requires_approval=True
    )


def one_mail_to(smtp_server, address: str):
    [mail] = smtp_server.mails_to(address)
    assert mail.envelope_to == [address]
    return mail


# --- Access requests -------------------------------------------------------------------------------


def test_a_request_goes_to_each_approver_in_their_language_one_mail_each(
    mei, approval_rule, portal_on_sandbox, smtp_server
):
    carol = approver("carol")
    remember_language(carol, "zh-hans")
    approver("ed")  # never chose a language
    linux_instances(portal_on_sandbox, "bj", ids=["i-db1"], tags={"team": "db"})
    keypair = made(mei, "deploy")

    access_request_create(
        requester=mei,
        keypair_request=keypair,
        rule=approval_rule,
        instance_ids=["i-db1"],
        duration=timedelta(hours=3),
        reason="上线新版本",
        origin=ORIGIN,
    )

    assert len(smtp_server.received) == 2  # one per language, each to its reader alone
    chinese = in_chinese(one_mail_to(smtp_server, "carol@example.com"))
    assert "mei 申请依据访问规则 db（需要审批）将密钥对 deploy" in chinese and "地域 bj" in chinese
    assert "时长：3 小时" in chinese and "申请原因：上线新版本" in chinese and CHINESE_DATE.search(chinese)
    english = one_mail_to(smtp_server, "ed@example.com")
    assert english.subject == "mei asks to bind key pair deploy to instances"
    assert "Please approve or deny it by" in english.body and ENGLISH_DATE.search(english.body)


def test_approved_then_the_bind_retried_are_mailed_in_chinese(mei, portal_on_sandbox, smtp_server):
    carol = approver("carol")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], name="web-1")
    request = pending_request(mei, made(mei, "web"), ["i-web1"], duration=timedelta(hours=2))
    request.decide_by = timezone.now() + timedelta(hours=1)
    request.save()
    portal_on_sandbox.inject("status", status=500, operation="list_instances", count=5)

    access_request_approve(approver=carol, access_request=request, reason="可以", origin=ORIGIN)

    approved = in_chinese(one_mail_to(smtp_server, "mei@example.com"))
    assert "carol 已批准您将密钥对 web" in approved and "审批人备注：可以" in approved
    assert (
        "未绑定：" in approved
        and "门户无法从 BCC 读取实例" in approved
        and "请联系审批人在申请页面重试绑定" in approved
    )

    portal_on_sandbox.clear_faults()
    smtp_server.received.clear()
    access_request_retry_bind(approver=carol, access_request=request, origin=ORIGIN)

    retried = in_chinese(one_mail_to(smtp_server, "mei@example.com"))
    assert "已重试绑定 web" in retried and "您的密钥对现已绑定到：" in retried and "时长 2 小时" in retried


def test_denied_and_expired_are_mailed_in_chinese_with_the_date_and_zone(mei, portal_on_sandbox, smtp_server):
    carol = approver("carol")
    web = made(mei, "web")
    now = timezone.now()
    denied = pending_request(mei, web, ["i-web1"], created_at=now)
    access_request_deny(approver=carol, access_request=denied, reason="本周冻结变更", origin=ORIGIN)

    text = in_chinese(one_mail_to(smtp_server, "mei@example.com"))
    assert "已被拒绝" in text and "拒绝原因：本周冻结变更" in text

    smtp_server.received.clear()
    expiring = pending_request(mei, web, ["i-web2"], created_at=now - timedelta(hours=80))
    expire_requests(now=now, origin=ORIGIN)

    text = in_chinese(one_mail_to(smtp_server, "mei@example.com"))
    assert "未经审批已过期" in text and CHINESE_DATE.search(text)
    assert timezone.localtime(expiring.decide_by).strftime("%H:%M") in text


# --- Bindings --------------------------------------------------------------------------------------


def test_a_binding_ending_then_ended_is_mailed_in_chinese(mei, portal_on_sandbox, smtp_server, settings):
    settings.ACCESS_EXPIRY_WARNING_HOURS = 2
    web = made(mei, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"], name="web-1")
    now = timezone.now()
    keypair_bind(
        actor=mei,
        keypair_request=web,
        instances=[TargetInstance("i-web1", name="web-1")],
        origin=ORIGIN,
        expires_at=now + timedelta(hours=1),
    )

    warn_ending(now=now, origin=ORIGIN)
    ending = in_chinese(one_mail_to(smtp_server, "mei@example.com"))
    assert "即将结束" in ending and "i-web1 (web-1): 至 " in ending
    assert CHINESE_DATE.search(ending) and "地域 bj" in ending

    smtp_server.received.clear()
    end_bindings(now=now + timedelta(hours=2), origin=ORIGIN)
    ended = in_chinese(one_mail_to(smtp_server, "mei@example.com"))
    assert "已结束" in ended and "绑定时限已到" in ended and "i-web1" in ended


def test_the_owner_of_a_replaced_key_pair_is_told_in_chinese_and_an_english_reader_in_english(
    mei, portal_on_sandbox, smtp_server
):
    ed = english_person("ed", Role.DEVELOPER)
    linux_instances(portal_on_sandbox, "bj", ids=["i-1", "i-2"])
    meis, eds = made(mei, "mei-key"), made(ed, "ed-key")
    client = get_client("bj")
    client.attach_keypair(meis.keypair_id, instance_ids=["i-1"])
    client.attach_keypair(eds.keypair_id, instance_ids=["i-2"])
    bobs = made(person("bob", Role.DEVELOPER), "bob-key")

    keypair_bind(
        actor=bobs.owner,
        keypair_request=bobs,
        instances=[TargetInstance("i-1", keypair_id=meis.keypair_id), TargetInstance("i-2", keypair_id=eds.keypair_id)],
        origin=ORIGIN,
    )

    text = in_chinese(one_mail_to(smtp_server, "mei@example.com"))
    assert "您的密钥对 mei-key 已在 1 个实例上失效" in text and "由 bob 绑定" in text
    english = one_mail_to(smtp_server, "ed@example.com")
    assert english.subject == "Your key pair ed-key no longer works on 1 instance"
    assert "They now hold key pair bob-key" in english.body


# --- Key age and people who leave ------------------------------------------------------------------


def test_the_expiry_reminder_is_in_chinese_with_the_date_and_zone(mei, smtp_server, settings):
    settings.KEYPAIR_MAX_AGE_DAYS = 90
    settings.KEYPAIR_MAX_AGE_DAYS_BY_REGION = {}
    settings.KEYPAIR_EXPIRY_REMINDER_DAYS = [14, 3]
    record = aged(mei, "build-server", days_old=1)

    run_at(days_before_expiry(record, 13.5))

    text = in_chinese(one_mail_to(smtp_server, "mei@example.com"))
    assert "您的密钥对 build-server 将在 14 天内到期" in text and "最长使用期限" in text
    assert "到期时间：" in text and len(CHINESE_DATE.findall(text)) == 2


@pytest.fixture
def admins(db):
    """Two portal admins: Pan reads Chinese, Ed never chose a language."""
    return chinese_person("pan", Role.PORTAL_ADMIN), english_person("ed", Role.PORTAL_ADMIN)


def test_a_person_leaving_is_told_to_each_admin_in_their_language(
    mei, admins, portal_on_sandbox, smtp_server, settings
):
    settings.OFFBOARDING_POLICY, settings.OFFBOARDING_GRACE_DAYS = "delete", 14
    made(mei, "web")

    person_left(person=mei, route=Departure.Route.DEACTIVATED, origin=ORIGIN)

    assert len(smtp_server.received) == 2
    text = in_chinese(one_mail_to(smtp_server, "pan@example.com"))
    assert "mei 已于 " in text and "离职：已在门户中停用。" in text and len(CHINESE_DATE.findall(text)) == 2
    english = one_mail_to(smtp_server, "ed@example.com")
    assert english.subject == "mei left: what happens to their key pairs"
    assert "Deactivated in the portal" in english.body and ENGLISH_DATE.search(english.body)


def test_the_policy_summary_is_in_each_admins_language(mei, admins, portal_on_sandbox, smtp_server, settings):
    settings.OFFBOARDING_POLICY, settings.OFFBOARDING_GRACE_DAYS = "delete", 14
    web = made(mei, "web")
    departure = person_left(person=mei, route=Departure.Route.OFFBOARDED, origin=ORIGIN)
    Departure.objects.filter(pk=departure.pk).update(delete_after=timezone.now() - timedelta(minutes=1))
    smtp_server.received.clear()

    call_command("enforce_key_policy", stdout=io.StringIO(), stderr=io.StringIO())

    text = in_chinese(one_mail_to(smtp_server, "pan@example.com"), "manage.py enforce_key_policy")
    assert "密钥对策略：已执行 1 项操作" in text and CHINESE_DATE.search(text)
    assert "已离职人员的密钥对（策略 delete）：" in text
    assert f"web（{web.keypair_id}，bj，所有者 mei）：已删除" in text
    english = one_mail_to(smtp_server, "ed@example.com")
    assert english.subject == "Key pair policy: 1 step taken"
    assert f"- web ({web.keypair_id}, bj, owner mei): deleted" in english.body


def test_the_stuck_bindings_summary_is_in_chinese(mei, admins, portal_on_sandbox, smtp_server):
    web = made(mei, "web")
    linux_instances(portal_on_sandbox, "bj", ids=["i-web1"])
    now = timezone.now()
    keypair_bind(
        actor=mei,
        keypair_request=web,
        instances=[TargetInstance("i-web1")],
        origin=ORIGIN,
        expires_at=now + timedelta(minutes=1),
    )
    portal_on_sandbox.inject("status", status=500, operation="detach", count=20)

    call_command("expire_access", now=now + timedelta(minutes=2), stdout=io.StringIO(), stderr=io.StringIO())

    # The error BCC's client gave, kept on the binding for the admins (operator's text, as in the audit log).
    [binding] = InstanceBinding.objects.all()
    text = in_chinese(one_mail_to(smtp_server, "pan@example.com"), "expire_access", binding.last_error)
    assert "1 个绑定无法解除" in text and "web（" in text and "在 i-web1 上：已尝试 1 次" in text
    assert CHINESE_DATE.search(text)
    english = one_mail_to(smtp_server, "ed@example.com")
    assert english.subject == "1 binding could not be removed"
