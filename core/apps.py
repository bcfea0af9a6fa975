from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate

from .checks import check_postgres_version
from .permissions import VIEW_AUDIT_LOG


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Ibex core"

    def ready(self) -> None:
        connection_created.connect(check_postgres_version, dispatch_uid="ibex-postgres-version")

        from . import audit, roles

        # The API's idempotency records are plumbing nobody browses. Staff users, their groups and API tokens are no
        # role's: whoever may edit users or mint a staff token may make itself finance (or a second finance clerk)
        # and pay alone, so they stay with superusers. Partners' own tokens are issued through the partner API.
        # The audit log (core.AuditEvent) is the broker admin's and finance's: its diffs show partners' payout details
        # in full, which support may not read.
        roles.register(
            "core",
            withhold={
                roles.Role.FINANCE: {"core.view_idempotencyrecord"},
                roles.Role.SUPPORT: {"core.view_idempotencyrecord", VIEW_AUDIT_LOG},
            },
        )
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="ibex-sync-roles")
        # Celery tasks' changes are attributed to the task (and to whoever queued it).
        audit.connect_celery_signals()
