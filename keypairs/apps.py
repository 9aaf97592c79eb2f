from django.apps import AppConfig


class KeypairsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "keypairs"
    verbose_name = "BCC key pairs"
