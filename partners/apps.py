from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partner network"

    def ready(self) -> None:
        from .permissions import register_roles

        register_roles()
