# Two commands matter: `make run` (app with demo data on SQLite) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint typecheck check migrate demo clean bench-dashboard

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

clean:
	rm -rf $(VENV) var test-output

# Median render time of a reflection session screen (200 participants, 8 rounds) and the cost of a 304 poll.
bench-dashboard: install
	$(BIN)/python bench/dashboard.py
