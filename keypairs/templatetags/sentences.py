"""``{{ kp.error_message|translated_sentence }}`` and ``{{ instance.status|instance_status }}``:
text that was stored or sent in one language, shown in the reader's."""

from django import template
from django.utils.translation import pgettext_lazy

from keypairs.sentences import in_reader_language

register = template.Library()

# BCC's instance status values (shared/reference/bcc-keypair-api.md), as Baidu's console words them.
INSTANCE_STATUSES = {
    "Running": pgettext_lazy("instance status", "Running"),
    "Starting": pgettext_lazy("instance status", "Starting"),
    "Stopping": pgettext_lazy("instance status", "Stopping"),
    "Stopped": pgettext_lazy("instance status", "Stopped"),
    "Deleted": pgettext_lazy("instance status", "Deleted"),
    "Scaling": pgettext_lazy("instance status", "Scaling"),
    "Expired": pgettext_lazy("instance status", "Expired"),
    "Error": pgettext_lazy("instance status", "Error"),
    "SnapshotProcessing": pgettext_lazy("instance status", "Creating a snapshot"),
    "ImageProcessing": pgettext_lazy("instance status", "Creating an image"),
    "ChangeVpc": pgettext_lazy("instance status", "Changing VPC"),
    "Recycled": pgettext_lazy("instance status", "In the recycle bin"),
}


@register.filter
def translated_sentence(stored: str) -> str:
    return in_reader_language(stored)


@register.filter
def instance_status(status: str) -> str:
    """An unknown value is shown as BCC sent it."""
    return str(INSTANCE_STATUSES.get(status, status))
