# Two commands matter: `make run` (app with demo data on SQLite) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint typecheck check migrate demo clean bench-load test-durability test-fuzz backup

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/clusterscore migrate

demo: migrate
	$(BIN)/clusterscore demo

run: demo
	@echo "ClusterScore is starting on http://$(HOST):$(PORT)/ (API docs at /docs). Ctrl+C stops it."
	$(BIN)/uvicorn app.main:app --host $(HOST) --port $(PORT)

test: install
	$(BIN)/pytest -n 2 -p no:cacheprovider

lint: install
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests bench

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

# Proof (issue 9): load at a workshop deadline, crash recovery, fuzzing, backups. See docs/benchmarks.md.
MEMBERS ?= 100
DB ?= --db sqlite --db postgres
bench-load: install
	$(BIN)/python -m bench.load --members $(MEMBERS) $(DB)

test-durability: install
	$(BIN)/pytest -p no:cacheprovider tests/durability

test-fuzz: install
	CLUSTERSCORE_FUZZ_EXAMPLES=100 $(BIN)/pytest -p no:cacheprovider tests/integration/api/test_openapi_fuzz.py \
		tests/integration/test_hostile_input.py tests/unit/scorecards/test_scorecard_properties.py \
		tests/unit/scorecards/test_scorecard_fuzz.py

backup: install
	$(BIN)/clusterscore backup

clean:
	rm -rf $(VENV) var test-output
