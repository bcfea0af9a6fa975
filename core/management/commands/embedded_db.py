"""``manage.py embedded_db status|stop|url``: look after the project's own PostgreSQL under ./var/.

``stop`` needs nothing from the database settings, so it can run with any ``DATABASE_URL`` (``make clean-db`` sets a
dummy one so that loading settings does not first start the server it is about to stop).
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.embedded_db import running_postmaster_pid, stop_embedded_database


class Command(BaseCommand):
    help = "Show, print the URL of, or stop the embedded PostgreSQL server (used when DATABASE_URL is unset)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop", "url"])

    def handle(self, *args, action: str, **options):
        pgdata = settings.VAR_DIR / "postgres"
        db = settings.DATABASES["default"]
        if action == "url":
            self.stdout.write(f"host={db.get('HOST')} dbname={db.get('NAME')} user={db.get('USER')}")
        elif action == "status":
            pid = running_postmaster_pid(pgdata)
            state = f"running (pid {pid})" if pid else "not running"
            self.stdout.write(f"data directory: {pgdata} ({state})  database: {db.get('NAME')}  host: {db.get('HOST')}")
        else:
            self._stop(pgdata)

    def _stop(self, pgdata: Path) -> None:
        try:
            was_running = stop_embedded_database(pgdata)
        except Exception as exc:  # report it as a command failure (exit 1, one line) so callers can fall back
            raise CommandError(f"could not stop the embedded PostgreSQL under {pgdata}: {exc}") from exc
        self.stdout.write("embedded PostgreSQL stopped" if was_running else "embedded PostgreSQL was not running")
