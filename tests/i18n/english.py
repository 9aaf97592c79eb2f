"""Finds English sentences left in a page rendered in Simplified Chinese: a string someone forgot
to mark for translation, or marked and never translated.

What a reader sees counts: text, and the attributes a browser shows or reads aloud (``title``,
``aria-label``, ``placeholder``, ``alt``, a button's ``value``). What is not prose is left out:
scripts, styles, ``<code>``, ``<pre>``, ``<kbd>``, ``<samp>`` and the person's own input
(``<textarea>``, an input's value), and any element marked ``translate="no"``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Three English words in a row: a sentence or a label, not an id, a key type or a product name.
ENGLISH_RUN = re.compile(r"[A-Za-z][a-z']+(?:[ \t\n,;:]+[A-Za-z][a-z']+){2,}")
NOT_PROSE = {"script", "style", "code", "pre", "kbd", "samp", "textarea"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skipping: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self.skipping or tag in NOT_PROSE or attributes.get("translate") == "no":
            if tag not in VOID:
                self.skipping.append(tag)
            return
        self.texts.extend(attributes[name] or "" for name in SHOWN_ATTRIBUTES if name in attributes)
        if tag == "input" and attributes.get("type") in ("submit", "button", "reset"):
            self.texts.append(attributes.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.texts.append(data)


def english_sentences(html: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """The runs of three or more English words a reader of ``html`` would see, minus ``allowed``."""
    reader = _Reader()
    reader.feed(html)
    found = []
    for text in reader.texts:
        for phrase in allowed:
            text = text.replace(phrase, " ")
        found.extend(" ".join(match.split()) for match in ENGLISH_RUN.findall(text))
    return found
