from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PortalAuthConfig(AppConfig):
    name = "portal.auth"
    # "auth" is django.contrib.auth's label.
    label = "portal_auth"
    verbose_name = _("Sign-in")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal import languages  # noqa: F401  (its sign-in receiver keeps each person's language)
        from portal.auth import audit_hooks

        audit_hooks.connect()
        # After every migrate (this app is installed after keypairs, so its permissions exist
        # by then): the role groups hold exactly the permissions roles.py gives them.
        post_migrate.connect(_sync_role_groups, sender=self)


def _sync_role_groups(**kwargs) -> None:
    from portal.auth import roles

    roles.sync_role_groups(using=kwargs.get("using", "default"))
