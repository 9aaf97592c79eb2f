"""The form that renames a key pair and changes its description.

The same fields as the create form, so the same rules, messages and live hints: the fields
are the create form's own (``KeyPairCreateForm.base_fields``; each form instance works on a
deep copy), not a second definition that could drift from it.
"""

from __future__ import annotations

from django import forms

from keypairs.forms import KeyPairCreateForm


class KeyPairChangeForm(forms.Form):
    """``cleaned_data``: ``name`` and ``description`` exactly as typed, by the create form's rules."""

    name = KeyPairCreateForm.base_fields["name"]
    description = KeyPairCreateForm.base_fields["description"]
