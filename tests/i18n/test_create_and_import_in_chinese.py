"""Creating and importing key pairs in Simplified Chinese: every page and every form error.

Django's test client asks in zh-CN (Accept-Language), as a browser set to Chinese does, and
each page must show no English sentence (tests/i18n/english.py) and BCC's words as the
glossary (docs/glossary-zh.md) writes them. The forms are really submitted: BCC is the sandbox.

A few sentences on these pages belong to another area (keypairs/messages.py: the shared quota,
the per-person cap and the rate limit). Until their translation is merged they are allowed
here while they are still English, and only they: the catalogue tests hold them to account.
"""

from __future__ import annotations

import html as html_text
import json
import re
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import translation

from keypairs import limits
from tests.i18n.english import english_sentences
from tests.import_flow import certificate_line, dsa_line, ec_key, private_pem, public_line, rsa_key

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}
HOME_URL = reverse("home")
CREATE_URL = reverse("keypair_create")
IMPORT_URL = reverse("keypair_import")
PREVIEW_URL = reverse("keypair_import_preview")
TOKEN = re.compile(r'<input type="hidden" name="form_token" value="([^"]*)"')
# A label of PuTTYgen's, which exists in English only: the SSH2 refusal quotes it so that the
# person finds the box.
PUTTYGEN_BOX = "Public key for pasting into OpenSSH authorized_keys file"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def back_to_english():
    """The test client's requests leave their language active in this thread: reset it, or
    the next test on this worker would read Chinese where it expects the default English."""
    yield
    translation.deactivate()


def assert_chinese(response, *allowed: str) -> str:
    html = response.content.decode()
    assert response["Content-Language"] == "zh-hans"
    assert english_sentences(html, allowed=allowed) == []
    return html


def token_of(client, url: str) -> str:
    match = TOKEN.search(client.get(url, **CHINESE).content.decode())
    assert match, f"{url} has no form_token"
    return match.group(1)


def create(client, **fields):
    data = {"name": "build-server", "description": "", "region": "bj", "form_token": token_of(client, CREATE_URL)}
    data.update(fields)
    return client.post(CREATE_URL, {key: value for key, value in data.items() if value is not None}, **CHINESE)


def import_key(client, **fields):
    data = {"name": "laptop", "description": "", "region": "bj", "form_token": token_of(client, IMPORT_URL)}
    data.update(fields)
    return client.post(IMPORT_URL, {key: value for key, value in data.items() if value is not None}, **CHINESE)


def errors_of(html: str) -> str:
    """The text of the page's error lists and alerts, for asserting on the messages themselves."""
    found = re.findall(r'<(?:ul class="errorlist"|div class="error")[^>]*>(.*?)</(?:ul|div)>', html, re.S)
    return html_text.unescape(" ".join(re.sub(r"<[^>]+>", " ", text) for text in found))


# --- The pages --------------------------------------------------------------------------


def test_home_is_in_chinese(alice_client, portal_on_sandbox):
    create(alice_client, name="build-server")  # so that "Recent" lists one

    html = assert_chinese(alice_client.get(HOME_URL, **CHINESE))

    assert '<html lang="zh-hans">' in html
    assert "百度智能云 BCC 的 SSH 密钥对" in html
    assert "创建密钥对" in html and "导入公钥" in html and "最近" in html


def test_the_create_form_is_in_chinese(alice_client, portal_on_sandbox):
    html = assert_chinese(alice_client.get(CREATE_URL, **CHINESE))

    for term in ("密钥对", "地域", "私钥", "名称", "描述", "（选填）", "不能包含空格"):
        assert term in html, term


def test_the_create_forms_live_hint_rules_carry_chinese_messages(alice_client, portal_on_sandbox):
    html = alice_client.get(CREATE_URL, **CHINESE).content.decode()

    name_input = re.search(r'<input type="text" name="name"[^>]*>', html).group(0)
    rules = json.loads(html_text.unescape(re.search(r'data-rules="([^"]*)"', name_input).group(1)))
    assert rules["required"] == "请输入名称。"
    assert rules["mustStartWithLetter"] == "名称必须以字母（a–z 或 A–Z）开头。"
    assert rules["tooLong"] == "名称最多 {limit} 个字符，当前为 {length} 个。"
    assert rules["forbiddenCharacters"] == "名称不能包含 {characters}。"
    assert rules["moreCharacters"] == rules["moreCharactersPlural"] == "另外 {count} 个字符"


def test_the_import_form_is_in_chinese(alice_client, portal_on_sandbox):
    html = assert_chinese(alice_client.get(IMPORT_URL, **CHINESE))

    for term in ("密钥对", "地域", "公钥", "私钥", "或在浏览器中生成", "密钥类型", "SHA256 指纹"):
        assert term in html, term


# --- The create form's errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"name": ""}, ["请输入名称。"], id="no-name"),
        pytest.param(
            {"name": " web server"},
            ["名称必须以字母（a–z 或 A–Z）开头。", "名称不能包含 ' '（空格）。"],
            id="starts-with-a-space",
        ),
        pytest.param({"name": "中文"}, ["名称必须以字母（a–z 或 A–Z）开头。"], id="starts-with-chinese"),
        pytest.param({"name": "a" * 66}, ["名称最多 65 个字符，当前为 66 个。"], id="too-long"),
        pytest.param(
            {"name": "web\u200bserver"},
            ["名称不能包含 U+200B ZERO WIDTH SPACE（不可见字符）。"],
            id="invisible-character",
        ),
        pytest.param(
            {"name": "web\u0430"},
            ["名称不能包含 'а'（U+0430 CYRILLIC SMALL LETTER A）。"],
            id="look-alike-letter",
        ),
        pytest.param(
            {"name": "web\nserver"},
            ["名称不能包含 U+000A LINE FEED（控制字符）。"],
            id="control-character",
        ),
        pytest.param(
            {"name": "a<b>c!d@e#f$g"},
            ["名称不能包含 '<'、'>'、'!'、'@'、'#' 或 另外 1 个字符。"],
            id="many-characters",
        ),
        pytest.param(
            {"description": "<script>"},
            ["描述不能包含 '<' 或 '>'。"],
            id="description-characters",
        ),
        pytest.param({"description": "x" * 141}, ["描述最多 140 个字符，当前为 141 个。"], id="description-too-long"),
        pytest.param({"region": "mars"}, ["请选择列出的地域之一。"], id="unknown-region"),
        pytest.param({"form_token": ""}, ["此表单的一次性令牌已丢失。"], id="no-token"),
        pytest.param({"form_token": "not a token"}, ["此表单的一次性令牌格式有误。"], id="malformed-token"),
    ],
)
def test_every_create_form_error_is_in_chinese(alice_client, portal_on_sandbox, fields, expected):
    response = create(alice_client, **fields)

    assert response.status_code == 400
    html = assert_chinese(response)
    for message in expected:
        assert message in errors_of(html)


def test_someone_elses_form_is_refused_in_chinese(alice_client, bob_client, portal_on_sandbox):
    token = token_of(alice_client, CREATE_URL)
    create(alice_client, form_token=token)

    response = create(bob_client, form_token=token)

    assert "此表单已提交过。如需再创建一个密钥对，请刷新页面。" in assert_chinese(response)


def test_the_namesake_warning_is_in_chinese(alice_client, portal_on_sandbox):
    create(alice_client, name="build-server", region="bj")

    response = create(alice_client, name="build-server", region="bj")

    html = assert_chinese(response)
    assert "已有名为 build-server 的密钥对" in html
    assert "仍然创建" in html and "打开您的密钥对 build-server" in html


def test_the_per_person_cap_is_refused_in_chinese(alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_MAX_PER_USER_PER_REGION = 1
    create(alice_client, name="first")

    response = create(alice_client, name="second")

    assert response.status_code == 409
    with translation.override("zh-hans"):
        cap = re.sub(r"<[^>]+>", "", limits.cap_sentence(count=1, limit=1, region="bj"))
    # The sentence links to the list: its link text is a text of its own.
    pieces = [*cap.split("My key pairs"), "My key pairs"] if not HAN.search(cap) else []
    assert_chinese(response, *pieces)


def test_the_rate_limit_is_refused_in_chinese(alice_client, portal_on_sandbox, settings):
    settings.KEYPAIR_CREATE_RATE_LIMIT = 1
    settings.KEYPAIR_CREATE_RATE_WINDOW_SECONDS = 600
    create(alice_client, name="first")

    response = create(alice_client, name="second")

    assert response.status_code == 429
    html = assert_chinese(response)
    assert "10 分钟" in errors_of(html)


@pytest.mark.parametrize(
    ("seconds", "window", "wait"),
    [(60, "分钟", "60 秒"), (3600, "小时", "60 分钟"), (600, "10 分钟", "10 分钟"), (7200, "2 小时", "120 分钟")],
)
def test_the_rate_limits_durations_are_in_chinese(seconds, window, wait):
    with translation.override("zh-hans"):
        assert (limits._window_text(seconds), limits._wait_text(seconds)) == (window, wait)


def test_the_created_key_pair_is_announced_in_chinese(alice_client, portal_on_sandbox):
    response = create(alice_client, name="build-server", region="gz")

    landed = alice_client.get(response["Location"], **CHINESE).content.decode()
    assert "创建密钥对 build-server。" in landed


# --- The import form's errors ------------------------------------------------------------


def rsa_1024_line() -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return public_line(rsa_key(1024))


KEY_REFUSALS = [
    pytest.param(lambda: "", "请粘贴公钥，或选择 .pub 文件。", id="empty"),
    pytest.param(lambda: private_pem(ec_key()), "这是私钥", id="private-key"),
    pytest.param(lambda: "x" * (16 * 1024 + 1), "内容超过 16 KiB", id="too-large"),
    pytest.param(lambda: public_line(ec_key()) + "\n" + public_line(ec_key()), "内容共有 2 行", id="two-keys"),
    pytest.param(lambda: dsa_line(), "这是 DSA 密钥（ssh-dss）", id="dsa"),
    pytest.param(lambda: rsa_1024_line(), "此 RSA 密钥为 1024 位", id="short-rsa"),
    pytest.param(
        lambda: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJvYm90cyBhcmUgbm90IGtleXMgYnV0IHRoaXMgaXM",
        "BCC 不接受 ssh-ed25519 密钥",
        id="ed25519",
    ),
    pytest.param(lambda: "ssh-foo AAAA", "BCC 不接受此类型的密钥", id="unknown-type"),
    pytest.param(
        lambda: "ssh-rsa-cert-v01@openssh.com AAAAHHNzaC1yc2EtY2VydC12MDFAb3BlbnNzaC5jb20= cert",
        "这不是 OpenSSH 公钥",
        id="not-a-certificate",
    ),
    pytest.param(lambda: 'from="10.0.0.1" ' + public_line(ec_key()), "authorized_keys 选项", id="options"),
    pytest.param(lambda: "hello there", "这不是 OpenSSH 公钥", id="not-a-key"),
    pytest.param(
        lambda: "---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----",
        "SSH2 格式公钥",
        id="ssh2",
    ),
    pytest.param(lambda: public_line(ec_key(), "bad\u200bcomment"), "注释包含不可见字符", id="comment"),
]


@pytest.mark.parametrize(("key", "expected"), KEY_REFUSALS)
def test_every_key_refusal_is_in_chinese(alice_client, portal_on_sandbox, key, expected):
    response = import_key(alice_client, public_key=key())

    assert response.status_code == 400
    html = assert_chinese(response, PUTTYGEN_BOX)
    assert expected in errors_of(html)


@pytest.mark.parametrize(("key", "expected"), KEY_REFUSALS)
def test_every_key_refusal_in_the_live_preview_is_in_chinese(alice_client, key, expected):
    answer = alice_client.post(PREVIEW_URL, {"public_key": key()}, **CHINESE).json()

    assert answer["ok"] is False
    assert expected in answer["message"]
    assert english_sentences(answer["message"], allowed=(PUTTYGEN_BOX,)) == []


def test_a_certificate_is_refused_in_chinese(alice_client):
    answer = alice_client.post(PREVIEW_URL, {"public_key": certificate_line()}, **CHINESE).json()

    assert answer["message"].startswith("这是 SSH 证书，不是公钥。")


def test_a_pasted_key_and_a_file_together_are_refused_in_chinese(alice_client, portal_on_sandbox):
    upload = BytesIO(public_line(ec_key()).encode())
    upload.name = "id_ecdsa.pub"

    response = import_key(alice_client, public_key=public_line(ec_key()), public_key_file=upload)

    assert "请粘贴公钥或选择 .pub 文件，二者只能选其一。" in errors_of(assert_chinese(response))


def test_the_import_forms_name_errors_are_in_chinese(alice_client, portal_on_sandbox):
    response = import_key(alice_client, name=" 中文", public_key=public_line(ec_key()))

    html = assert_chinese(response)
    assert "名称必须以字母（a–z 或 A–Z）开头。" in errors_of(html)
    # What the portal understood of the key is shown again, in Chinese.
    assert "门户从该密钥识别出的信息：" in html and "256 位" in html


def test_an_import_namesake_and_a_key_in_bcc_already_are_in_chinese(alice_client, bob_client, portal_on_sandbox):
    key = public_line(ec_key())
    assert import_key(alice_client, name="laptop", public_key=key).status_code == 302

    warned = assert_chinese(import_key(alice_client, name="laptop", public_key=public_line(ec_key())))
    assert "仍然导入" in warned and "已有名为 laptop 的密钥对" in warned

    own = assert_chinese(import_key(alice_client, name="again", public_key=key))
    assert "此公钥已在 BCC 中，即您的密钥对 laptop。" in errors_of(own)

    theirs = assert_chinese(import_key(bob_client, name="mine", public_key=key))
    assert "属于一个不是您的密钥对" in errors_of(theirs)


def test_an_import_is_announced_in_chinese(alice_client, portal_on_sandbox):
    response = import_key(alice_client, name="laptop", region="gz", public_key=public_line(ec_key()))

    landed = alice_client.get(response["Location"], **CHINESE).content.decode()
    assert "导入密钥对 laptop。" in landed


def test_the_import_form_already_used_is_in_chinese(alice_client, bob_client, portal_on_sandbox):
    token = token_of(alice_client, IMPORT_URL)
    import_key(alice_client, form_token=token, public_key=public_line(ec_key()))

    response = import_key(bob_client, form_token=token, public_key=public_line(ec_key()))

    assert "此表单已提交过。如需再导入一个公钥，请刷新页面。" in errors_of(assert_chinese(response))


# --- English stays English ----------------------------------------------------------------


def test_without_chinese_the_forms_stay_in_english(alice_client, portal_on_sandbox):
    response = alice_client.post(CREATE_URL, {"name": " x", "region": "bj", "form_token": "t" * 43})

    html = response.content.decode()
    assert "The name must start with a letter (a–z or A–Z)." in html
    assert "The name may not contain &#x27; &#x27; (space)." in html
    assert "密钥对" not in html
