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

# Benchmarks empty their tables, so they run in their own database (embedded, or BENCH_DATABASE_URL).
bench: install
	EMBEDDED_DB_NAME=ibex_bench DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --no-input -v 0
	EMBEDDED_DB_NAME=ibex_bench DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py bench $(BENCH)

clean-db:
	-$(BIN)/python manage.py embedded_db stop
	rm -rf var/postgres
