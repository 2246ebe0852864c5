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
# pytest-xdist workers: one per core (the suites are CPU-bound moto work; each worker has its own moto).
# --dist worksteal: an idle worker takes tests queued for a busy one, so a few long reliability tests do
# not leave one core idle at the end (8.5 min instead of 13 for the whole suite on two cores).
PYTEST_WORKERS ?= auto

.PHONY: help setup lint lint-template checkov template validate check hooks test mutate build deploy bench demo serve smoke clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Installing is the slow part of a first run (about 90 s on two cores): say what is happening.
$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml
	@echo "==> $(VENV): creating the project's virtualenv (first run only; about 90 s on two cores)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "==> $(VENV): installing requirements-dev.txt (boto3, Powertools, moto, pytest, ruff, mypy...)"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet -e .
	@echo "==> $(VENV): ready"
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	@echo "==> $(SAM_VENV): installing aws-sam-cli in its own virtualenv (first run only)"
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
	@echo "==> $(CHECKOV_VENV): installing checkov in its own virtualenv (first run only)"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

# workloads.yaml is rendered into template.yaml's "# >>> workloads:" regions; `sam build` deploys template.yaml,
# so `make build` renders first and `make validate` (in `make check` and `make test`) fails on a stale template.
template: $(VENV)/.installed ## Render workloads.yaml into template.yaml (its "# >>> workloads:" regions only)
	$(PY) -m workload_table render

validate: $(VENV)/.installed ## Check workloads.yaml (one line per problem) and that template.yaml is rendered from it
	$(PY) -m workload_table check $(if $(wildcard samconfig.toml),--samconfig samconfig.toml --config-env $(CONFIG_ENV))

# Settings in .checkov.yaml; the per-resource skips, each with its reason, in checkov-skips.json (no global skip).
# The baseline checkov reads is checkov-skips.json with its rendered-resource patterns written out for template.yaml.
checkov: $(CHECKOV_VENV)/.installed $(VENV)/.installed ## checkov on template.yaml: no failed check; each skip listed with its reason in checkov-skips.json
	$(VENV)/bin/python -m workload_table.checkov_baseline template.yaml checkov-skips.json .checkov-baseline.json
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --baseline .checkov-baseline.json

check: $(VENV)/.installed validate ## The fast inner loop (under 2 minutes): ruff, mypy strict, make validate, every test not marked slow
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -m "not slow" -n $(PYTEST_WORKERS) --dist worksteal

hooks: $(VENV)/.installed ## Install the pre-commit hooks (.pre-commit-config.yaml: ruff, mypy, unit tests)
	$(VENV)/bin/pre-commit install

test: setup lint validate lint-template checkov ## THE test command: linters, make validate, template checks, then every test with branch coverage
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal --cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)


# Mutation testing, a periodic check rather than part of `make test`: mutmut changes submit.py and
# tracking.py one small edit at a time and reports each mutant their fast unit tests did not kill.
# mutmut 3 finds sources only under ./ or src/, so it runs on a throwaway clone of HEAD (commit first)
# with the layer moved to src/; mutmut itself is installed on demand, not in requirements-dev.txt.
MUTMUT_VERSION ?= 3.8.1
mutate: $(VENV)/.installed ## Mutation testing of submit.py and tracking.py against their unit tests (about a minute)
	$(PY) -m pip install --quiet mutmut==$(MUTMUT_VERSION)
	@work="$$(mktemp -d)"; trap 'rm -rf "$$work"' EXIT; git clone --quiet . "$$work/repo"; cd "$$work/repo"; \
	mkdir src && mv layers/common/batch_orchestrator src/; \
	sed -i 's|pythonpath = \[".", "layers/common"\]|pythonpath = [".", "src"]|' pyproject.toml; \
	printf '%s\n' '' '[tool.mutmut]' \
		'source_paths = ["src/batch_orchestrator/submit.py", "src/batch_orchestrator/tracking.py"]' \
		'pytest_add_cli_args_test_selection = ["tests/unit/test_submit.py", "tests/unit/test_tracking.py"]' \
		'also_copy = ["tests", "src", "functions", "emulator", "orchestrator_cli", "events", "template.yaml"]' \
		'pytest_add_cli_args = ["-p", "no:randomly", "-q", "-x"]' >> pyproject.toml; \
	$(CURDIR)/$(VENV)/bin/mutmut run >/dev/null 2>&1 || true; \
	$(CURDIR)/$(VENV)/bin/mutmut results | grep -v ': killed' || true; \
	total=$$($(CURDIR)/$(VENV)/bin/mutmut results --all true | wc -l); \
	survived=$$($(CURDIR)/$(VENV)/bin/mutmut results | grep -c ': survived' || true); \
	echo "mutants: $$total, survived: $$survived (each line above: mutmut show NAME, in a clone set up the same way)"

build: $(SAM_VENV)/.installed template ## Render workloads.yaml (make template), then sam build (needs python3.13 on PATH; no container)
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
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov .checkov-baseline.json
