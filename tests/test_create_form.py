"""The create form (keypairs.forms.KeyPairCreateForm) and its live hints (static/js/keypair-form.js).

Three layers, each as a user meets it: the form's verdicts and what it keeps of the input;
the HTML it renders (the hints the browser enforces with JavaScript off); and, in a real
Chromium, the script's live hints and its double-submit guard. The form is also held to the
BCC sandbox, the portal's stand-in for BCC: it accepts exactly what the sandbox accepts.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.http import QueryDict
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from keypairs import validation
from keypairs.forms import (
    DESCRIPTION_HELP_TEXT,
    FORM_TOKEN_INVALID,
    FORM_TOKEN_MISSING,
    NAME_HELP_TEXT,
    REGION_INVALID,
    KeyPairCreateForm,
)
from keypairs.sandbox import rules as sandbox_rules
from keypairs.sandbox.errors import SandboxError
from tests.hostile_inputs import ANY_TEXT, HOSTILE_CHARACTERS, HOSTILE_DESCRIPTIONS, HOSTILE_NAMES

SCRIPT = Path(settings.BASE_DIR) / "static" / "js" / "keypair-form.js"
TOKEN = "0123456789abcdefABCDEF-_0123456789abcdefABC"


def submit(**fields) -> KeyPairCreateForm:
    data = {"name": "keypair01", "description": "", "region": settings.BCC_DEFAULT_REGION, "form_token": TOKEN}
    data.update(fields)
    return KeyPairCreateForm(data={key: value for key, value in data.items() if value is not None})


class _Inputs(HTMLParser):
    """The attributes of every <input> and <select>, by name."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_name: dict[str, dict[str, str | None]] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in {"input", "select"}:
            self.by_name[attributes["name"]] = attributes


def rendered_inputs(form: KeyPairCreateForm) -> dict[str, dict[str, str | None]]:
    return _Inputs(str(form)).by_name


# --- what the form accepts and keeps ---------------------------------------------------------------


def test_it_accepts_a_valid_submission_and_keeps_it_exactly():
    form = submit(name="Web-01_a/b.c中文", description=" 生产环境, 2024。 ", region="gz")

    assert form.is_valid(), form.errors
    assert form.cleaned_data == {
        "name": "Web-01_a/b.c中文",
        "description": " 生产环境, 2024。 ",
        "region": "gz",
        "form_token": TOKEN,
    }


def test_a_missing_description_is_an_empty_one():
    form = submit(description=None)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["description"] == ""


def test_it_asks_for_a_name_when_there_is_none():
    assert submit(name="").errors["name"] == ["Enter a name."]
    assert submit(name=None).errors["name"] == ["Enter a name."]


def test_it_does_not_strip_a_name_of_spaces_into_an_empty_one():
    form = submit(name="   ")

    assert form.errors["name"] == [validation.NAME_MUST_START_WITH_LETTER, "The name may not contain ' ' (space)."]


def test_it_rejects_a_leading_space_and_keeps_the_input_as_typed():
    form = submit(name="  keypair01")

    assert form.errors["name"] == [validation.NAME_MUST_START_WITH_LETTER, "The name may not contain ' ' (space)."]
    assert form.data["name"] == "  keypair01"
    assert form["name"].value() == "  keypair01"
    assert rendered_inputs(form)["name"]["value"] == "  keypair01"


def test_it_keeps_a_rejected_description_as_typed():
    form = submit(description="  two  spaces\tand a tab ")

    assert form.errors["description"] == [
        "The description may not contain U+0009 CHARACTER TABULATION (a control character)."
    ]
    assert rendered_inputs(form)["description"]["value"] == "  two  spaces\tand a tab "


def test_it_reports_every_broken_rule_of_a_name_at_once():
    form = submit(name="1 " + "x" * 68)

    assert form.errors["name"] == [
        validation.NAME_MUST_START_WITH_LETTER,
        "The name may not contain ' ' (space).",
        "The name can be 65 characters at most; it has 70.",
    ]
    assert form.has_error("name", "too_long")


def test_a_nul_gets_one_precise_message_not_djangos_generic_one():
    form = submit(name="key\x00pair", description="a\x00")

    assert form.errors["name"] == ["The name may not contain U+0000 NULL (a control character)."]
    assert form.errors["description"] == ["The description may not contain U+0000 NULL (a control character)."]


def test_bytes_that_are_not_utf8_are_rejected_not_repaired():
    # Django decodes a form body with errors="replace"; the replacement character is then refused.
    data = QueryDict(f"name=key%ED%A0%80pair&region=bj&form_token={TOKEN}")
    form = KeyPairCreateForm(data=data)

    assert form.errors["name"] == ["The name may not contain '\ufffd' (U+FFFD REPLACEMENT CHARACTER)."]


def test_a_description_of_141_characters_is_rejected_and_140_accepted():
    assert submit(description="x" * 140).is_valid()
    assert submit(description="x" * 141).errors["description"] == [
        "The description can be 140 characters at most; it has 141."
    ]


# --- region and form token ---------------------------------------------------------------------------


def test_it_offers_the_configured_regions_with_the_default_selected():
    form = KeyPairCreateForm()

    assert [value for value, _ in form.fields["region"].choices] == settings.BCC_REGIONS
    assert form["region"].value() == settings.BCC_DEFAULT_REGION
    assert dict(form.fields["region"].choices)["bj"] == "Beijing (bj)"


@override_settings(BCC_REGIONS=["bj", "xx-test"], BCC_DEFAULT_REGION="xx-test")
def test_it_reads_the_regions_when_the_form_is_made():
    form = KeyPairCreateForm()

    assert form.fields["region"].choices == [("bj", "Beijing (bj)"), ("xx-test", "xx-test")]
    assert form["region"].value() == "xx-test"
    assert submit(region="xx-test").is_valid()
    assert submit(region="gz").errors["region"] == [REGION_INVALID]


@pytest.mark.parametrize("region", ["", None, "nowhere", "BJ", " bj", "bj\x00"])
def test_it_only_accepts_an_offered_region(region):
    assert submit(region=region).errors["region"] == ["Choose one of the offered regions."]


@pytest.mark.parametrize("token", ["", None])
def test_it_requires_the_form_token(token):
    assert submit(form_token=token).errors["form_token"] == [FORM_TOKEN_MISSING]


@pytest.mark.parametrize("token", ["x" * 65, "tok en", "tök", "tok\x00", " " + TOKEN, "short", "A1:b2.~!" * 6])
def test_it_rejects_a_form_token_that_could_not_have_been_issued(token):
    assert FORM_TOKEN_INVALID in submit(form_token=token).errors["form_token"]


def test_it_accepts_a_form_token_shaped_like_the_ones_the_view_issues():
    token = "A1b2-_" * 10 + "abcd"
    form = submit(form_token=token)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["form_token"] == token


# --- what the browser is told ------------------------------------------------------------------------


def test_the_name_input_carries_the_rules_as_hints():
    name = rendered_inputs(KeyPairCreateForm())["name"]

    assert name["maxlength"] == "65"
    assert name["pattern"] == validation.NAME_HTML_PATTERN
    assert name["autocomplete"] == "off"
    assert name["spellcheck"] == "false"
    assert "required" in name
    assert name["aria-describedby"] == "id_name_helptext id_name_hint"
    assert name["data-hint-id"] == "id_name_hint"
    assert name["data-count-id"] == "id_name_count"
    assert json.loads(name["data-rules"]) == validation.browser_rules("name")


def test_the_description_input_carries_the_rules_as_hints():
    description = rendered_inputs(KeyPairCreateForm())["description"]

    assert description["maxlength"] == "140"
    assert description["pattern"] == validation.DESCRIPTION_HTML_PATTERN
    assert description["autocomplete"] == "off"
    assert description["spellcheck"] == "false"
    assert "required" not in description
    assert description["aria-describedby"] == "id_description_helptext id_description_hint"
    assert json.loads(description["data-rules"]) == validation.browser_rules("description")


def test_the_help_texts_state_the_rules():
    html = str(KeyPairCreateForm())

    assert KeyPairCreateForm.base_fields["name"].help_text == NAME_HELP_TEXT
    assert KeyPairCreateForm.base_fields["description"].help_text == DESCRIPTION_HELP_TEXT
    assert '<div class="helptext" id="id_name_helptext">1 to 65 characters.' in html
    assert "Optional, up to 140 characters" in html


def test_a_field_with_errors_is_described_by_its_errors_too():
    name = rendered_inputs(submit(name="1"))["name"]

    assert name["aria-invalid"] == "true"
    assert name["aria-describedby"] == "id_name_helptext id_name_error id_name_hint"


def test_the_hint_ids_follow_a_form_prefix():
    form = KeyPairCreateForm(prefix="create")

    assert form["name"].hint_id == "id_create-name_hint"
    assert form["name"].count_id == "id_create-name_count"
    assert rendered_inputs(form)["create-name"]["data-hint-id"] == "id_create-name_hint"


def test_the_form_token_is_a_hidden_input():
    token = rendered_inputs(KeyPairCreateForm(initial={"form_token": TOKEN}))["form_token"]

    assert token["type"] == "hidden"
    assert token["value"] == TOKEN


def test_markup_in_the_input_is_escaped_in_the_messages_and_the_value():
    form = submit(name='a"><script>alert(1)</script>', description="<img src=x onerror=alert(1)>")
    html = str(form)

    assert not form.is_valid()
    assert "<script" not in html
    assert "<img" not in html
    assert "The name may not contain &#x27;&quot;&#x27;, &#x27;&gt;&#x27;, &#x27;&lt;&#x27;" in html
    assert rendered_inputs(form)["name"]["value"] == 'a"><script>alert(1)</script>'


def test_every_hostile_input_renders_as_text_that_can_be_sent():
    for entry in HOSTILE_NAMES + HOSTILE_DESCRIPTIONS:
        if re.search("[\ud800-\udfff]", entry.value):
            continue  # a lone surrogate cannot come through a form; see test_validation_rules
        html = str(submit(name=entry.value, description=entry.value))
        html.encode("utf-8")
        assert "<script" not in html, entry.label


# --- the form against the BCC sandbox ------------------------------------------------------------------


def sandbox_accepts(check, value: str) -> bool:
    try:
        check(value)
    except SandboxError:
        return False
    return True


def form_accepts(field: str, value: str) -> bool:
    return field not in submit(**{field: value}).errors


NEAR_VALID = st.builds(
    lambda valid, position, character: (
        valid[: position % (len(valid) + 1)] + character + valid[position % (len(valid) + 1) :]
    ),
    st.from_regex(r"[A-Za-z][A-Za-z0-9\u4e00-\u9fff\-_/.]{0,64}", fullmatch=True),
    st.integers(min_value=0),
    HOSTILE_CHARACTERS,
)


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.one_of(ANY_TEXT, NEAR_VALID, st.from_regex(r"[A-Za-z][A-Za-z0-9\u4e00-\u9fff\-_/.]{0,70}", fullmatch=True)))
def test_the_form_accepts_a_name_exactly_when_the_sandbox_does(value):
    assert form_accepts("name", value) == sandbox_accepts(sandbox_rules.check_name, value)


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.one_of(ANY_TEXT, NEAR_VALID, st.from_regex(r"[A-Za-z0-9\u4e00-\u9fff ._\-=,，:/。]{0,150}", fullmatch=True)))
def test_the_form_accepts_a_description_exactly_when_the_sandbox_does(value):
    assert form_accepts("description", value) == sandbox_accepts(sandbox_rules.check_description, value)


def test_the_form_and_the_sandbox_agree_on_every_hostile_input():
    for entry in HOSTILE_NAMES:
        assert form_accepts("name", entry.value) == sandbox_accepts(sandbox_rules.check_name, entry.value), entry
    for entry in HOSTILE_DESCRIPTIONS:
        assert form_accepts("description", entry.value) == sandbox_accepts(
            sandbox_rules.check_description, entry.value
        ), entry
