from django.apps import AppConfig
from django.db.backends.signals import connection_created

from .checks import check_postgres_version


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Ibex core"

    def ready(self) -> None:
        connection_created.connect(check_postgres_version, dispatch_uid="ibex-postgres-version")
