from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class KeypairsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "keypairs"
    verbose_name = _("BCC key pairs")

    def ready(self) -> None:
        from keypairs import offboarding_hooks
        from keypairs.cache_table import create_cache_table

        offboarding_hooks.connect()

        # sender=self: once per migrate, not once per installed app.
        post_migrate.connect(create_cache_table, sender=self, dispatch_uid="keypairs.create_cache_table")
