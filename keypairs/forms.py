"""The form a developer fills in to create a key pair.

It parses and checks; it never changes what was typed. Django's CharField strips surrounding
whitespace by default, which would turn " web" into "web" behind the user's back: every text
field here keeps the input verbatim, and a name with a space is rejected with a message that
says so. BCC's rules live in ``keypairs.validation``; this form only wires them to fields.

The name and description inputs carry render hints for the browser: ``maxlength``, an HTML
``pattern`` equivalent to the server's rule, and a ``data-rules`` JSON attribute that
``static/js/keypair-form.js`` reads to show live hints with the server's own messages. The
browser advises; the server decides.
"""

from __future__ import annotations

import json
import re

from django import forms
from django.conf import settings
from django.core import validators
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from keypairs import validation
from keypairs.public_keys import MAX_INPUT_BYTES, PublicKeyRefused, public_key_inspect
from keypairs.regions import region_choices

# Lazy: the class attributes below are made once, at import, and read in each request's language.
NAME_HELP_TEXT = format_lazy(
    _(
        "1 to {limit} characters. Start with a letter (a–z or A–Z); then use letters, digits, "
        "Chinese characters and - _ / . only. No spaces."
    ),
    limit=validation.NAME_MAX_LENGTH,
)
DESCRIPTION_HELP_TEXT = format_lazy(
    _(
        "Optional, up to {limit} characters: letters (a–z, A–Z), digits, "
        "Chinese characters, spaces and . _ - = , ， : / 。"
    ),
    limit=validation.DESCRIPTION_MAX_LENGTH,
)
# In English, marked for translation (gettext_noop) and translated where they are used.
REGION_INVALID = gettext_noop("Choose one of the offered regions.")
FORM_TOKEN_MISSING = gettext_noop("This form has lost its one-time token. Reload the page and submit the form again.")
FORM_TOKEN_INVALID = gettext_noop("This form's one-time token is malformed. Reload the page and submit the form again.")

FORM_TOKEN_MAX_LENGTH = 64
# The shape of the tokens the view issues (secrets.token_urlsafe(32): 43 URL-safe characters).
# At least 32: the download token is derived from it, so it must carry real entropy.
_FORM_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")


class LiveHintBoundField(BoundField):
    """A field whose input is also described by the live hint that keypair-form.js fills in.

    Django already points ``aria-describedby`` at the help text and, after a failed submit, at
    the error list; this adds the hint element, and names it and the counter for the script.
    """

    @property
    def hint_id(self) -> str:
        return f"{self.auto_id}_hint" if self.auto_id else ""

    @property
    def count_id(self) -> str:
        return f"{self.auto_id}_count" if self.auto_id else ""

    @property
    def aria_describedby(self) -> str | None:
        described_by = super().aria_describedby
        if described_by is None or not self.hint_id:
            return described_by
        return f"{described_by} {self.hint_id}".strip()

    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        if self.auto_id:
            attrs["data-hint-id"] = self.hint_id
            attrs["data-count-id"] = self.count_id
        return attrs


class VerbatimCharField(forms.CharField):
    """A CharField that keeps the input exactly as sent: no stripping, no extra NUL message.

    Django adds ProhibitNullCharactersValidator to every CharField; the rule validators name a
    NUL themselves ("U+0000 NULL"), so Django's second, vaguer message is dropped.
    """

    def __init__(self, **kwargs):
        super().__init__(strip=False, **kwargs)
        self.validators = [
            validator
            for validator in self.validators
            if not isinstance(validator, validators.ProhibitNullCharactersValidator)
        ]


class RuleInput(forms.TextInput):
    """A text input carrying its field's rules and messages (``data-rules``) for keypair-form.js.

    The JSON is made when the input is rendered, not when the form class is defined, so that
    its messages are in the language of the request that renders it.
    """

    def __init__(self, *, rules: str, attrs: dict[str, str]) -> None:
        super().__init__(attrs=attrs)
        self.rules = rules

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"]["data-rules"] = json.dumps(validation.browser_rules(self.rules))
        return context


def _rule_input(*, max_length: int, pattern: str, rules: str) -> RuleInput:
    return RuleInput(
        rules=rules,
        attrs={
            "maxlength": str(max_length),
            "pattern": pattern,
            "autocomplete": "off",
            "spellcheck": "false",
            # Phones must not capitalise or "correct" what the user types: it is sent verbatim.
            "autocapitalize": "none",
            "autocorrect": "off",
        },
    )


def _validate_form_token(value: str) -> None:
    if not _FORM_TOKEN_SHAPE.fullmatch(value):
        raise ValidationError(gettext(FORM_TOKEN_INVALID), code="invalid")


class KeyPairCreateForm(forms.Form):
    """Name, optional description and region of a new key pair, plus the view's one-time token.

    ``cleaned_data``: ``name`` and ``description`` exactly as typed (``""`` for no description),
    ``region`` one of ``settings.BCC_REGIONS``, ``form_token`` as issued by the view.
    """

    name = VerbatimCharField(
        label=_("Name"),
        bound_field_class=LiveHintBoundField,
        help_text=NAME_HELP_TEXT,
        error_messages={"required": _(validation.NAME_REQUIRED)},
        validators=[validation.validate_name],
        widget=_rule_input(max_length=validation.NAME_MAX_LENGTH, pattern=validation.NAME_HTML_PATTERN, rules="name"),
    )
    description = VerbatimCharField(
        label=_("Description"),
        required=False,
        bound_field_class=LiveHintBoundField,
        help_text=DESCRIPTION_HELP_TEXT,
        validators=[validation.validate_description],
        widget=_rule_input(
            max_length=validation.DESCRIPTION_MAX_LENGTH,
            pattern=validation.DESCRIPTION_HTML_PATTERN,
            rules="description",
        ),
    )
    region = forms.ChoiceField(
        label=_("Region"),
        error_messages={"required": _(REGION_INVALID), "invalid_choice": _(REGION_INVALID)},
    )
    form_token = VerbatimCharField(
        widget=forms.HiddenInput,
        max_length=FORM_TOKEN_MAX_LENGTH,
        error_messages={"required": _(FORM_TOKEN_MISSING), "max_length": _(FORM_TOKEN_INVALID)},
        validators=[_validate_form_token],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = region_choices()
        self.fields["region"].initial = settings.BCC_DEFAULT_REGION


PUBLIC_KEY_HELP_TEXT = _(
    "The one line of your .pub file, such as id_ecdsa.pub: ssh-rsa (at least 2048 bits) or "
    "ecdsa-sha2-nistp256/384/521. Never your private key."
)
PUBLIC_KEY_BOTH = _("Paste a public key or choose a .pub file, not both.")


class KeyPairImportForm(KeyPairCreateForm):
    """The create form's name, description, region and token, plus the public key to import.

    The key is pasted (``public_key``) or chosen as a file (``public_key_file``), read here on
    the server and checked by ``public_key_inspect``: ``cleaned_data["inspected"]`` is what was
    understood. ``key_refusal_code`` is the refusal's code when the key was refused, so the
    page knows whether the pasted text may be shown again (never a private key, never
    something too large to tell).
    """

    public_key = VerbatimCharField(
        label=_("Public key"),
        required=False,
        help_text=PUBLIC_KEY_HELP_TEXT,
        widget=forms.Textarea(
            attrs={"rows": 4, "spellcheck": "false", "autocapitalize": "none", "autocorrect": "off", "class": "mono"}
        ),
    )
    public_key_file = forms.FileField(
        label=_("Or choose a .pub file"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".pub,text/plain"}),
    )

    key_refusal_code: str | None = None

    @sensitive_variables()
    def clean(self):
        cleaned = super().clean()
        pasted = cleaned.get("public_key") or ""
        chosen = cleaned.get("public_key_file")
        if pasted.strip() and chosen is not None:
            self.key_refusal_code = "both"
            self.add_error("public_key", PUBLIC_KEY_BOTH)
            return cleaned
        try:
            cleaned["inspected"] = public_key_inspect(read_public_key_upload(chosen) if chosen is not None else pasted)
        except PublicKeyRefused as refusal:
            self.key_refusal_code = refusal.code
            self.add_error("public_key", refusal.message)
        return cleaned

    def public_key_may_be_shown_again(self) -> bool:
        """Whether the pasted text may be rendered back into the page (a private key never is)."""
        return self.key_refusal_code not in REFUSALS_NEVER_SHOWN_AGAIN


# A private key must never come back in a page; text too large or undecodable could hide one.
REFUSALS_NEVER_SHOWN_AGAIN = frozenset({"private_key", "too_large", "undecodable"})


@sensitive_variables()
def read_public_key_upload(upload) -> bytes:
    """The file's bytes, at most one byte more than a public key may have (the check says "too large")."""
    upload.seek(0)
    return upload.read(MAX_INPUT_BYTES + 1)
