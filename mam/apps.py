from django.apps import AppConfig


class MamConfig(AppConfig):
    name = "mam"
    verbose_name = "MAM groups and allocation"
