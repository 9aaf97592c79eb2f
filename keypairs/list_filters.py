"""The search and filters of "My key pairs": what each state means, and the GET form that picks them.

States are read from the records (delivery, report, kind, status), so that a filter is part of
the one query of the page, whatever it shows:

- waiting for download: created by BCC, its private key still held for its one download;
- downloaded: created by BCC, its private key downloaded (and not reported);
- reported: its owner said "I did not download this" (someone else may hold the private key);
- imported: the owner's own public key; the portal never held a private key;
- deleted: deleted through the portal, or found gone from BCC.
"""

from __future__ import annotations

from django import forms
from django.db.models import Q, TextChoices
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from keypairs.models import KeyPairRequest
from keypairs.regions import region_choices

Status = KeyPairRequest.Status
Kind = KeyPairRequest.Kind
# Rows per page: a phone scrolls through 25 cards comfortably; the search finds the rest.
PAGE_SIZE = 25
SEARCH_MAX_LENGTH = 65  # a BCC name is at most 65 characters


class ListState(TextChoices):
    WAITING = "waiting", _("Waiting for download")
    DOWNLOADED = "downloaded", _("Downloaded")
    REPORTED = "reported", _("Reported")
    IMPORTED = "imported", _("Imported")
    # Made outside the portal and assigned by a portal admin (the BCC inventory).
    ASSIGNED = "assigned", _("Assigned to you")
    DELETED = "deleted", _("Deleted")


def state_condition(state: str) -> Q:
    """The records in ``state``, as a condition on ``KeyPairRequest`` and its delivery."""
    live_created = Q(status=Status.CREATED, kind=Kind.CREATE)
    not_reported = Q(delivery__reported_at__isnull=True)
    if state == ListState.WAITING:
        return (
            live_created
            & not_reported
            & Q(delivery__claimed_at__isnull=True, delivery__wiped_at__isnull=True)
            & Q(delivery__expires_at__gt=timezone.now())
        )
    if state == ListState.DOWNLOADED:
        return live_created & not_reported & Q(delivery__claimed_at__isnull=False)
    if state == ListState.REPORTED:
        return Q(status=Status.CREATED, delivery__reported_at__isnull=False)
    if state == ListState.IMPORTED:
        return Q(status=Status.CREATED, kind=Kind.IMPORT)
    if state == ListState.ASSIGNED:
        return Q(status=Status.CREATED, kind=Kind.ASSIGNED)
    if state == ListState.DELETED:
        return Q(status=Status.DELETED)
    raise ValueError(f"Unknown key pair state {state!r}.")


class KeypairListFilterForm(forms.Form):
    """The GET form above the list. Anything it cannot read is ignored: a filter never refuses a page."""

    q = forms.CharField(label=_("Name contains"), required=False, max_length=SEARCH_MAX_LENGTH)
    region = forms.ChoiceField(label=_("Region"), required=False)
    state = forms.ChoiceField(label=_("State"), required=False)

    def __init__(self, *args, **kwargs) -> None:
        # Django's ":" after each label, full-width in Chinese.
        kwargs.setdefault("label_suffix", pgettext("after a form label", ":"))
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", _("All regions")), *region_choices()]
        self.fields["state"].choices = [("", _("All states")), *ListState.choices]
        self.fields["q"].widget.attrs.update({"type": "search", "autocomplete": "off"})

    def filters(self) -> dict[str, str]:
        """The valid filters, by field; an invalid one is left out (shown as "all")."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value}
