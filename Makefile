# ECG Annotator: `make demo` serves the app, `make test` runs the tests.
# Both set up a virtualenv in .venv first (Python 3.12 or newer).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000
# Python >= 3.12 (Django 6 needs it): the first candidate that runs and is new enough.
PYTHON_CANDIDATES := $(PYTHON) python3.14 python3.13 python3.12 \
	$(wildcard $(shell pyenv root 2>/dev/null)/versions/3.1[2-9]*/bin/python3) python3
FIND_PYTHON := for p in $(PYTHON_CANDIDATES); do \
	if "$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	echo "$$p"; exit 0; fi; done; \
	echo "No Python 3.12 or newer found; install one or set PYTHON=/path/to/python3.12" >&2; exit 1

.PHONY: demo serve setup test test-fast bench lint format clean

$(VENV)/bin/python:
	@py=$$($(FIND_PYTHON)) && echo "Creating $(VENV) with $$py" && "$$py" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

setup: $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(PY) manage.py demo --addr $(HOST)

test: $(VENV)/.dev
	$(PY) -m pytest
	@# On PostgreSQL, run the tests marked for both engines on SQLite as well.
	@if [ -n "$$DATABASE_URL" ]; then \
		echo "Re-running the both_databases tests on SQLite"; \
		env -u DATABASE_URL -u REQUIRE_SERVICES $(PY) -m pytest -m both_databases -q; fi

bench: $(VENV)/.dev
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: $(VENV)/.dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var
