"""Production settings fail closed, and the API docs page loads nothing from a CDN."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_production(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    clean.update(DJANGO_SETTINGS_MODULE="config.settings.production", PYTHONPATH=str(ROOT), **env)
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    )
    # Run outside the checkout so no ./.env is read, as on a production host that only has its environment.
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, "DATABASE_URL, REDIS_URL, SECRET_KEY"),
        ({"DATABASE_URL": "postgres://db.example/ibex", "SECRET_KEY": "x" * 60}, "REDIS_URL"),
        ({"REDIS_URL": "redis://r.example/0", "SECRET_KEY": "x" * 60}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://db.example/ibex", "REDIS_URL": "redis://r.example/0"}, "SECRET_KEY"),
    ],
)
def test_production_settings_refuse_to_start_without_their_services(tmp_path, given, missing):
    result = _load_production(tmp_path, **given)
    assert result.returncode != 0
    assert f"Production settings need {missing}" in result.stderr
    assert not (tmp_path / "var").exists()  # no embedded database was started


def test_production_settings_load_with_their_services(tmp_path):
    result = _load_production(
        tmp_path,
        DATABASE_URL="postgres://db.example:5432/ibex",
        REDIS_URL="redis://r.example:6379/0",
        SECRET_KEY="s" * 60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ibex"


@pytest.mark.parametrize(("units", "reported"), [("XBT=12", "'XBT'] must be 0 to 8 places"), ("USC=two", "'USC']")])
def test_a_bad_minor_unit_setting_stops_every_process_at_start(tmp_path, units, reported):
    """Web, worker or command: a misconfigured currency unit fails the start, never the first posting in it."""
    services = {"DATABASE_URL": "postgres://db.example:5432/ibex", "REDIS_URL": "redis://r.example:6379/0"}
    result = _load_production(tmp_path, SECRET_KEY="s" * 60, IBEX_CURRENCY_MINOR_UNITS=units, **services)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr
    assert f"IBEX_CURRENCY_MINOR_UNITS[{reported}" in result.stderr
    fine = _load_production(tmp_path, SECRET_KEY="s" * 60, IBEX_CURRENCY_MINOR_UNITS="XBT=8,USC=2", **services)
    assert fine.returncode == 0, fine.stderr


@pytest.mark.django_db
def test_the_docs_page_serves_swagger_ui_from_this_projects_static_files(admin_client):
    html = admin_client.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in html
