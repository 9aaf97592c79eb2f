"""BCC's name and description rules (keypairs.validation): exact messages, edges, and an oracle.

The oracle is BCC's rule copied straight from shared/reference/bcc-keypair-api.md as a plain
regular expression, independent of the module under test. Property tests hold the module to
it: accepted exactly when the oracle accepts, for any text at all.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from django.core.exceptions import ValidationError
from django.utils.safestring import SafeData
from hypothesis import given, settings
from hypothesis import strategies as st

from keypairs import validation
from keypairs.validation import (
    DESCRIPTION_FORBIDDEN_CHARACTERS,
    DESCRIPTION_TOO_LONG,
    NAME_FORBIDDEN_CHARACTERS,
    NAME_MUST_START_WITH_LETTER,
    NAME_REQUIRED,
    NAME_TOO_LONG,
    describe_character,
    description_problems,
    name_problems,
    validate_description,
    validate_name,
)
from tests.hostile_inputs import ANY_TEXT, HOSTILE_CHARACTERS, HOSTILE_DESCRIPTIONS, HOSTILE_NAMES

# fullmatch, not ^...$: Python's $ also matches before a trailing newline ("a\n").
NAME_ORACLE = re.compile("[A-Za-z][A-Za-z0-9\u4e00-\u9fff\\-_/.]{0,64}")
DESCRIPTION_ORACLE = re.compile("[\u4e00-\u9fffA-Za-z0-9 ._\\-=,，:/。]{0,140}")

VALID_NAMES = st.from_regex(NAME_ORACLE.pattern, fullmatch=True)
VALID_DESCRIPTIONS = st.from_regex(DESCRIPTION_ORACLE.pattern, fullmatch=True)
PROPERTY = settings(max_examples=200, deadline=None)


def _accepts(oracle: re.Pattern[str], value: str) -> bool:
    return oracle.fullmatch(value) is not None


def forbidden(characters: str) -> str:
    return NAME_FORBIDDEN_CHARACTERS.format(characters=characters)


# --- name: what is accepted ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a", "Z", "keypair01", "KeyPair-2024.prod_01/eu", "a-_/.", "a\u4e00", "a\u9fff", "a密钥", "a" * 65],
)
def test_it_accepts_names_that_follow_bccs_rule(name):
    assert name_problems(name) == []
    validate_name(name)  # does not raise


def test_it_counts_a_chinese_character_as_one_character():
    assert name_problems("a" + "中" * 64) == []
    assert name_problems("a" + "中" * 65) == [NAME_TOO_LONG.format(limit=65, length=66)]


# --- name: each rule, its exact message ------------------------------------------------------


def test_it_asks_for_a_name_when_there_is_none():
    assert name_problems("") == ["Enter a name."]


def test_it_says_how_long_a_name_too_long_is():
    assert name_problems("a" * 66) == ["The name can be 65 characters at most; it has 66."]
    assert name_problems("a" * 70) == ["The name can be 65 characters at most; it has 70."]


@pytest.mark.parametrize("name", ["1abc", "-abc", "_abc", "/abc", ".abc", "中文", "0"])
def test_it_requires_the_first_character_to_be_an_ascii_letter(name):
    assert name_problems(name) == ["The name must start with a letter (a–z or A–Z)."]


def test_it_names_a_space_in_a_name():
    assert name_problems("key pair") == ["The name may not contain ' ' (space)."]


def test_it_rejects_a_leading_space_instead_of_stripping_it():
    assert name_problems(" keypair") == [NAME_MUST_START_WITH_LETTER, forbidden("' ' (space)")]


def test_it_rejects_a_trailing_space_instead_of_stripping_it():
    assert name_problems("keypair ") == [forbidden("' ' (space)")]


def test_it_rejects_a_name_of_spaces_without_calling_it_empty():
    assert name_problems("   ") == [NAME_MUST_START_WITH_LETTER, forbidden("' ' (space)")]


def test_it_names_markup_characters_so_that_escaping_can_show_them():
    assert name_problems("a<b") == ["The name may not contain '<'."]
    assert name_problems("a<script>alert(1)</script>") == ["The name may not contain '<', '>', '(' or ')'."]


def test_it_quotes_an_apostrophe_with_double_quotes():
    assert name_problems("o'brien") == ['The name may not contain "\'".']


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a\u200bb", "The name may not contain U+200B ZERO WIDTH SPACE (an invisible character)."),
        ("a\nb", "The name may not contain U+000A LINE FEED (a control character)."),
        (
            "a\r\nb",
            "The name may not contain U+000D CARRIAGE RETURN (a control character)"
            " or U+000A LINE FEED (a control character).",
        ),
        ("a\x00b", "The name may not contain U+0000 NULL (a control character)."),
        ("a\u202eb", "The name may not contain U+202E RIGHT-TO-LEFT OVERRIDE (an invisible character)."),
        ("a\u2066b", "The name may not contain U+2066 LEFT-TO-RIGHT ISOLATE (an invisible character)."),
        ("a\ufeffb", "The name may not contain U+FEFF ZERO WIDTH NO-BREAK SPACE (an invisible character)."),
        ("a\u3164b", "The name may not contain U+3164 HANGUL FILLER (an invisible character)."),
        ("a\u00a0b", "The name may not contain U+00A0 NO-BREAK SPACE (a space character)."),
        ("a\u3000b", "The name may not contain U+3000 IDEOGRAPHIC SPACE (a space character)."),
        ("a\u2028b", "The name may not contain U+2028 LINE SEPARATOR (a line break)."),
        ("e\u0301", "The name may not contain U+0301 COMBINING ACUTE ACCENT (a combining mark)."),
        ("a\ue000", "The name may not contain U+E000 (a private-use character)."),
        ("a\u0378", "The name may not contain U+0378 (an unassigned code point)."),
        ("a\ud800", "The name may not contain U+D800 (a lone surrogate)."),
    ],
)  # fmt: skip
def test_it_names_an_invisible_character_by_code_point_and_unicode_name(name, message):
    assert name_problems(name) == [message]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a\U0001f600", "The name may not contain '\U0001f600' (U+1F600 GRINNING FACE)."),
        ("p\u0430ypal", "The name may not contain '\u0430' (U+0430 CYRILLIC SMALL LETTER A)."),
        ("caf\u00e9", "The name may not contain '\u00e9' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)."),
        ("stra\u00dfe", "The name may not contain '\u00df' (U+00DF LATIN SMALL LETTER SHARP S)."),
        ("key\uff11", "The name may not contain '\uff11' (U+FF11 FULLWIDTH DIGIT ONE)."),
        ("a\u4dff", "The name may not contain '\u4dff' (U+4DFF HEXAGRAM FOR BEFORE COMPLETION)."),
        ("a\ua000", "The name may not contain '\ua000' (U+A000 YI SYLLABLE IT)."),
        ("a\u3400", "The name may not contain '\u3400' (U+3400 CJK UNIFIED IDEOGRAPH-3400)."),
        ("a\u3001", "The name may not contain '\u3001' (U+3001 IDEOGRAPHIC COMMA)."),
        ("a\u212a", "The name may not contain '\u212a' (U+212A KELVIN SIGN)."),
    ],
)
def test_it_shows_a_visible_foreign_character_with_its_code_point_and_name(name, message):
    assert name_problems(name) == [message]


@pytest.mark.parametrize(
    ("name", "first_message"),
    [
        ("\u0430dmin", NAME_MUST_START_WITH_LETTER),
        ("\uff21dmin", NAME_MUST_START_WITH_LETTER),
        ("\u00e9t\u00e9", NAME_MUST_START_WITH_LETTER),
    ],
)
def test_it_does_not_take_a_look_alike_for_a_first_letter(name, first_message):
    assert name_problems(name)[0] == first_message


def test_it_names_a_right_to_left_letter_without_printing_it():
    assert name_problems("a\u05d0") == ["The name may not contain U+05D0 HEBREW LETTER ALEF."]


def test_it_names_each_offending_character_once_in_order_of_appearance():
    assert name_problems("a<<>>&&<") == ["The name may not contain '<', '>' or '&'."]


def test_it_lists_five_offending_characters_then_counts_the_rest():
    assert name_problems("a!#$%&*+") == [forbidden("'!', '#', '$', '%', '&' or 2 other characters")]
    assert name_problems("a!#$%&*") == [forbidden("'!', '#', '$', '%', '&' or 1 other character")]
    assert name_problems("a!#$%&") == [forbidden("'!', '#', '$', '%' or '&'")]


def test_it_reports_every_broken_rule_at_once():
    assert name_problems(" " + "a" * 69) == [
        NAME_MUST_START_WITH_LETTER,
        forbidden("' ' (space)"),
        NAME_TOO_LONG.format(limit=65, length=70),
    ]


def test_it_keeps_a_message_short_for_ten_thousand_distinct_bad_characters():
    name = "a" + "".join(chr(0x0400 + i) for i in range(256)) * 40
    [too_many, too_long] = name_problems(name)
    assert too_many.endswith("or 251 other characters.")
    assert len(too_many) < 400
    assert too_long == NAME_TOO_LONG.format(limit=65, length=len(name))


# --- description -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    ["", "some description", "a b.c_d-e=f,g，h:i/j。", "生产环境的密钥。", "x" * 140, "中" * 140],
)
def test_it_accepts_descriptions_that_follow_bccs_rule(description):
    assert description_problems(description) == []
    validate_description(description)


@pytest.mark.parametrize("description", [" leading", "trailing ", "   ", " " * 140])
def test_it_accepts_the_spaces_bcc_allows_in_a_description_as_typed(description):
    # BCC's description rule allows spaces anywhere; nothing here strips them either.
    assert description_problems(description) == []


def test_it_says_how_long_a_description_too_long_is():
    assert description_problems("x" * 141) == ["The description can be 140 characters at most; it has 141."]
    assert description_problems("中" * 141) == [DESCRIPTION_TOO_LONG.format(limit=140, length=141)]


@pytest.mark.parametrize(
    ("description", "characters"),
    [
        ("a;b", "';'"),
        ("a\tb", "U+0009 CHARACTER TABULATION (a control character)"),
        ("a\u3000b", "U+3000 IDEOGRAPHIC SPACE (a space character)"),
        ("line one\nline two", "U+000A LINE FEED (a control character)"),
        ("a\uff0eb", "'\uff0e' (U+FF0E FULLWIDTH FULL STOP)"),
        ("<b>bold</b>", "'<' or '>'"),
    ],
)
def test_it_names_the_characters_a_description_may_not_contain(description, characters):
    assert description_problems(description) == [DESCRIPTION_FORBIDDEN_CHARACTERS.format(characters=characters)]


# --- the validators, and what the messages are made of -----------------------------------------


def test_validate_name_raises_every_problem_with_a_code():
    with pytest.raises(ValidationError) as raised:
        validate_name(" " + "<" * 70)
    assert [error.code for error in raised.value.error_list] == [
        "must_start_with_letter",
        "forbidden_characters",
        "too_long",
    ]
    assert raised.value.messages == name_problems(" " + "<" * 70)


def test_validate_name_calls_an_empty_name_required():
    with pytest.raises(ValidationError) as raised:
        validate_name("")
    assert [(error.code, error.message) for error in raised.value.error_list] == [("required", NAME_REQUIRED)]


def test_validate_description_raises_every_problem():
    with pytest.raises(ValidationError) as raised:
        validate_description("<" * 141)
    assert raised.value.messages == description_problems("<" * 141)
    assert len(raised.value.messages) == 2


def test_messages_are_plain_text_for_the_template_to_escape():
    for message in name_problems("<script>&'\"") + description_problems("<script>"):
        assert type(message) is str
        assert not isinstance(message, SafeData)


def test_messages_can_always_be_encoded_even_for_lone_surrogates():
    for message in name_problems("\ud800\udfff") + description_problems("\ud83d"):
        message.encode("utf-8")  # raises for a raw surrogate


def test_every_control_character_is_named_by_its_unicode_alias():
    controls = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
    for code_point in controls:
        described = describe_character(chr(code_point))
        prefix = f"U+{code_point:04X} "
        assert described.startswith(prefix) and described.endswith(" (a control character)"), described
        alias = described[len(prefix) : -len(" (a control character)")]
        assert unicodedata.lookup(alias) == chr(code_point)


def test_no_invisible_or_direction_changing_character_is_ever_printed_raw():
    risky_categories = {"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Mc", "Me", "Cs", "Co", "Cn"}
    for code_point in range(0x80, 0x20000):
        character = chr(code_point)
        risky = unicodedata.category(character) in risky_categories or unicodedata.bidirectional(character) in {
            "R",
            "AL",
            "AN",
        }
        if risky:
            assert character not in describe_character(character), f"U+{code_point:04X}"


# --- against the oracle ------------------------------------------------------------------------------


@PROPERTY
@given(ANY_TEXT)
def test_a_name_is_accepted_exactly_when_bccs_rule_accepts_it(value):
    assert (name_problems(value) == []) == _accepts(NAME_ORACLE, value)


@PROPERTY
@given(ANY_TEXT)
def test_a_description_is_accepted_exactly_when_bccs_rule_accepts_it(value):
    assert (description_problems(value) == []) == _accepts(DESCRIPTION_ORACLE, value)


@PROPERTY
@given(VALID_NAMES, st.integers(min_value=0), HOSTILE_CHARACTERS)
def test_one_foreign_character_anywhere_decides_like_bccs_rule(valid, position, character):
    position %= len(valid) + 1
    value = valid[:position] + character + valid[position:]
    assert (name_problems(value) == []) == _accepts(NAME_ORACLE, value)
    assert (description_problems(value) == []) == _accepts(DESCRIPTION_ORACLE, value)


@PROPERTY
@given(VALID_NAMES)
def test_every_name_bccs_rule_accepts_is_accepted(value):
    assert name_problems(value) == []


@PROPERTY
@given(VALID_DESCRIPTIONS)
def test_every_description_bccs_rule_accepts_is_accepted(value):
    assert description_problems(value) == []


@pytest.mark.parametrize(("label", "value"), HOSTILE_NAMES, ids=[entry.label for entry in HOSTILE_NAMES])
def test_a_hostile_name_is_rejected_with_a_message_unless_bcc_allows_it(label, value):
    problems = name_problems(value)
    assert (problems == []) == _accepts(NAME_ORACLE, value)
    assert all(problem.strip() for problem in problems)


@pytest.mark.parametrize(("label", "value"), HOSTILE_DESCRIPTIONS, ids=[entry.label for entry in HOSTILE_DESCRIPTIONS])
def test_a_hostile_description_is_rejected_with_a_message_unless_bcc_allows_it(label, value):
    problems = description_problems(value)
    assert (problems == []) == _accepts(DESCRIPTION_ORACLE, value)
    assert all(problem.strip() for problem in problems)


def test_the_hostile_list_is_long_enough_to_mean_something():
    assert len(HOSTILE_NAMES) + len(HOSTILE_DESCRIPTIONS) >= 100
    assert len({entry.label for entry in HOSTILE_NAMES}) == len(HOSTILE_NAMES)
    assert len({entry.label for entry in HOSTILE_DESCRIPTIONS}) == len(HOSTILE_DESCRIPTIONS)


def test_browser_rules_refuse_an_unknown_field():
    with pytest.raises(ValueError, match="region"):
        validation.browser_rules("region")
