"""The base of Ibex's management commands: what a command changes, the audit trail attributes to it."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from core.audit import audit_context, os_login


class AuditedCommand(BaseCommand):
    """A command whose changes carry ``via=command``, the command's name and the operating-system login that ran it
    (``core/audit.py``). A command that acts as a named user (``payout_batch --user``) says so with
    ``core.audit.note_actor`` once it has found the user.

    ``execute`` (Django's system checks, then ``handle``) runs inside the context, so ``call_command`` is covered
    as well as ``manage.py``."""

    def execute(self, *args, **options):
        with audit_context(via="command", command=self.command_name, os_user=os_login()):
            return super().execute(*args, **options)

    @property
    def command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]
