# One command for the demo, one for the tests. Everything installs into ./.venv; the database is the embedded
# PostgreSQL under ./var/ unless DATABASE_URL is set; Celery is eager unless REDIS_URL is set.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
TRADES ?= 200000
SEED ?= 7

.PHONY: install demo test lint format bench clean-db

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python manage.py migrate --no-input
	DEMO_BASE_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py seed_demo --trades $(TRADES) --seed $(SEED)
	$(BIN)/python manage.py collectstatic --no-input -v 0
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Each benchmark creates, migrates and drops a scratch database of its own on the configured server.
bench: install
	$(BIN)/python manage.py bench $(BENCH) $(BENCH_ARGS)

# Stop the embedded server before deleting its data directory, never delete it under a running one. The dummy
# DATABASE_URL keeps settings from starting the server just to stop it; the fallback needs no Django settings.
clean-db:
	@if [ -d var/postgres ]; then \
	  DATABASE_URL=postgres://unused/unused $(BIN)/python manage.py embedded_db stop \
	  || $(BIN)/python -c 'import core.embedded_db as e; print("embedded PostgreSQL", "stopped" if e.stop_embedded_database("var/postgres") else "was not running")'; \
	  if ! $(BIN)/python -c 'import core.embedded_db as e; raise SystemExit(e.running_postmaster_pid("var/postgres") is not None)'; then \
	    echo "clean-db: the embedded PostgreSQL under var/postgres is still running (or could not be checked); not deleting it" >&2; \
	    exit 1; \
	  fi; \
	fi
	rm -rf var/postgres
