# Dinamis: `make run` serves the portal, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# The app reads them too: e-mailed links default to http://$(HOST):$(PORT).
export HOST PORT
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PO := $(wildcard dinamis/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)
ASSETS := dinamis/static/vendor/.built

.PHONY: run test install db migrate seed lint format messages clean

run: install db migrate seed
	$(BIN)/dinamis run-all --host $(HOST) --port $(PORT)

test: install
	./scripts/system-deps.sh browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/ensure_db.py --probe
	$(BIN)/pytest $(PYTEST_ARGS)

install: $(STAMP) $(MO) $(ASSETS)

# Front-end libraries from the npm registry, served by the app (no CDN).
$(ASSETS): package-lock.json scripts/build-assets.sh
	./scripts/build-assets.sh
	touch $@

$(STAMP): pyproject.toml
	./scripts/system-deps.sh base
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# dsm: CNES's CARS for the surface models (~1.7 GB, binary wheels; worker side only)
	$(BIN)/pip install --quiet -e '.[dev,dsm]'
	rm -f $(VENV)/.installed-*
	touch $@

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

db: install
	$(BIN)/python scripts/ensure_db.py --database

migrate: db
	$(BIN)/dinamis db upgrade

seed: migrate
	$(BIN)/dinamis seed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Extract the strings to translate and update the catalogues.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -o dinamis/translations/messages.pot .
	$(BIN)/pybabel update -i dinamis/translations/messages.pot -d dinamis/translations

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
