"""Start-up checks of the database the project runs on.

PostgreSQL 14 or later is required: from 14 on ``EXTRACT(EPOCH FROM …)`` returns an exact ``numeric`` (before, a
``double precision`` that rounds microseconds), and the run adapters rely on it for trade times. Checked on every new
connection, before any query runs, so an older server fails loudly at start instead of pricing trades a microsecond
off.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

MINIMUM_POSTGRES = 140000  # server_version_num of PostgreSQL 14.0


def check_postgres_version(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: refuse a PostgreSQL older than 14."""
    if connection.vendor != "postgresql":
        raise ImproperlyConfigured("Ibex runs on PostgreSQL only (there is no SQLite path).")
    version = connection.pg_version
    if version < MINIMUM_POSTGRES:
        major, minor = divmod(version, 10000)
        raise ImproperlyConfigured(
            f"PostgreSQL 14 or later is required (EXTRACT(EPOCH …) must be exact); this server is {major}.{minor}."
        )
