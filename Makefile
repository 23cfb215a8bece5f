# Two commands matter: `make run` (app with demo data on SQLite) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint typecheck check migrate demo clean bench-scale

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
	$(BIN)/ruff check app tests migrations
	$(BIN)/ruff format --check app tests

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

# 1,000 clusters x 4 rounds x 25 members in a scratch PostgreSQL database (BENCH_POSTGRES_URL); prints timings.
bench-scale: install
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) var test-output
