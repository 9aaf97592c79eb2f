"""BCC's rules for a key pair's name and description, checked before BCC sees them.

The rules are BCC's, exactly (``shared/reference/bcc-keypair-api.md``, "Rules"), counted in
Unicode code points like Python's ``len``:

- name: required, 1 to 65 characters, starts with a letter; then letters, digits, Chinese
  characters and the four characters ``- _ / .``. Nothing else: no spaces.
- description: optional, 0 to 140 characters: Chinese characters, letters, digits, space and
  ``. _ - = , ， : / 。``.

Decisions the documentation leaves open, taken here on purpose:

- "Letter" means an ASCII letter, a-z or A-Z. BCC lists letters and Chinese characters as
  separate classes, so é, ß, a Cyrillic а (U+0430) or a full-width Ａ (U+FF21) are not letters
  here. Look-alikes are exactly what an attacker or a stray paste brings in.
- The first character of a name must be an ASCII letter; a Chinese character does not count
  as "a letter" there ("中文" is rejected, "a中文" is accepted).
- "Chinese characters" means the CJK Unified Ideographs block, U+4E00 to U+9FFF. The
  extension blocks, compatibility ideographs and CJK punctuation are not included, except
  the full-width comma ， (U+FF0C) and the ideographic full stop 。 (U+3002), which the
  description rule names itself.
- The seed page spells the name's specials as "-_/"; the API reference lists four, ``- _ / .``.
  We follow the reference: the portal's job is to send BCC what BCC documents.
- A description may start, end or consist of spaces: BCC's rule allows it and nothing here
  changes what the user typed. Only the ASCII space counts as a space: a tab, a no-break
  space or the ideographic space U+3000 is rejected.

Nothing is ever stripped, normalised or repaired: input that breaks a rule is rejected with
one message per broken rule, and input that passes is sent to BCC as typed. Messages name the
offending characters; an invisible or direction-changing character is named by its code point
and Unicode name (``U+200B ZERO WIDTH SPACE``) and never printed raw, so a message can always
be shown and logged without hiding or reordering anything. The messages are plain text: the
template's autoescaping makes them safe to render; nothing here marks them safe.

The character classes below are written once, in a syntax that Python's ``re``, JavaScript's
``u`` and ``v`` regular expressions and so the HTML ``pattern`` attribute all read the same
way, so the browser's hints and the server check the same rules (``html_pattern``,
``browser_rules``).
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_noop, ngettext, pgettext

NAME_MAX_LENGTH = 65
DESCRIPTION_MAX_LENGTH = 140

# Character class bodies, shared with the browser: ASCII-only source, \u escapes for the rest.
# "-" and "/" are escaped because the HTML pattern attribute compiles with the `v` flag,
# where both must be escaped inside a class.
NAME_FIRST_CHARACTER_CLASS = r"A-Za-z"
NAME_CHARACTER_CLASS = r"A-Za-z0-9\u4e00-\u9fff\-_\/."
DESCRIPTION_CHARACTER_CLASS = r"A-Za-z0-9\u4e00-\u9fff \-_\/.=,\uff0c:\u3002"

# The messages, in English: marked here (gettext_noop) and translated where they are used, so
# that each person reads them in their own language and tests compare with the English.
# Placeholders in braces: keypair-form.js fills the same templates in the browser.
NAME_REQUIRED = gettext_noop("Enter a name.")
NAME_MUST_START_WITH_LETTER = gettext_noop("The name must start with a letter (a–z or A–Z).")
NAME_TOO_LONG = gettext_noop("The name can be {limit} characters at most; it has {length}.")
NAME_FORBIDDEN_CHARACTERS = gettext_noop("The name may not contain {characters}.")
DESCRIPTION_TOO_LONG = gettext_noop("The description can be {limit} characters at most; it has {length}.")
DESCRIPTION_FORBIDDEN_CHARACTERS = gettext_noop("The description may not contain {characters}.")

# How many distinct offending characters a message names before it sums up the rest.
LISTED_CHARACTERS = 5


def more_characters(count: int) -> str:
    """'3 other characters', in the reader's language (a template: ``{count}`` is filled in later)."""
    return ngettext("{count} other character", "{count} other characters", count)


# Error codes, for callers that branch on a problem (form.has_error("name", "too_long")).
CODE_REQUIRED = "required"
CODE_MUST_START_WITH_LETTER = "must_start_with_letter"
CODE_TOO_LONG = "too_long"
CODE_FORBIDDEN_CHARACTERS = "forbidden_characters"

_NAME_FIRST_CHARACTER = re.compile(f"[{NAME_FIRST_CHARACTER_CLASS}]")
_NAME_FORBIDDEN = re.compile(f"[^{NAME_CHARACTER_CLASS}]")
_DESCRIPTION_FORBIDDEN = re.compile(f"[^{DESCRIPTION_CHARACTER_CLASS}]")

# unicodedata.name() knows no name for control characters; their Unicode name aliases do.
# The table is built through unicodedata.lookup, so a misspelt alias fails at import.
_CONTROL_ALIASES = (
    "NULL", "START OF HEADING", "START OF TEXT", "END OF TEXT", "END OF TRANSMISSION", "ENQUIRY",
    "ACKNOWLEDGE", "ALERT", "BACKSPACE", "CHARACTER TABULATION", "LINE FEED", "LINE TABULATION",
    "FORM FEED", "CARRIAGE RETURN", "SHIFT OUT", "SHIFT IN", "DATA LINK ESCAPE", "DEVICE CONTROL ONE",
    "DEVICE CONTROL TWO", "DEVICE CONTROL THREE", "DEVICE CONTROL FOUR", "NEGATIVE ACKNOWLEDGE",
    "SYNCHRONOUS IDLE", "END OF TRANSMISSION BLOCK", "CANCEL", "END OF MEDIUM", "SUBSTITUTE", "ESCAPE",
    "INFORMATION SEPARATOR FOUR", "INFORMATION SEPARATOR THREE", "INFORMATION SEPARATOR TWO",
    "INFORMATION SEPARATOR ONE", "DELETE", "PADDING CHARACTER", "HIGH OCTET PRESET", "BREAK PERMITTED HERE",
    "NO BREAK HERE", "INDEX", "NEXT LINE", "START OF SELECTED AREA", "END OF SELECTED AREA",
    "CHARACTER TABULATION SET", "CHARACTER TABULATION WITH JUSTIFICATION", "LINE TABULATION SET",
    "PARTIAL LINE FORWARD", "PARTIAL LINE BACKWARD", "REVERSE LINE FEED", "SINGLE SHIFT TWO",
    "SINGLE SHIFT THREE", "DEVICE CONTROL STRING", "PRIVATE USE ONE", "PRIVATE USE TWO",
    "SET TRANSMIT STATE", "CANCEL CHARACTER", "MESSAGE WAITING", "START OF GUARDED AREA",
    "END OF GUARDED AREA", "START OF STRING", "SINGLE GRAPHIC CHARACTER INTRODUCER",
    "SINGLE CHARACTER INTRODUCER", "CONTROL SEQUENCE INTRODUCER", "STRING TERMINATOR",
    "OPERATING SYSTEM COMMAND", "PRIVACY MESSAGE", "APPLICATION PROGRAM COMMAND",
)  # fmt: skip
_CONTROL_NAMES = {ord(unicodedata.lookup(alias)): alias for alias in _CONTROL_ALIASES}

# Letters that draw nothing (Hangul fillers) and the blank braille pattern: a user cannot see
# them, so they are named like the format characters are.
_BLANK_GRAPHIC_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")

# What a character that cannot be shown raw is, by Unicode general category.
_KIND_BY_CATEGORY = {
    "Cc": gettext_noop("a control character"),
    "Cf": gettext_noop("an invisible character"),
    "Zs": gettext_noop("a space character"),
    "Zl": gettext_noop("a line break"),
    "Zp": gettext_noop("a line break"),
    "Mn": gettext_noop("a combining mark"),
    "Mc": gettext_noop("a combining mark"),
    "Me": gettext_noop("a combining mark"),
    "Cs": gettext_noop("a lone surrogate"),
    "Co": gettext_noop("a private-use character"),
    "Cn": gettext_noop("an unassigned code point"),
}
INVISIBLE = _KIND_BY_CATEGORY["Cf"]
# Right-to-left characters would reorder the sentence around them when shown raw.
_RIGHT_TO_LEFT = frozenset({"R", "AL", "AN"})


def describe_character(character: str) -> str:
    """How a message names one character: quoted when that is unambiguous, else by code point.

    ``'<'``, ``' ' (space)``, ``'а' (U+0430 CYRILLIC SMALL LETTER A)``,
    ``U+200B ZERO WIDTH SPACE (an invisible character)``, ``U+000A LINE FEED (a control character)``.
    """
    if character == " ":
        return gettext("' ' (space)")
    if character == "'":
        return '"\'"'
    if "!" <= character <= "~":
        return f"'{character}'"
    code_point = f"U+{ord(character):04X}"
    # Unicode's names stay in English, like the code points: they are identifiers to look up.
    name = _CONTROL_NAMES.get(ord(character)) or unicodedata.name(character, "")
    named = f"{code_point} {name}" if name else code_point
    if character in _BLANK_GRAPHIC_CHARACTERS:
        return _with_detail(named, gettext(INVISIBLE))
    kind = _KIND_BY_CATEGORY.get(unicodedata.category(character))
    if kind:
        return _with_detail(named, gettext(kind))
    if unicodedata.bidirectional(character) in _RIGHT_TO_LEFT:
        return named
    return _with_detail(f"'{character}'", named)


def _with_detail(character: str, detail: str) -> str:
    # Translators: a character named in an error message, then what it is in brackets:
    # "U+200B ZERO WIDTH SPACE (an invisible character)".
    return gettext("{character} ({detail})").format(character=character, detail=detail)


def _forbidden_characters_message(template: str, pattern: re.Pattern[str], value: str) -> str | None:
    """One message naming each distinct offending character once, in order of appearance."""
    distinct = dict.fromkeys(match.group() for match in pattern.finditer(value))
    if not distinct:
        return None
    described = [describe_character(character) for character in list(distinct)[:LISTED_CHARACTERS]]
    rest = len(distinct) - len(described)
    if rest:
        described.append(more_characters(rest).format(count=rest))
    return gettext(template).format(characters=_join_with_or(described))


def _join_with_or(items: list[str]) -> str:
    """'a', 'a or b', 'a, b or c' (Chinese: 'a、b 或 c')."""
    if len(items) == 1:
        return items[0]
    listed = pgettext("between the items of a list", ", ").join(items[:-1])
    return gettext("{listed} or {last}").format(listed=listed, last=items[-1])


def _forbidden_characters(template: str, pattern: re.Pattern[str], value: str) -> list[tuple[str, str]]:
    message = _forbidden_characters_message(template, pattern, value)
    return [(CODE_FORBIDDEN_CHARACTERS, message)] if message else []


def _too_long(template: str, limit: int, value: str) -> list[tuple[str, str]]:
    if len(value) <= limit:
        return []
    return [(CODE_TOO_LONG, gettext(template).format(limit=limit, length=len(value)))]


def _name_problems_with_codes(value: str) -> list[tuple[str, str]]:
    if not value:
        return [(CODE_REQUIRED, gettext(NAME_REQUIRED))]
    problems = []
    if not _NAME_FIRST_CHARACTER.fullmatch(value[0]):
        problems.append((CODE_MUST_START_WITH_LETTER, gettext(NAME_MUST_START_WITH_LETTER)))
    problems += _forbidden_characters(NAME_FORBIDDEN_CHARACTERS, _NAME_FORBIDDEN, value)
    problems += _too_long(NAME_TOO_LONG, NAME_MAX_LENGTH, value)
    return problems


def _description_problems_with_codes(value: str) -> list[tuple[str, str]]:
    return _forbidden_characters(DESCRIPTION_FORBIDDEN_CHARACTERS, _DESCRIPTION_FORBIDDEN, value) + _too_long(
        DESCRIPTION_TOO_LONG, DESCRIPTION_MAX_LENGTH, value
    )


def name_problems(value: str) -> list[str]:
    """Every rule the name breaks, one message each; empty when BCC would accept it."""
    return [message for _, message in _name_problems_with_codes(value)]


def description_problems(value: str) -> list[str]:
    """Every rule the description breaks, one message each; empty when BCC would accept it."""
    return [message for _, message in _description_problems_with_codes(value)]


def _raise_all(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise ValidationError([ValidationError(message, code=code) for code, message in problems])


def validate_name(value: str) -> None:
    """A Django validator: raises one ValidationError carrying every problem of the name."""
    _raise_all(_name_problems_with_codes(value))


def validate_description(value: str) -> None:
    """A Django validator: raises one ValidationError carrying every problem of the description."""
    _raise_all(_description_problems_with_codes(value))


def html_pattern(character_class: str, max_length: int, first_character_class: str | None = None) -> str:
    """The HTML ``pattern`` attribute for a rule (the browser anchors it and skips empty values)."""
    if first_character_class is None:
        return f"[{character_class}]{{0,{max_length}}}"
    return f"[{first_character_class}][{character_class}]{{0,{max_length - 1}}}"


NAME_HTML_PATTERN = html_pattern(NAME_CHARACTER_CLASS, NAME_MAX_LENGTH, NAME_FIRST_CHARACTER_CLASS)
DESCRIPTION_HTML_PATTERN = html_pattern(DESCRIPTION_CHARACTER_CLASS, DESCRIPTION_MAX_LENGTH)


def browser_rules(field: str) -> dict[str, object]:
    """The rules and message templates ``static/js/keypair-form.js`` checks as the user types.

    Sent to the browser (as the input's ``data-rules`` JSON) so that the live hints use the
    very messages the server sends back, in the reader's language (called while the page is
    rendered); the server's check remains the one that counts. How characters are named and
    listed the script takes from the JS catalogue (djangojs), in the same words as here.
    """
    if field == "name":
        return {
            "maxLength": NAME_MAX_LENGTH,
            "firstCharacters": NAME_FIRST_CHARACTER_CLASS,
            "characters": NAME_CHARACTER_CLASS,
            "required": gettext(NAME_REQUIRED),
            "mustStartWithLetter": gettext(NAME_MUST_START_WITH_LETTER),
            "tooLong": gettext(NAME_TOO_LONG),
            "forbiddenCharacters": gettext(NAME_FORBIDDEN_CHARACTERS),
            "listedCharacters": LISTED_CHARACTERS,
            "moreCharacters": more_characters(1),
            "moreCharactersPlural": more_characters(2),
        }
    if field == "description":
        return {
            "maxLength": DESCRIPTION_MAX_LENGTH,
            "characters": DESCRIPTION_CHARACTER_CLASS,
            "tooLong": gettext(DESCRIPTION_TOO_LONG),
            "forbiddenCharacters": gettext(DESCRIPTION_FORBIDDEN_CHARACTERS),
            "listedCharacters": LISTED_CHARACTERS,
            "moreCharacters": more_characters(1),
            "moreCharactersPlural": more_characters(2),
        }
    raise ValueError(f"No browser rules for the field {field!r}.")
