# Batch Orchestrator — developer entry points. `make help` lists them.
#
# Separate virtual environments, on purpose: aws-sam-cli pins boto3 exactly, so it lives in .venv-sam,
# apart from the project's own .venv (runtime libraries, moto, test and lint tools); checkov pins an
# older boto3, so it has .venv-checkov.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The Lambda runtime is python3.13; pyenv users get it through PYENV_VERSION.
export PYENV_VERSION ?= 3.13.0
PYTHON ?= python3.13
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
CONFIG_ENV ?= default
COVERAGE_FLOOR ?= 85

.PHONY: help setup lint typecheck lint-template checkov test test-fast build deploy bench demo serve smoke clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet -e .
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed ## Create both virtual environments (idempotent)

lint: $(VENV)/.installed ## ruff and mypy on the code
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

lint-template: setup ## cfn-lint and `sam validate --lint` on template.yaml (no findings allowed)
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --template-file template.yaml

# checkov has its own virtual environment too: it pins an older boto3 than the project's .venv.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

checkov: $(CHECKOV_VENV)/.installed ## checkov on template.yaml: no failed check; each skip is justified next to its resource
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

test: setup lint lint-template checkov ## THE test command: linters, template checks, then every test with branch coverage
	$(PY) -m pytest --cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

test-fast: $(VENV)/.installed ## Unit tests only
	$(PY) -m pytest tests/unit -q

build: $(SAM_VENV)/.installed ## sam build (needs python3.13 on PATH; no container)
	$(SAM) build --config-env $(CONFIG_ENV)

deploy: build ## sam deploy with the samconfig.toml environment CONFIG_ENV (default|dev|prod)
	$(SAM) deploy --config-env $(CONFIG_ENV)

bench: build $(VENV)/.installed ## Performance figures (AWS calls, invocations, cold start, sizes...) -> bench/results.json; ARGS=--quick for CI
	$(PY) -m bench $(ARGS)

demo: $(VENV)/.installed ## The whole pipeline locally on sample files, checked (moto + local job runner; no AWS, no Docker)
	$(PY) -m emulator demo $(ARGS)

serve: $(VENV)/.installed ## Keep the local pipeline running for your own files until Ctrl-C (ARGS="--schedule 'rate(2 minutes)'")
	$(PY) -m emulator serve $(ARGS)

# `make smoke STACK=name`: the post-deploy smoke test of a deployed stack (your credentials; CONFIG_ENV,
# REGION, PROFILE as for deploy). Without STACK: the same smoke test against a local `serve` started in
# the background with its schedule ENABLED (rate(1 day): it exists but does not fire during the test),
# stopped again whatever happens (trap); every wait is bounded (serve start-up, each step, the stop).
SMOKE_LOCAL_STEP_TIMEOUT ?= 60
smoke: $(VENV)/.installed ## Post-deploy smoke test: STACK=name [CONFIG_ENV= REGION= PROFILE=]; no STACK: against a local serve
ifdef STACK
	$(VENV)/bin/orchestrator smoke --stack '$(STACK)' \
		$(if $(filter command line environment,$(origin CONFIG_ENV)),--config-env '$(CONFIG_ENV)') \
		$(if $(REGION),--region '$(REGION)') $(if $(PROFILE),--profile '$(PROFILE)') $(ARGS)
else
	@log="$$(mktemp)"; \
	$(PY) -m emulator serve --schedule 'rate(1 day)' </dev/null >"$$log" 2>&1 & serve=$$!; \
	stop() { status=$$?; trap - EXIT; $(PY) -m emulator stop-serve --pid "$$serve" || true; \
		if [ "$$status" -ne 0 ]; then echo "== last lines of the local serve's output:"; tail -n 30 "$$log"; fi; \
		rm -f "$$log"; exit "$$status"; }; \
	trap stop EXIT; trap 'exit 130' INT TERM; \
	$(PY) -m emulator wait-serve --pid "$$serve" --timeout 90; \
	$(VENV)/bin/orchestrator smoke --local --timeout $(SMOKE_LOCAL_STEP_TIMEOUT) $(ARGS)
endif

clean: ## Remove build output and caches (keeps the virtual environments)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
