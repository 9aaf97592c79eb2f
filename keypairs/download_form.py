"""The download form on a key pair's page: which file format the one download hands out."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from keypairs.key_formats import KeyFormat

KEY_FORMAT_UNKNOWN = _(
    "The portal offers the private key as .pem or .ppk only. Nothing was handed out and nothing changed: "
    "go back to the key pair and choose one of them."
)


class KeyPairDownloadForm(forms.Form):
    """Checked before the claim, so that a bad value spends nothing and changes nothing.

    A form without the field (a page opened before the choice existed) downloads the ``.pem``.
    """

    format = forms.ChoiceField(
        choices=KeyFormat.choices,
        required=False,
        error_messages={"invalid_choice": KEY_FORMAT_UNKNOWN},
    )

    def clean_format(self) -> KeyFormat:
        return KeyFormat(self.cleaned_data["format"] or KeyFormat.PEM)
