"""The Simplified Chinese catalogues: complete, compiled files current, and holding every marked string.

The compiled ``.mo`` files are committed so that ``make run`` and ``make test`` need no GNU gettext
on a fresh machine; these tests make a stale or incomplete commit fail instead.
"""

from __future__ import annotations

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")


def _catalogue(domain: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / f"{domain}.po"))


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_entry_has_a_chinese_translation(domain):
    catalogue = _catalogue(domain)
    missing = [entry.msgid for entry in catalogue if not entry.obsolete and (not entry.translated() or entry.fuzzy)]
    assert missing == [], f"untranslated or fuzzy in {domain}.po (run make messages, translate, run it again)"


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_compiled_catalogue_is_the_one_committed_beside_it(domain):
    with open(LOCALE / f"{domain}.mo", "rb") as compiled:
        in_mo = gettext.GNUTranslations(compiled)._catalog
    in_po = {}
    for entry in _catalogue(domain).translated_entries():
        key = entry.msgid if not entry.msgctxt else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural:
            for index, text in entry.msgstr_plural.items():
                in_po[(key, int(index))] = text
        else:
            in_po[key] = entry.msgstr
    in_mo = {key: text for key, text in in_mo.items() if key != ""}
    assert in_mo == in_po, f"{domain}.mo is not {domain}.po compiled: run make messages"


@pytest.mark.gettext
def test_the_catalogues_hold_every_string_the_sources_mark(tmp_path):
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext's xgettext is not installed (apt-get install gettext)")
    # makemessages writes where it reads: run it on a copy of the sources, and compare.
    base = Path(settings.BASE_DIR)
    copy = tmp_path / "portal"
    shutil.copytree(base, copy, ignore=shutil.ignore_patterns(".venv", ".git", "var", "staticfiles", "*.sqlite3*"))
    for domain in DOMAINS:
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "makemessages",
                "-l",
                "zh_Hans",
                "-d",
                domain,
                "--no-location",
                "--no-obsolete",
                "-i",
                "tests/*",
                "-i",
                "bench/*",
            ],
            cwd=copy,
            check=True,
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "DEBUG": "true"},
        )
        marked = {
            (entry.msgctxt, entry.msgid)
            for entry in polib.pofile(str(copy / "locale/zh_Hans/LC_MESSAGES" / f"{domain}.po"))
        }
        kept = {(entry.msgctxt, entry.msgid) for entry in _catalogue(domain) if not entry.obsolete}
        assert sorted(marked - kept, key=str) == [], f"marked in the sources but not in {domain}.po: run make messages"
        assert sorted(kept - marked, key=str) == [], f"in {domain}.po but no longer marked: run make messages"
