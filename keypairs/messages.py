"""What a user reads when a create does not go as planned: one sentence per BCC outcome.

Module constants, so that tests assert the exact text. BCC's own wording is quoted only
where it explains the user's own input (an invalid name); for everything else, BCC's
message is for the operators' log, not for the page.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from keypairs.bcc import errors

NAME_REJECTED = _("BCC rejected the name: {reason}. Change the name and try again.")
DESCRIPTION_REJECTED = _("BCC rejected the description: {reason}. Change the description and try again.")
QUOTA_EXCEEDED = _(
    "The {region} region has no room for another key pair: the 500 key pairs that everyone at the company "
    "shares there are all in use. Delete key pairs nobody needs, or choose another region."
)
PORTAL_MISCONFIGURED = _(
    "The portal cannot sign in to BCC: its configuration is wrong. Nothing was created. "
    "Please tell the portal's operators, quoting reference {reference}."
)
BCC_UNAVAILABLE = _("BCC could not be reached ({reason}). Nothing was created; please try again in a few minutes.")
BCC_FAILED = _("BCC could not create the key pair ({code}). Nothing was created; please try again in a few minutes.")
# A create with no answer is reconciled at once (keypairs.reconcile); these say what was found.
OUTCOME_UNKNOWN = _(
    "BCC did not answer in time, and it could not be asked afterwards whether it created the key pair. "
    "Its private key could not be delivered either way. The portal checks again within a few minutes and "
    "deletes the key pair if it exists; please try again later, quoting reference {reference} if you "
    "contact the portal's operators."
)
OUTCOME_NOT_CREATED_YET = _(
    "BCC did not answer in time, and it has not created the key pair so far, so there is nothing to download. "
    "You can try again now. Should BCC still create it late, the portal deletes it within a few minutes "
    "(reference {reference})."
)
RECONCILED_DELETED = _(
    "BCC did not answer in time. The key pair was created but its private key never reached the portal, "
    "so it has been deleted. Nothing is left behind; please try again."
)
RECONCILED_NOT_CREATED = _(
    "BCC did not answer in time, and it did not create the key pair. Nothing is left behind; please try again."
)
WORKER_LOST = _(
    "The portal stopped while BCC was creating this key pair, so its private key could not be delivered. "
    "The portal checks with BCC and deletes the key pair if it was created; please try again."
)
ANSWER_TOO_LATE = _(
    "BCC answered too late: the portal had already given this create up, so the key pair BCC made has been "
    "deleted. Nothing is left behind; please try again."
)
# An import with no answer is reconciled too, but its key pair is kept: no private key was lost.
IMPORT_RECONCILED_KEPT = _(
    "BCC did not answer in time, but it did import the key pair: the portal found it in BCC by its name and "
    "fingerprint and kept it. Your private key never passed through the portal; nothing else is needed."
)
IMPORT_NOT_IMPORTED = _(
    "BCC did not answer in time, and it did not import the key pair. Nothing was stored; please try again."
)
IMPORT_OUTCOME_UNKNOWN = _(
    "BCC did not answer in time, and has not shown the key pair so far. The portal checks again within a few "
    "minutes and keeps the key pair if BCC imported it; this page will say so. Reference {reference}."
)
NOT_STORED = _(
    "BCC created the key pair, but the portal could not store its private key, so it was deleted again "
    "in BCC. Nothing is left behind; please try again."
)
NOT_STORED_NOT_DELETED = _(
    "BCC created the key pair {keypair_id}, but the portal could not store its private key and could not "
    "delete it either. The portal's operators have been told; please quote reference {reference}."
)

# Limits checked before BCC is called (keypairs.limits), and the shared quota on the form.
# HTML (format_html escapes the values): the sentence links to the list, where key pairs are deleted.
PER_USER_CAP_REACHED = _(
    "You have {count} key pairs in {region}, and one person may have at most {limit} there. Nothing was "
    'created. Delete the ones you no longer need in <a href="{list_url}">My key pairs</a>, or choose another region.'
)
RATE_LIMITED = _(
    "You can start at most {limit} key pair creates per {window}. Nothing was created; please wait {wait} "
    "and try again."
)
QUOTA_LEFT = _("{remaining} of {total} key pairs left in {region}")
QUOTA_LEFT_UNKNOWN = _("Unknown how many of {total} key pairs are left in {region}: BCC could not be asked just now")

# Codes that mean the portal's own credentials or signing are wrong: nothing a user can fix.
MISCONFIGURATION_CODES = frozenset(
    {
        errors.ACCESS_DENIED,
        errors.INVALID_ACCESS_KEY_ID,
        errors.SIGNATURE_DOES_NOT_MATCH,
        errors.INVALID_HTTP_AUTH_HEADER,
        errors.REQUEST_EXPIRED,
        errors.MALFORMED_JSON,
        errors.INAPPROPRIATE_JSON,
        errors.INVALID_URI,
        errors.IDEMPOTENT_PARAMETER_MISMATCH,
    }
)
