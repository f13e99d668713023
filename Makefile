# registry-workflow — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
BIN    := $(VENV)/bin
# The Lambda runtime is python3.12; the dev venv uses the same interpreter.
PYTHON ?= $(shell ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1 || true)
ifeq ($(strip $(PYTHON)),)
PYTHON := python3.12
endif
export PATH := $(CURDIR)/$(BIN):$(PATH)
export AWS_DEFAULT_REGION ?= us-east-1
STAMP := $(VENV)/.installed

.PHONY: help venv lint typecheck validate test unit integration e2e demo local build deploy fuzz bench clean

help: ## Show this help
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create .venv (python3.12) and install the project with its dev tools

$(STAMP): pyproject.toml layers/registry_workflow/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP) ## ruff (lint + format check)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy on the shared package and the handlers
	$(BIN)/mypy
	@# every handler file is app.py: check each on its own (one module name per run)
	@for app in functions/*/app.py; do $(BIN)/mypy --no-error-summary $$app || exit 1; done

validate: $(STAMP) ## sam validate --lint, then cfn-lint with the serverless rules (suppressions explained in template.yaml)
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules

# Tests run in parallel (pytest-xdist): one worker per core ("auto": 2 on the dev machine, as many
# as a CI runner has), worksteal so a worker that finishes early takes tests from a busy one. Every
# test has its own moto state, ports and temporary directories. PYTEST_WORKERS=0 runs them serially.
PYTEST_WORKERS ?= auto
# The project's modules are compiled once first: with PYTHONDONTWRITEBYTECODE set (as on the dev
# machine and CI) no process writes bytecode, so every twin, execution environment and CLI process
# the tests, the demo and the benchmarks start would compile the modules it imports again.
COMPILE := $(BIN)/python -m compileall -q layers functions bench >/dev/null
PYTEST := $(COMPILE) && $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal

test: $(STAMP) lint typecheck validate ## Everything CI runs: lint, types, template, all tests
	$(PYTEST) $(PYTEST_ARGS)

unit: $(STAMP) ## Unit tests only (no network)
	$(PYTEST) tests/unit $(PYTEST_ARGS)

integration: $(STAMP) ## Integration tests (moto)
	$(PYTEST) tests/integration $(PYTEST_ARGS)

e2e: $(STAMP) ## End-to-end tests on the offline twin
	$(PYTEST) tests/e2e $(PYTEST_ARGS)

demo: $(STAMP) ## Run the whole approval workflow on the offline twin
	@$(COMPILE)
	$(BIN)/python -m registry_workflow.demo

local: $(STAMP) ## Start the offline twin on 127.0.0.1:4599
	@$(COMPILE)
	$(BIN)/registry-workflow local --port 4599

SAM ?= $(BIN)/sam

build: $(STAMP) ## sam build (python3.12 from .venv on PATH)
	$(SAM) build

STAGE ?= dev
LOG_RETENTION_dev  := 14
LOG_RETENTION_prod := 90
# The first deploy and every later one: ManagedTeams always comes from config/.env.shared and
# GuardedStages from config/policy.toml (the directory the ConfigLayer ships), never from
# samconfig.toml or the template's defaults, so the stack covers exactly the teams and guards
# exactly the stages its provisioner will read. GUIDED=1 asks every parameter, these
# values as the defaults (the first deploy by hand, instead of a bare `sam deploy --guided`).
deploy: build ## sam deploy to STAGE (dev|prod); needs SAGEMAKER_ROLE_ARN; teams and guarded stages from config/; GUIDED=1 asks
	@test -n "$(SAGEMAKER_ROLE_ARN)" || { echo "set SAGEMAKER_ROLE_ARN=arn:aws:iam::<account>:role/<sagemaker execution role>"; exit 2; }
	@teams=$$($(BIN)/registry-workflow teams --config-dir config) || exit 2; \
	guarded=$$($(BIN)/registry-workflow guarded-stages --config-dir config) || exit 2; \
	echo "ManagedTeams=$$teams (config/.env.shared), GuardedStages=$$guarded (config/policy.toml)"; \
	$(SAM) deploy --config-env $(STAGE) $(if $(GUIDED),--guided) \
	  --parameter-overrides Stage=$(STAGE) ManagedTeams=$$teams GuardedStages=$$guarded \
	  LogRetentionDays=$(LOG_RETENTION_$(STAGE)) \
	  SageMakerExecutionRoleArn=$(SAGEMAKER_ROLE_ARN) $(if $(METRICS_BUCKET),MetricsBucket=$(METRICS_BUCKET)) \
	  $(if $(METRICS_KMS_KEY_ARN),MetricsKmsKeyArn=$(METRICS_KMS_KEY_ARN))

fuzz: $(STAMP) ## Long fuzz run (HYPOTHESIS_PROFILE=fuzz): every handler and the config parser
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/integration/test_handler_fuzz.py tests/unit/test_config_fuzz.py

bench: $(STAMP) ## Benchmarks (on demand; numbers go to docs/performance.md): ends with each figure vs its target
	@$(COMPILE)
	$(BIN)/python bench/all.py

clean: ## Remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
