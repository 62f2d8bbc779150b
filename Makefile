# TransitStream. `make help` lists the targets; `make demo` and `make test` set up what is missing.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
TS    := $(VENV)/bin/transitstream
PYTHON ?= python3
export PATH := $(abspath $(VENV))/bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup system-packages demo test test-unit test-integration test-notebooks lint format \
        up down status doctor bench-ingest clean notebooks-refresh

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'

setup: system-packages $(VENV)/.installed .transitstream/jars/.resolved ## install everything missing (idempotent)
	@echo "setup: done"

system-packages: ## Debian packages: JRE 17, Maven, Postgres, Prometheus, python3-venv, Chromium, wrk
	@bash transitstream/infra/system-packages.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

.transitstream/jars/.resolved: transitstream/infra/jvm/pom.xml transitstream/infra/jvm/spark/pom.xml $(VENV)/.installed
	$(TS) infra jars
	@touch $@

demo: setup ## run the live pipeline (stack, ingestor, simulated fleet) and report what landed
	$(TS) demo

test: setup ## lint, then every test: unit, integration (real servers), notebooks
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest tests/unit tests/integration tests/notebooks notebooks --nbval-lax

test-unit: setup ## only the fast tests that start no process
	$(PY) -m pytest tests/unit

test-integration: setup ## only the tests against the real servers
	$(PY) -m pytest tests/integration

test-notebooks: setup ## execute the notebooks (nbval) and their papermill runs
	$(PY) -m pytest tests/notebooks notebooks --nbval-lax

notebooks-refresh: setup ## re-run the notebooks on the running stack; keep the outputs nbval checks
	$(PY) tests/notebooks/refresh_outputs.py

lint: ## ruff check, format check, mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy transitstream

format: ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

up: setup ## start the native stack
	$(TS) infra up

down: ## stop the native stack (data kept)
	$(TS) infra down

status: ## what runs where, and its memory
	$(TS) infra status

doctor: ## diagnose the stack and print fixes
	$(TS) doctor

bench-ingest: up ## ingest throughput, its ingestor on CPU 0 (needs 2+ cores, the ingest port free)
	$(PY) bench/ingest_throughput.py --ingestor-cpu 0

clean: down ## stop the stack and delete its data (jars and venv kept)
	rm -rf .transitstream/state .transitstream/test-state
