"""The parts of turning a BCC failure into a sentence that every service shares.

Each service words its own sentences (a create says "nothing was created", a delete "the key
pair was not deleted"), but they read BCC's errors the same way: which codes mean the portal's
own configuration is wrong, what of BCC's message may be quoted, and what a transport error
says about why BCC could not be reached. Nothing here ever quotes a body, a header or a key.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from keypairs import messages
from keypairs.bcc import errors
from keypairs.bcc.errors import BccApiError, BccError
from keypairs.services.errors import ServiceFailed

# The error code recorded when the portal has no usable BCC settings (no client could be made).
SETTINGS_INCOMPLETE = "portal_settings_incomplete"


def is_misconfiguration(error: BccError) -> bool:
    """BCC refused the portal's own credentials or signing: nothing a user can fix."""
    return isinstance(error, BccApiError) and error.code in messages.MISCONFIGURATION_CODES


def bcc_reason(error: BccApiError) -> str:
    """BCC's message about the user's own input (an invalid name), cut short; rendered escaped."""
    text = (error.message or "it does not follow BCC's rules").strip().rstrip(".")
    return text[:200]


def input_refusal(error: BccApiError, *, code: str) -> ServiceFailed | None:
    """BCC refused the name or the description the person gave: the create form's sentences; else None."""
    if error.code == errors.KEYPAIR_NAME_INVALID:
        return ServiceFailed(messages.NAME_REJECTED.format(reason=bcc_reason(error)), http_status=400, code=code)
    if error.code == errors.KEYPAIR_DESCRIPTION_INVALID:
        message = messages.DESCRIPTION_REJECTED.format(reason=bcc_reason(error))
        return ServiceFailed(message, http_status=400, code=code)
    return None


def transport_reason(error: BccError) -> str:
    """Why BCC could not be reached, as the middle of a sentence: "connecting to BCC timed out"."""
    said = errors.reason_for_people(error)
    if said is not None:
        return said
    reason = str(error).split(";")[0].rstrip(".")
    return reason[:1].lower() + reason[1:]


def error_code(error: BccError) -> str:
    """BCC's code for an answer, the transport's kind ("read_timeout") for no answer."""
    return getattr(error, "code", "") or getattr(error, "kind", "")


def read_failure_reason(error: BccError | ImproperlyConfigured) -> str:
    """Why a read (the instances' walk) failed, as the middle of a sentence: BCC's code or the
    transport's words, never BCC's message."""
    if isinstance(error, ImproperlyConfigured):
        return _("the portal's BCC settings are incomplete")
    if isinstance(error, BccApiError):
        return _("BCC answered {code}").format(code=error.code)
    return transport_reason(error)
