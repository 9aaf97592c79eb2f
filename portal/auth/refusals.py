"""Why a sign-in was refused: noted on the request by the backends, read by the audit hook and the page.

A backend can only answer ``None`` to Django's ``authenticate()``; the reason travels beside
it, on the request, so that the audit row and the page the person sees can both say it.
Reasons are short sentences for people and reviewers. They never hold a token, a code or a
key: an audit row is read by many.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

NO_ROLE = "The identity provider vouches for this person, but they hold no role in the portal."
ACCOUNT_DISABLED = "This portal account is deactivated."
WRONG_PASSWORD = "Wrong user name or password, or the account is deactivated."  # noqa: S105 - a message
NO_SUBJECT = "The identity has no subject (sub claim)."
PROVIDER_UNREACHABLE = "The identity provider could not be reached."
PROVIDER_REFUSED = "The identity provider refused the portal's request (HTTP {status})."
PROVIDER_ERROR = "The identity provider did not sign the person in ({error})."
STALE_CALLBACK = "The sign-in answer did not match a sign-in started in this browser (stale or forged)."
INVALID_ID_TOKEN = "The identity provider's ID token was refused: {problem}."  # noqa: S105 - a message
USERINFO_MISMATCH = "The identity provider's user info is about another subject than its ID token."

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
