"""Mail from the portal: reminders to owners and summaries to portal admins, through Django's mail.

The transport is ``EMAIL_URL`` (portal/settings.py): SMTP in production, the console under
``make run``. Each mail is two templates, ``templates/mail/<name>_subject.txt`` and
``<name>_body.txt``, rendered in the portal's voice. Never put a secret in the context: a mail
leaves the portal's control the moment it is sent (no private key, token or BCC secret; key
pair names, ids and fingerprints are not secrets).

A mail that cannot be delivered never fails the work it reports: ``send_portal_mail`` logs the
failure (the SMTP server's reply, not the message) and returns False, and the caller writes a
``mail_failed`` audit row so that someone is told.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.template import Context
from django.template.loader import get_template
from django.utils import translation

from portal.auth.roles import GROUP_NAMES, Role
from portal.languages import addresses_by_language

logger = logging.getLogger(__name__)


def send_portal_mail(
    *, to: Iterable[str], template: str, context: Mapping[str, Any], language: str | None = None
) -> bool:
    """Send ``template`` to ``to`` (addresses), each in its reader's language (portal/languages.py).

    ``language``: the caller already knows it (``portal.languages.language_of`` the one recipient);
    otherwise it is looked up by address. One mail per language; True when the transport took every
    one, False (logged) when not.
    """
    if language is None:
        recipients_by_language = addresses_by_language(to)
    else:
        recipients = sorted({address for address in to if address})
        recipients_by_language = {language: recipients} if recipients else {}
    if not recipients_by_language:
        return False
    context = {"portal_url": settings.PORTAL_BASE_URL, **context}
    delivered = True
    for language, recipients in sorted(recipients_by_language.items()):
        with translation.override(language):
            subject = " ".join(_render_plain_text(f"mail/{template}_subject.txt", context).split())
            body = _render_plain_text(f"mail/{template}_body.txt", context)
        message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients)
        try:
            message.send()
        except Exception as error:  # smtplib, socket and TLS errors: none may fail the work reported
            logger.error("Mail %r to %d recipient(s) not delivered: %s", template, len(recipients), error)
            delivered = False
    return delivered


def _render_plain_text(name: str, context: Mapping[str, Any]) -> str:
    # A mail is plain text: HTML escaping would turn a note "don't" into "don&#x27;t". Off for every
    # mail here, so that no template has to remember {% autoescape off %}.
    return get_template(name).template.render(Context(dict(context), autoescape=False))


def portal_admin_addresses() -> list[str]:
    """The addresses of every active portal admin (the "portal admins" group), for summaries."""
    people = get_user_model().objects.filter(is_active=True, groups__name=GROUP_NAMES[Role.PORTAL_ADMIN])
    return sorted({address for address in people.values_list("email", flat=True) if address})
