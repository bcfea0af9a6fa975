"""The embedded PostgreSQL starts from the wheel and serves a real database (no SQLite path exists)."""

import psycopg
import pytest

from core.embedded_db import ensure_embedded_database


@pytest.mark.slow
def test_embedded_server_starts_and_creates_the_database(tmp_path):
    url = ensure_embedded_database(tmp_path / "pg", database="ibex_probe")
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == "ibex_probe"
            assert int(conn.execute("SHOW server_version_num").fetchone()[0]) >= 150000
        # A second call reuses the running server and the existing database.
        assert ensure_embedded_database(tmp_path / "pg", database="ibex_probe") == url
    finally:
        from core.embedded_db import stop_embedded_database

        assert stop_embedded_database(tmp_path / "pg")


def test_settings_use_postgresql(settings):
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
