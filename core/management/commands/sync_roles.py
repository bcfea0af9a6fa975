"""``manage.py sync_roles``: give the role groups exactly the permissions the apps declare (core/roles.py).

``migrate`` does it already; run this after changing a role's grants without a migration, or to repair groups
someone edited by hand (the edit is undone: roles are code)."""

from core.management.base import AuditedCommand
from core.roles import sync_roles


class Command(AuditedCommand):
    help = "Create the staff role groups (broker admin, finance, support) and set their permissions."

    def handle(self, *args, **options) -> None:
        for role, count in sync_roles().items():
            self.stdout.write(f"{role.value}: {count} permissions")
