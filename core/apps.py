from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate

from .checks import check_postgres_version


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Ibex core"

    def ready(self) -> None:
        connection_created.connect(check_postgres_version, dispatch_uid="ibex-postgres-version")

        from . import roles

        # The API's idempotency records are plumbing nobody browses. Staff users, their groups and API tokens are no
        # role's: whoever may edit users or mint a staff token may make itself finance (or a second finance clerk)
        # and pay alone, so they stay with superusers. Partners' own tokens are issued through the partner API.
        roles.register(
            "core",
            withhold={role: {"core.view_idempotencyrecord"} for role in (roles.Role.FINANCE, roles.Role.SUPPORT)},
        )
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="ibex-sync-roles")
