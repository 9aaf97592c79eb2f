"""Why a sign-in was refused: noted on the request by the backends, read by the audit hook and the page.

A backend can only answer ``None`` to Django's ``authenticate()``; the reason travels beside
it, on the request, so that the audit row and the page the person sees can both say it.
Reasons are short sentences for people and reviewers. They never hold a token, a code or a
key: an audit row is read by many.

A reason stays English wherever it is kept (the audit row, the session, a log line): audit
rows are read by reviewers whatever language the refused person reads. The page translates it
at the moment it is shown (``for_people``): a fixed sentence through the catalogue, a sentence
with a part filled in (``templated``) by finding its template again and translating that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.translation import gettext, gettext_noop

# Templates of reasons with a part filled in ({name}), and how to find each in a filled reason.
_TEMPLATES: dict[str, re.Pattern] = {}
# Parts that are themselves English phrases (marked with gettext_noop): translated too. The
# other parts (an HTTP status, an error code, a header name) are shown as they are.
TRANSLATED_PARTS = frozenset({"problem"})


def templated(template: str) -> str:
    """Register ``template`` (a reason with ``{name}`` parts) so ``for_people`` can translate it filled in."""
    pattern = re.escape(template)
    for name in re.findall(r"\{(\w+)\}", template):
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>.*?)", 1)
    _TEMPLATES[template] = re.compile(pattern + r"\Z", re.DOTALL)
    return template


def for_people(reason: str) -> str:
    """``reason`` in the language of the page being rendered; unchanged if the catalogue has no sentence for it."""
    if not reason:
        return reason
    for template, pattern in _TEMPLATES.items():
        found = pattern.match(reason)
        if found:
            parts = {
                name: gettext(value) if name in TRANSLATED_PARTS and value else value
                for name, value in found.groupdict().items()
            }
            return gettext(template).format(**parts)
    return gettext(reason)


NO_ROLE = gettext_noop("The identity provider vouches for this person, but they hold no role in the portal.")
ACCOUNT_DISABLED = gettext_noop("This portal account is deactivated.")
WRONG_PASSWORD = gettext_noop("Wrong user name or password, or the account is deactivated.")
NO_SUBJECT = gettext_noop("The identity has no subject (sub claim).")
PROVIDER_UNREACHABLE = gettext_noop("The identity provider could not be reached.")
PROVIDER_REFUSED = templated(gettext_noop("The identity provider refused the portal's request (HTTP {status})."))
PROVIDER_ERROR = templated(gettext_noop("The identity provider did not sign the person in ({error})."))
STALE_CALLBACK = gettext_noop("The sign-in answer did not match a sign-in started in this browser (stale or forged).")
INVALID_ID_TOKEN = templated(gettext_noop("The identity provider's ID token was refused: {problem}."))
USERINFO_MISMATCH = gettext_noop("The identity provider's user info is about another subject than its ID token.")

REQUEST_ATTRIBUTE = "portal_sign_in_refusal"
AUDITED_ATTRIBUTE = "portal_sign_in_refusal_audited"


@dataclass(frozen=True)
class Refusal:
    reason: str
    username: str = ""
    subject: str = ""


def note(request: HttpRequest | None, reason: str, *, username: str = "", subject: str = "") -> None:
    if request is not None:
        setattr(request, REQUEST_ATTRIBUTE, Refusal(reason=reason, username=username, subject=subject))


def noted(request: HttpRequest | None) -> Refusal | None:
    return getattr(request, REQUEST_ATTRIBUTE, None)
