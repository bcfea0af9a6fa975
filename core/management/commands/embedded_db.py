"""``manage.py embedded_db status|stop|url``: look after the project's own PostgreSQL under ./var/."""

from django.conf import settings
from django.core.management.base import BaseCommand

from core.embedded_db import stop_embedded_database


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
            self.stdout.write(f"data directory: {pgdata}  database: {db.get('NAME')}  host: {db.get('HOST')}")
        elif stop_embedded_database(pgdata):
            self.stdout.write("embedded PostgreSQL stopped")
        else:
            self.stdout.write("embedded PostgreSQL was not running")
