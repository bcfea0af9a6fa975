"""A database of the benchmark's own: created on the configured server for one benchmark, migrated, dropped after.

Benchmarks load millions of generated rows and empty tables between measurements; they never do it to the
configured database (whose ledger refuses TRUNCATE anyway). Django's ``default`` connection points at the scratch
database while the benchmark runs (forked children inherit that), and back at the configured one afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from psycopg import sql


def _server_params(database: str) -> dict:
    params = dict(connections["default"].get_connection_params())
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["dbname"] = database
    return params


@contextmanager
def bench_database(*, label: str, keep: bool = False, write: Callable[[str], None] = print) -> Iterator[str]:
    """Run the block against a fresh, migrated database ``<configured name>_bench_<label>``; drop it afterwards
    (unless ``keep``)."""
    configured = settings.DATABASES["default"]["NAME"]
    name = f"{configured}_bench_{label}"[:63]
    admin = _server_params("postgres")
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connections.close_all()
    _point_default_at(name)
    try:
        write(f"bench: migrating the scratch database {name} …")
        call_command("migrate", verbosity=0, interactive=False)
        yield name
    finally:
        connections.close_all()
        _point_default_at(configured)
        if not keep:
            with psycopg.connect(**admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _point_default_at(name: str) -> None:
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name
