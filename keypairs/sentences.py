"""A sentence stored in one language, shown in the reader's.

A key pair request keeps the sentence that explains its end (``KeyPairRequest.error_message``):
written once, by the request that failed or by the reconciler in the background, in whatever
language was active then. The detail page is read later, by a person who may read another
language. The sentence is one of the portal's own (``keypairs.messages``) with its values filled
in, so it is recognised by its wording in any of the portal's languages, its values are read back,
and it is worded again in the reader's language. A text that is none of them (an older wording,
one cut at the column's length) is shown as it was stored.
"""

from __future__ import annotations

import re
import string

from django.conf import settings
from django.utils.translation import override, pgettext

from keypairs import messages
from keypairs.bcc import errors

# The sentences a request's end is stored as (keypairs.services.create, _intent, reconcile).
STORED = (
    messages.NAME_REJECTED,
    messages.DESCRIPTION_REJECTED,
    messages.QUOTA_EXCEEDED,
    messages.PORTAL_MISCONFIGURED,
    messages.BCC_UNAVAILABLE,
    messages.BCC_FAILED,
    messages.OUTCOME_UNKNOWN,
    messages.OUTCOME_NOT_CREATED_YET,
    messages.RECONCILED_DELETED,
    messages.RECONCILED_NOT_CREATED,
    messages.WORKER_LOST,
    messages.ANSWER_TOO_LATE,
    messages.IMPORT_RECONCILED_KEPT,
    messages.IMPORT_NOT_IMPORTED,
    messages.IMPORT_OUTCOME_UNKNOWN,
    messages.NOT_STORED,
    messages.NOT_STORED_NOT_DELETED,
)
# What fills a sentence's {reason}: why BCC could not be reached (keypairs.bcc.errors).
REASONS = (*errors._REASONS.values(), errors.BAD_RESPONSE_REASON, errors.OUTCOME_UNKNOWN_REASON)


def two_sentences(first, second) -> str:
    """Two sentences in a row: English puts a space between them, Chinese (after its 。 or ：) none."""
    return pgettext("two sentences in a row", "{first} {second}").format(first=first, second=second)


def in_reader_language(stored: str) -> str:
    """``stored`` worded in the active language, or as it is when it is not one of ``STORED``."""
    return _reworded(stored, STORED) or stored


def _reworded(text: str, templates) -> str | None:
    for template in templates:
        for language, _name in settings.LANGUAGES:
            values = _values_in(text, template, language)
            if values is not None:
                # A reason is itself a phrase of the portal's: it follows the sentence's language.
                values = {name: _reworded(value, REASONS) or value for name, value in values.items()}
                return str(template).format(**values)
    return None


def _values_in(text: str, template, language: str) -> dict[str, str] | None:
    match = _pattern(template, language).fullmatch(text)
    return match.groupdict() if match else None


# Patterns by (sentence, language): made once per process, as the catalogues are read once.
_patterns: dict[tuple[int, str], re.Pattern[str]] = {}


def _pattern(template, language: str) -> re.Pattern[str]:
    """``template`` in ``language`` as a pattern, each ``{name}`` a group (a repeated one must agree)."""
    key = (id(template), language)
    if key not in _patterns:
        with override(language):
            worded = str(template)
        parts, seen = [], set()
        for literal, name, _spec, _conversion in string.Formatter().parse(worded):
            parts.append(re.escape(literal))
            if name is None:
                continue
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
            seen.add(name)
        _patterns[key] = re.compile("".join(parts), re.DOTALL)
    return _patterns[key]
