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

        # Staff users and API tokens are the broker admin's; the API's idempotency records are plumbing nobody browses.
        roles.register(
            "core",
            withhold={role: {"core.view_idempotencyrecord"} for role in (roles.Role.FINANCE, roles.Role.SUPPORT)},
            extra={
                roles.Role.BROKER_ADMIN: {
                    "auth.view_user",
                    "auth.add_user",
                    "auth.change_user",
                    "auth.view_group",
                    "authtoken.view_tokenproxy",
                    "authtoken.add_tokenproxy",
                    "authtoken.delete_tokenproxy",
                    "authtoken.view_token",
                    "authtoken.add_token",
                    "authtoken.delete_token",
                }
            },
        )
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="ibex-sync-roles")
