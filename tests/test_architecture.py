"""The project's structural checks run with the tests: the layout of ARCHITECTURE.md (apps, layers, pure engines,
modules layered inside each app, no cycles), migrations in sync, system checks, a schema without warnings."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["demo", "reporting", "mam", "commissions", "runs", "ledger", "partners", "core"]


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["name"]: contract for contract in config["contracts"]}


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in result.stdout


def test_the_contracts_are_the_architecture_and_cannot_be_dodged():
    contracts = _contracts()
    layers = next(c for c in contracts.values() if c["type"] == "layers" and "containers" not in c)
    assert layers["layers"] == LAYERS
    engines = [c for c in contracts.values() if c["type"] == "forbidden" and c["source_modules"][0].endswith(".engine")]
    assert sorted(c["source_modules"][0] for c in engines) == ["commissions.engine", "mam.engine"]
    for contract in engines:
        assert not contract.get("allow_indirect_imports"), contract["name"]  # an indirect import is still an import
        assert {"django", "rest_framework", "celery"} <= set(contract["forbidden_modules"])
    inside = next(c for c in contracts.values() if c["type"] == "layers" and "containers" in c)
    assert set(inside["containers"]) == set(LAYERS)
    acyclic = next(c for c in contracts.values() if c["type"] == "acyclic_siblings")
    assert set(acyclic["ancestors"]) == set(LAYERS)
    reporting = next(c for c in contracts.values() if c.get("source_modules") == ["reporting"])
    assert "*.services" in reporting["forbidden_modules"] and "runs.line_store" in reporting["forbidden_modules"]


def test_the_installed_apps_follow_the_layers():
    installed = [config.name for config in apps.get_app_configs() if config.name in LAYERS]
    assert installed == ["core", "partners", "ledger", "runs", "commissions", "mam", "reporting", "demo"]
    # The framework knows no domain: it registers kinds, it does not define them.
    from runs.registry import kind_names

    assert kind_names() == ["commissions", "fees"]


def test_the_moved_pieces_live_where_the_layout_says():
    for module in (
        "runs.models", "runs.registry", "runs.line_store", "runs.services.chunks", "runs.services.sweep",
        "ledger.models", "ledger.services.posting", "ledger.selectors", "core.exact", "core.exceptions",
        "core.vocabulary", "demo.seed.seed", "demo.bench.suite", "commissions.services.run_kind",
        "commissions.adapters", "commissions.admin.plans",
    ):  # fmt: skip
        __import__(module)
    for gone in ("commissions.services.runs", "commissions.services.journal", "commissions.engine.exact",
                 "commissions.bench", "commissions.demo", "commissions.api.partner_plans"):  # fmt: skip
        with pytest.raises(ModuleNotFoundError):
            __import__(gone)


@pytest.mark.django_db
def test_models_and_migrations_are_in_sync():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_system_checks_pass():
    call_command("check", fail_level="WARNING")


def test_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in ("/api/v1/trades/", "/api/v1/partners/{code}/move/", "/api/v1/runs/", "/api/v1/lines/"):
        assert path in text
