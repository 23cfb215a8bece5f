# Two commands matter: `make run` (app with demo data on SQLite) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Printed links (demo, member links, join code) use it: `make run PORT=8031` prints 8031.
PUBLIC_URL ?= http://$(HOST):$(PORT)
export PUBLIC_URL

.PHONY: install assets run test lint typecheck check migrate demo clean bench-page bench-scale bench-load bench-cost bench-openrosa test-durability test-fuzz test-odk backup bench-dashboard \
	messages compile extract fonts

# Interface translations (Babel): en is the source language; these have catalogues.
CATALOGUE_LOCALES := es pt th fr ar
MO_FILES := $(foreach l,$(CATALOGUE_LOCALES),translations/$(l)/LC_MESSAGES/messages.mo)
# Besides the gettext functions, an AppError's or AnswerRejected's first argument is a message.
BABEL_KEYWORDS := -k _l -k _nl:1,2 -k NotFound -k Conflict -k InvalidInput -k Forbidden -k Unauthorized \
	-k TooManyAttempts -k AppError -k AnswerRejected -k SubmissionRejected -k ImportRejected -k TooLarge -k TooSlow -k MailUnavailable

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP) $(MO_FILES)

# Compiled catalogues are built, never committed (see .gitignore).
translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -D messages -l $* -i $< -o $@

compile: $(MO_FILES)

# After changing interface strings: extract them, merge them into every catalogue, then translate
# what the completeness test (tests/unit/i18n/test_catalogues.py) reports, and `make compile`.
POT ?= translations/messages.pot
extract:
	$(BIN)/pybabel -q extract --mapping-file babel.cfg --no-default-keywords -k _ -k gettext -k ngettext:1,2 \
		-k pgettext:1c,2 -k npgettext:1c,2,3 $(BABEL_KEYWORDS) --add-comments=Translators: \
		--project=ClusterScore --copyright-holder="ClusterScore contributors" --sort-by-file \
		--output-file $(POT) .

messages: $(STAMP) extract
	$(BIN)/pybabel update --input-file translations/messages.pot --output-dir translations --domain messages \
		--previous --ignore-obsolete

# axe-core for the browser tests' accessibility audit, from the npm registry (package-lock.json pins it): test-only,
# never committed. The app's own front-end files (htmx, idiomorph) are committed in static/vendor: no npm to run it.
NPM_STAMP := node_modules/.installed
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

assets: $(NPM_STAMP)

migrate: install
	$(BIN)/clusterscore migrate

demo: migrate
	$(BIN)/clusterscore demo

run: demo
	@echo "ClusterScore is starting on $(PUBLIC_URL)/ (API docs at /docs). Ctrl+C stops it."
	$(BIN)/uvicorn app.main:app --host $(HOST) --port $(PORT) --no-proxy-headers

test: install assets
	$(BIN)/pytest -n 2 -p no:cacheprovider

# Against a real ODK Central that is already running (docs/interop.md says how to bring one up here):
# ODK_CENTRAL_URL, ODK_CENTRAL_EMAIL, ODK_CENTRAL_PASSWORD. Skipped, with that message, without them.
# ODK_FIXTURES_DIR=tests/fixtures/interop also saves Central's exports as the regular suite's fixtures.
test-odk: install
	$(BIN)/pytest -p no:cacheprovider -n 0 tests/odk

# Bytes and requests of a member form's first load and of one autosave, measured in Chromium.
bench-page: install assets
	$(BIN)/python -m bench.page_weight

lint: install
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests bench

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

# 1,000 clusters x 4 rounds x 25 members in a scratch PostgreSQL database (BENCH_POSTGRES_URL); prints timings.
bench-scale: install
	$(BIN)/python bench/scale.py --clusters 1000
	$(BIN)/python bench/scale.py --clusters 10000 --runs 3
# Proof (issue 9): load at a workshop deadline, crash recovery, fuzzing, backups. See docs/benchmarks.md.
MEMBERS ?= 100
THINK ?= 5
DB ?= --db sqlite --db postgres
bench-load: install
	$(BIN)/python -m bench.load --members $(MEMBERS) --think $(THINK) $(DB) $(if $(AGAINST),--against $(AGAINST))

# Where the load benchmark's CPU goes: server CPU per kind of member request, beside the minimal insert.
AGAINST ?=
bench-cost: install
	$(BIN)/python -m bench.request_cost $(DB) $(if $(AGAINST),--against $(AGAINST))

# ODK Collect-like OpenRosa submissions: 10 staff devices, 500 new members per round, two rounds, repeats.
CLIENTS ?= 10
PER_ROUND ?= 500
bench-openrosa: install
	$(BIN)/python -m bench.openrosa --clients $(CLIENTS) --per-round $(PER_ROUND) $(DB)

test-durability: install
	$(BIN)/pytest -p no:cacheprovider tests/durability

test-fuzz: install
	CLUSTERSCORE_FUZZ_EXAMPLES=100 $(BIN)/pytest -p no:cacheprovider tests/integration/api/test_openapi_fuzz.py \
		tests/integration/test_hostile_input.py tests/unit/scorecards/test_scorecard_properties.py \
		tests/unit/scorecards/test_scorecard_fuzz.py

backup: install
	$(BIN)/clusterscore backup

# The Thai and Arabic subset fonts in static/fonts/ (committed): from Debian's fonts-noto-core with fonttools.
fonts: install
	$(BIN)/pip install --quiet --disable-pip-version-check fonttools==4.68.0 brotli==1.2.1
	$(BIN)/python tools/subset_fonts.py

clean:
	rm -rf $(VENV) var test-output node_modules

# Median render time of a reflection session screen (200 participants, 8 rounds) and the cost of a 304 poll.
bench-dashboard: install
	$(BIN)/python bench/dashboard.py
