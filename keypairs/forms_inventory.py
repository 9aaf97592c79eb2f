"""The form of assigning an unowned key pair from the BCC inventory to a person (keypairs/admin_inventory.py)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from portal.auth.roles import GROUP_NAMES, Role


def developers():
    """The people a key pair can be assigned to: active, with the developer role."""
    people = get_user_model().objects.filter(is_active=True, groups__name=GROUP_NAMES[Role.DEVELOPER])
    return people.order_by("username")


class AssignForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=developers(),
        label=_("New owner"),
        empty_label=_("Pick a developer"),
        help_text=_("An active person with the developer role: the key pair appears in their “My key pairs”."),
        error_messages={"required": _("Pick the person who will own this key pair.")},
    )
