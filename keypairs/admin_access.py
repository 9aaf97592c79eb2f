"""Access to instances in the admin: the access rules (portal admins manage them, auditors read
them), and the bindings and access requests the portal recorded (read only).

A rule must select instances (a tag key or a name prefix: never "every instance of a region"),
name a region the portal offers, and, when it limits time, a positive limit. The form says so
in a sentence per field before anything is saved.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from keypairs.admin import ReadOnlyAdmin
from keypairs.models import AccessRequest, AccessRule, InstanceBinding
from keypairs.regions import region_choices

SELECTOR_REQUIRED = _("Give a tag key or a name prefix: a rule must say which instances it selects.")
TAG_VALUE_WITHOUT_KEY = _("A tag value needs its tag key.")
DURATION_NOT_POSITIVE = _("The time limit must be at least one hour; leave it empty for no limit.")


class AccessRuleForm(forms.ModelForm):
    region = forms.ChoiceField(
        choices=region_choices, label=_("Region"), help_text=_("The region whose instances the rule selects.")
    )

    class Meta:
        model = AccessRule
        fields = (
            "name",
            "sso_group",
            "region",
            "tag_key",
            "tag_value",
            "name_prefix",
            "max_duration",
            "requires_approval",
            "enabled",
        )
        help_texts: ClassVar[dict] = {
            "sso_group": _("A value of the SSO groups claim (or a Django group's name, for local accounts)."),
            "max_duration": _(
                "How long a binding under this rule may last, e.g. 8:00:00 or 3 00:00:00; empty: no limit."
            ),
        }

    def clean_max_duration(self):
        duration = self.cleaned_data.get("max_duration")
        if duration is not None and duration < timedelta(hours=1):
            raise forms.ValidationError(DURATION_NOT_POSITIVE)
        return duration

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("tag_value") and not cleaned.get("tag_key"):
            self.add_error("tag_value", TAG_VALUE_WITHOUT_KEY)
        if not cleaned.get("tag_key") and not cleaned.get("name_prefix"):
            self.add_error(None, SELECTOR_REQUIRED)
        return cleaned


@admin.register(AccessRule)
class AccessRuleAdmin(admin.ModelAdmin):
    form = AccessRuleForm
    actions = None
    list_display = (
        "name",
        "sso_group",
        "region",
        "tag_key",
        "tag_value",
        "name_prefix",
        "max_duration",
        "requires_approval",
        "enabled",
    )
    list_filter = ("region", "enabled", "requires_approval")
    search_fields = ("name", "sso_group")


@admin.register(InstanceBinding)
class InstanceBindingAdmin(ReadOnlyAdmin):
    list_display = (
        "instance_id",
        "instance_name",
        "region",
        "keypair_request",
        "state",
        "rule",
        "bound_by",
        "bound_at",
        "expires_at",
        "unbind_attempts",
    )
    list_filter = ("state", "region")
    search_fields = ("instance_id", "instance_name")
    list_select_related = ("keypair_request", "rule", "bound_by")


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "requester", "keypair_request", "rule", "region", "status", "created_at", "decide_by")
    list_filter = ("status", "region")
    list_select_related = ("requester", "keypair_request", "rule")
