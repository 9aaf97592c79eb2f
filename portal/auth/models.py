"""How a person the identity provider vouches for is tied to their portal account."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Identity(models.Model):
    """One (issuer, subject) pair: the provider's stable, never-reassigned name for a person.

    Accounts are found through this row and never through an email address or a user name:
    an email changes when someone marries or the company renames its domain, and a departed
    colleague's address may be given to a newcomer, who must not inherit their key pairs.
    """

    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities")
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    # The values of the SSO groups claim (SSO_ROLES_CLAIM) at the last sign-in or assertion:
    # access rules name these groups (keypairs.models.AccessRule.sso_group).
    groups = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = (models.UniqueConstraint(fields=["issuer", "subject"], name="identity_issuer_subject_unique"),)

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class PersonLanguage(models.Model):
    """The language a person last chose or signed in with: mails to them are written in it.

    A page takes its language from the request (portal/languages.py); a mail has no request, so
    the person's choice is kept here, set by the language switch and at each sign-in.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="language"
    )
    # One of settings.LANGUAGES' codes ("en", "zh-hans"); not a choices field, so that adding a
    # language needs no migration.
    language = models.CharField(max_length=16)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} reads {self.language}"
