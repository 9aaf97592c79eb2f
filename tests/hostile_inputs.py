"""Hostile and boundary inputs for a key pair's name and description, for any suite to reuse.

Each entry is a ``Hostile(label, value)``; the label is the pytest id. Most are invalid for
both fields, a few are valid on purpose (boundaries, a path-like name BCC allows): a suite
asserts that each is rejected with a message, or accepted exactly when BCC's rule accepts it.

- ``HOSTILE_TEXT``: applies to both fields.
- ``NAME_BOUNDARIES``, ``DESCRIPTION_BOUNDARIES``: the edges of each field's own rule.
- ``HOSTILE_NAMES``, ``HOSTILE_DESCRIPTIONS``: what to feed each field.
- ``HOSTILE_CHARACTERS``, ``ANY_TEXT``: hypothesis strategies for arbitrary hostile text.

A handful hold lone surrogates. They cannot arrive through an HTML form (Django decodes
request bodies with errors="replace") but can through JSON, and they cannot be encoded as
UTF-8: anything that writes them out must go through a message, never raw.
"""

from __future__ import annotations

from typing import NamedTuple

from hypothesis import strategies as st


class Hostile(NamedTuple):
    label: str
    value: str


def _entries(*pairs: tuple[str, str]) -> tuple[Hostile, ...]:
    return tuple(Hostile(label, value) for label, value in pairs)


EMPTY_AND_WHITESPACE = _entries(
    ("empty", ""),
    ("one space", " "),
    ("only spaces", "   "),
    ("tab", "\t"),
    ("line feed", "\n"),
    ("crlf", "\r\n"),
    ("ideographic space only", "\u3000"),
    ("no-break space only", "\u00a0"),
    ("leading space", " keypair"),
    ("trailing space", "keypair "),
    ("trailing newline", "keypair\n"),
    ("crlf inside", "key\r\npair"),
    ("carriage return inside", "key\rpair"),
    ("vertical tab", "key\x0bpair"),
    ("form feed", "key\x0cpair"),
    ("next line u+0085", "key\x85pair"),
    ("line separator u+2028", "key\u2028pair"),
    ("paragraph separator u+2029", "key\u2029pair"),
    ("em space", "key\u2003pair"),
    ("narrow no-break space", "key\u202fpair"),
)

INVISIBLE = _entries(
    ("zero width space", "key\u200bpair"),
    ("zero width non-joiner", "key\u200cpair"),
    ("zero width joiner", "key\u200dpair"),
    ("word joiner", "key\u2060pair"),
    ("byte order mark first", "\ufeffkeypair"),
    ("soft hyphen", "key\u00adpair"),
    ("mongolian vowel separator", "key\u180epair"),
    ("combining grapheme joiner", "key\u034fpair"),
    ("hangul filler", "key\u3164pair"),
    ("hangul choseong filler", "key\u115fpair"),
    ("braille blank", "key\u2800pair"),
    ("tag latin capital a", "key\U000e0041pair"),
    ("variation selector 16", "key\ufe0fpair"),
    ("only zero width spaces", "\u200b\u200b\u200b"),
)

BIDI = _entries(
    ("left-to-right embedding", "key\u202apair"),
    ("right-to-left embedding", "key\u202bpair"),
    ("pop directional formatting", "key\u202cpair"),
    ("left-to-right override", "key\u202dpair"),
    ("right-to-left override", "key\u202epair"),
    ("trojan source file name", "invoice\u202egpj.exe"),
    ("left-to-right isolate", "key\u2066pair"),
    ("right-to-left isolate", "key\u2067pair"),
    ("first strong isolate", "key\u2068pair"),
    ("pop directional isolate", "key\u2069pair"),
    ("left-to-right mark", "key\u200epair"),
    ("right-to-left mark", "key\u200fpair"),
    ("arabic letter mark", "key\u061cpair"),
    ("hebrew letters", "key\u05d0\u05d1"),
    ("arabic letters", "key\u0627\u0628"),
)

LOOK_ALIKES = _entries(
    ("cyrillic a first", "\u0430dmin"),
    ("cyrillic a inside", "p\u0430ypal"),
    ("greek omicron", "r\u03bfot"),
    ("fullwidth capital a first", "\uff21dmin"),
    ("fullwidth word", "\uff41\uff44\uff4d\uff49\uff4e"),
    ("fullwidth digits", "key\uff11\uff12\uff13"),
    ("fullwidth hyphen-minus", "key\uff0dpair"),
    ("fullwidth solidus", "key\uff0fpair"),
    ("fullwidth full stop", "key\uff0epair"),
    ("fullwidth low line", "key\uff3fpair"),
    ("fraction slash", "key\u2044pair"),
    ("division slash", "key\u2215pair"),
    ("unicode hyphen", "key\u2010pair"),
    ("non-breaking hyphen", "key\u2011pair"),
    ("en dash", "key\u2013pair"),
    ("em dash", "key\u2014pair"),
    ("one dot leader", "key\u2024pair"),
    ("mathematical bold a", "\U0001d41akey"),
    ("script small e", "k\u212fy"),
    ("latin small capital a", "\u1d00key"),
    ("dotless i", "adm\u0131n"),
    ("kelvin sign", "\u212aeypair"),
    ("angstrom sign", "key\u212b"),
    ("fi ligature", "\ufb01le"),
    ("roman numeral nine", "key\u2168"),
    ("superscript two", "key\u00b2"),
    ("arabic-indic digit", "key\u0661"),
)

NON_ASCII_LETTERS = _entries(
    ("e acute precomposed", "caf\u00e9"),
    ("e acute decomposed", "cafe\u0301"),
    ("sharp s", "stra\u00dfe"),
    ("n tilde", "a\u00f1o"),
    ("zalgo", "k\u0336\u0335\u0334e\u0337\u0338y"),
    ("accented first letter", "\u00e9t\u00e9"),
)

CJK_EDGES = _entries(
    ("just before the cjk block", "key\u4dff"),
    ("just after the cjk block", "key\ua000"),
    ("cjk extension a", "key\u3400"),
    ("cjk extension b", "key\U00020000"),
    ("cjk compatibility ideograph", "key\uf900"),
    ("kangxi radical one", "key\u2f00"),
    ("ideographic number zero", "key\u3007"),
    ("hiragana", "key\u3042"),
    ("hangul syllable", "key\ud55c"),
    ("ideographic comma", "key\u3001pair"),
    ("fullwidth exclamation mark", "key\uff01"),
    ("small comma", "key\ufe50pair"),
    ("chinese first", "\u4e2d\u6587"),
)

MARKUP_AND_INJECTION = _entries(
    ("script tag", "<script>alert(1)</script>"),
    ("script tag after a letter", "a<script>alert(1)</script>"),
    ("img onerror", "<img src=x onerror=alert(1)>"),
    ("attribute breakout", '"><svg onload=alert(1)>'),
    ("single quote attribute breakout", "a' onfocus='alert(1)"),
    ("html entity", "a&lt;b"),
    ("ampersand", "a&b"),
    ("textarea close", "a</textarea>"),
    ("javascript url", "javascript:alert(1)"),
    ("django template", "a{{ 7*7 }}"),
    ("django template tag", "a{% debug %}"),
    ("template literal", "a${7*7}"),
    ("sql or true", "' OR 1=1 --"),
    ("sql drop table", "a'; DROP TABLE keypairs; --"),
    ("sql comment", "admin'--"),
    ("sql double quote", 'a" OR ""="'),
    ("sql like wildcard", "a%' AND 1=1 AND '%'='"),
    ("sql sleep", "a1; SELECT pg_sleep(10)"),
    ("shell substitution", "a$(id)"),
    ("shell backticks", "a`id`"),
    ("shell pipe", "a|cat /etc/passwd"),
    ("shell semicolon", "a;reboot"),
    ("percent format", "a%s%s%s%n"),
    ("brace format", "a{0}{name}"),
    ("named percent format", "a%(secret)s"),
    ("backslash", "a\\b"),
    ("windows path", "C:\\Windows\\system32"),
    ("percent-encoded dots", "a%2e%2e%2f"),
    ("percent-encoded nul", "a%00"),
    ("percent-encoded crlf", "a%0d%0aSet-Cookie:x=1"),
    ("absolute path", "/etc/passwd"),
    ("dot dot first", "../../etc/passwd"),
    ("path-like name BCC allows", "a/../../etc/passwd"),
    ("ldap filter", "a*)(uid=*"),
    ("json fragment", 'a{"x":1}'),
    ("ansi escape", "a\x1b[31mred"),
)

CONTROL_AND_ODD_CODE_POINTS = _entries(
    ("nul alone", "\x00"),
    ("nul inside", "key\x00pair"),
    ("nul at the end", "keypair\x00"),
    ("bell", "key\x07"),
    ("backspace", "key\x08pair"),
    ("delete", "key\x7f"),
    ("c1 control", "key\x9bpair"),
    ("replacement character", "key\ufffd"),
    ("noncharacter ffff", "key\uffff"),
    ("last code point", "key\U0010ffff"),
    ("private use", "key\ue000"),
    ("unassigned", "key\u0378"),
    ("lone high surrogate", "key\ud800"),
    ("lone low surrogate", "key\udfff"),
    ("half an emoji", "key\ud83d"),
)

EMOJI = _entries(
    ("grinning face", "\U0001f600"),
    ("emoji after a letter", "a\U0001f600"),
    ("family zwj sequence", "a\U0001f468\u200d\U0001f469\u200d\U0001f467"),
    ("flag of china", "a\U0001f1e8\U0001f1f3"),
    ("heart with variation selector", "a\u2764\ufe0f"),
    ("keycap one", "a1\ufe0f\u20e3"),
)

LONG = _entries(
    ("ten thousand letters", "a" * 10_000),
    ("ten thousand chinese characters", "\u4e2d" * 10_000),
    ("a letter and ten thousand chinese", "a" + "\u4e2d" * 9_999),
    ("ten thousand angle brackets", "<" * 10_000),
    ("ten thousand zero width spaces", "\u200b" * 10_000),
    ("ten thousand distinct characters", "a" + "".join(chr(0x0400 + i % 256) for i in range(9_999))),
    ("a hundred thousand spaces", " " * 100_000),
)

MISC = _entries(
    ("null word", "null"),
    ("none word", "None"),
    ("digit first", "0"),
    ("minus one", "-1"),
    ("not a number", "NaN"),
    ("plain valid name", "keypair01"),
    ("space in the middle", "key pair"),
    ("comma", "key,pair"),
    ("equals sign", "key=pair"),
    ("colon", "key:pair"),
    ("at sign", "deploy@prod"),
    ("plus sign", "key+pair"),
    ("hash", "key#1"),
    ("tilde", "~key"),
    ("exclamation", "key!"),
    ("question mark", "key?"),
    ("brackets", "key[0]"),
    ("parentheses", "key(1)"),
)

HOSTILE_TEXT = (
    EMPTY_AND_WHITESPACE
    + INVISIBLE
    + BIDI
    + LOOK_ALIKES
    + NON_ASCII_LETTERS
    + CJK_EDGES
    + MARKUP_AND_INJECTION
    + CONTROL_AND_ODD_CODE_POINTS
    + EMOJI
    + LONG
    + MISC
)

NAME_BOUNDARIES = _entries(
    ("one letter", "a"),
    ("one capital letter", "Z"),
    ("sixty-four letters", "a" * 64),
    ("sixty-five letters", "a" * 65),
    ("sixty-six letters", "a" * 66),
    ("a letter and sixty-four chinese", "a" + "\u4e2d" * 64),
    ("a letter and sixty-five chinese", "a" + "\u4e2d" * 65),
    ("first of the cjk block", "a\u4e00"),
    ("last of the cjk block", "a\u9fff"),
    ("all four specials", "a-b_c/d.e"),
    ("only specials after a letter", "a-_/."),
    ("digit then letters", "1abc"),
    ("hyphen first", "-abc"),
    ("underscore first", "_abc"),
    ("slash first", "/abc"),
    ("dot first", ".abc"),
    ("sixty-five with a trailing space", "a" * 64 + " "),
    ("mixed case and digits", "KeyPair-2024.prod_01/eu"),
    ("chinese after a letter", "a\u5bc6\u94a5"),
    ("all ascii letters", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
)

DESCRIPTION_BOUNDARIES = _entries(
    ("one hundred forty letters", "x" * 140),
    ("one hundred forty-one letters", "x" * 141),
    ("one hundred forty chinese", "\u4e2d" * 140),
    ("one hundred forty-one chinese", "\u4e2d" * 141),
    ("one hundred forty spaces", " " * 140),
    ("every allowed punctuation", "a b.c_d-e=f,g\uff0ch:i/j\u3002"),
    ("chinese sentence", "\u751f\u4ea7\u73af\u5883\u7684\u5bc6\u94a5\u3002"),
    ("the seed example", "some description"),
    ("digits only", "0123456789"),
    ("one hundred thirty-nine and a full stop", "a" * 139 + "\u3002"),
    ("one hundred forty-one full stops", "\u3002" * 141),
    ("semicolon", "a;b"),
    ("fullwidth full stop between letters", "a\uff0eb"),
    ("ideographic space inside", "a\u3000b"),
    ("tab inside", "a\tb"),
)

HOSTILE_NAMES = HOSTILE_TEXT + NAME_BOUNDARIES
HOSTILE_DESCRIPTIONS = HOSTILE_TEXT + DESCRIPTION_BOUNDARIES

# Characters a rule must handle: every field's allowed ones, and broad hostile categories:
# controls, format characters (bidi, zero width), spaces, symbols (emoji), other letters
# (Cyrillic, full-width, CJK outside the block), digits, marks, surrogates, private use.
ALLOWED_CHARACTERS = "ABCXYZabcxyz0189-_/.\u4e00\u4e2d\u9fff =,\uff0c:\u3002"
HOSTILE_CHARACTERS = st.characters(
    categories=("Cc", "Cf", "Zs", "Zl", "Zp", "So", "Sm", "Lo", "Lu", "Ll", "Nd", "Mn", "Po", "Pd", "Cs", "Co")
)
ANY_TEXT = st.text(alphabet=st.one_of(HOSTILE_CHARACTERS, st.sampled_from(ALLOWED_CHARACTERS)), max_size=150)
