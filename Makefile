# Front doors: install, lint, test, bench, run. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION := 2.13.0
# Extra pip arguments for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
PYTEST_ARGS ?=

.PHONY: help install proto lint test test-fast test-reliability bench run-dev stop-dev \
	run-legacy-dev stop-legacy-dev docker-up docker-down certs

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install: ## create .venv, install the CPU torch pin first, then the project with dev extras
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==$(TORCH_VERSION) $(TORCH_PIP_ARGS)
	$(PY) -m pip install --quiet -e '.[dev]'
	@echo "installed into $(VENV); activate with: source $(VENV)/bin/activate"

proto: ## regenerate services/contracts from proto/
	$(PY) scripts/gen_proto.py

lint: ## ruff (checks and formatting), and mypy (strict for services/, scripts/ and bench/, non-strict for tests/)
	$(VENV)/bin/ruff check services tests scripts bench
	$(VENV)/bin/ruff format --check services tests scripts bench
	$(VENV)/bin/mypy services scripts bench tests

test: ## the whole suite: unit, integration, end-to-end and reliability tests
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure" >&2; exit 1; fi; \
	exit $$rc

test-fast: ## everything except the slow reliability tests
	$(PY) -m pytest -m "not reliability" $(PYTEST_ARGS)

test-reliability: ## load, fault and fuzz tests only
	$(PY) -m pytest -m reliability $(PYTEST_ARGS)

bench: ## benchmarks against floors measured in the same run; appends to bench/RESULTS.md
	$(PY) -m bench.run_all

run-dev: ## start the core stack (planner, gateway, memory, sandbox, notifier) in the foreground
	$(PY) scripts/run_all_dev.py --profile core

stop-dev: ## stop a core stack started by run-dev
	$(PY) scripts/run_all_dev.py --profile core --stop

run-legacy-dev: ## start the legacy demo stack (BFF, demo agent, sandbox, memory, gateway)
	$(PY) scripts/run_all_dev.py --profile legacy

stop-legacy-dev: ## stop the legacy demo stack
	$(PY) scripts/run_all_dev.py --profile legacy --stop

certs: ## write a development CA and mTLS certificates into tls_certs/
	bash scripts/gen_certs.sh tls_certs

docker-up: ## build and start the compose stack
	docker compose up --build -d

docker-down: ## stop the compose stack
	docker compose down
