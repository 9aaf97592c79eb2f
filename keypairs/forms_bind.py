"""The bind page's form: which instances, for how long, the confirmation, and why (for approvers).

It only parses: which instances may be bound, whether a duration or a reason is needed, is
decided by ``keypairs.services.bind_under_rules`` against the rules and BCC's state, so an
edited form cannot choose what the page did not offer.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

# BCC's instance ids ("i-AbC123xy"): anything else in the form was not offered by the page.
INSTANCE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_CHOSEN = 100
MAX_HOURS = 24 * 366

BAD_INSTANCE = _("That is not an instance this page offered.")
# Its count is a ValidationError param: ``%`` on a lazy string here would translate it at import.
TOO_MANY = _("Choose at most %(count)s instances at once.")


class InstanceIdsField(forms.Field):
    """The ticked instances' ids, as a list; the page sends one ``instance`` value per ticked box."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = [str(item).strip() for item in (value or []) if str(item).strip()]
        if len(values) > MAX_CHOSEN:
            raise forms.ValidationError(TOO_MANY, params={"count": MAX_CHOSEN})
        if any(not INSTANCE_ID.match(item) for item in values):
            raise forms.ValidationError(BAD_INSTANCE)
        return list(dict.fromkeys(values))


class KeyPairBindForm(forms.Form):
    instance = InstanceIdsField(required=False)
    duration_hours = forms.IntegerField(label=_("For how many hours"), required=False, min_value=1, max_value=MAX_HOURS)
    confirm_replace = forms.BooleanField(required=False)
    reason = forms.CharField(label=_("Why you need this access"), required=False, max_length=500)

    @property
    def duration(self) -> timedelta | None:
        hours = self.cleaned_data.get("duration_hours")
        return timedelta(hours=hours) if hours else None


class InstanceUnbindForm(forms.Form):
    instance = forms.RegexField(regex=INSTANCE_ID, error_messages={"invalid": BAD_INSTANCE})
