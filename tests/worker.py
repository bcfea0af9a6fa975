"""Start real Celery worker processes against Redis and the test database, for reliability tests.

The worker is a separate OS process (``celery -A config worker``) that reads the same PostgreSQL test database the
test uses, so tests using it must commit their data (``transaction=True``) and need ``REDIS_URL``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "postgres")
    password = quote(db.get("PASSWORD") or "")
    # The embedded server is reached through a socket directory given in OPTIONS, not HOST.
    options = db.get("OPTIONS") or {}
    host = db.get("HOST") or options.get("host") or ""
    port = db.get("PORT") or options.get("port") or ""
    name = db["NAME"]
    if host.startswith("/"):
        return f"postgresql://{user}:{password}@/{name}?host={quote(host)}" + (f"&port={port}" if port else "")
    return f"postgresql://{user}:{password}@{host}{':' + str(port) if port else ''}/{name}"


def worker_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL=test_database_url(),
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


@contextmanager
def celery_worker(name: str = "w1", *, concurrency: int = 1, log_path: Path | None = None, **extra_env: str):
    """Run one worker process for the duration of the block; stop it (SIGTERM, then SIGKILL) afterwards."""
    log = open(log_path or os.devnull, "ab")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=worker_env(**extra_env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def kill_hard(proc: subprocess.Popen) -> None:
    """kill -9 the worker and all its children, as a crashed machine would."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
