# django-async-lab: `make bench` measures, `make test` proves, `make run` serves.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# python3 is whatever .python-version selects (3.13 under pyenv); uv is bootstrapped into it,
# because pyenv's own uv shim fails inside a checkout pinned to another version.
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
PY := $(VENV)/bin/python
WORKERS ?= 2
PORT ?= 8000
HOST := 127.0.0.1
# make run: what measures the app (loadtests.observability.stacks: none, lab, django-prometheus,
# opentelemetry).
INSTRUMENTATION ?= lab
# make locust: one scenario at a time; empty is loadtests.locust_options.DEFAULT_SCENARIO.
SCENARIO ?=
# Debian keeps PostgreSQL's server off PATH: its binary is found by path.
POSTGRES_PACKAGE := /usr/lib/postgresql/*/bin/postgres=postgresql
SYSTEM_PACKAGES := promtool=prometheus prometheus=prometheus wrk=wrk chromium=chromium \
                   $(POSTGRES_PACKAGE)
# The lab's PostgreSQL (var/postgres), started (migrated, seeded) for a recipe and stopped with it.
WITH_POSTGRES = $(PY) -m mysite.db.cluster start && trap '$(PY) -m mysite.db.cluster stop' EXIT &&

.PHONY: help setup system-packages test test-fast lint format run locust observe dashboards \
        bench quick capacity bench-overhead bench-transport bench-fanout clean
# make capacity: which configurations (a regular expression over server/WORKERSxTHREADS/scenario),
# how many fresh searches each, under which instrumentation stacks.
MATCH ?=
REPEATS ?= 3
INSTRUMENTATION ?= lab

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# The libraries' bytecode is compiled here, once: every Python the lab starts (servers, Locust,
# the sweep, the tests) reads it, even under PYTHONDONTWRITEBYTECODE, which would otherwise
# have each one compile its imports from source.
$(VENV)/.synced: pyproject.toml uv.lock .python-version
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || { \
	  echo "Bootstrapping uv into $$($(PYTHON) --version)"; \
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore uv; }
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

setup: $(VENV)/.synced ## Create the virtual environment from uv.lock

system-packages: ## Install Prometheus, wrk, Chromium and PostgreSQL (Debian packages) when missing
	@scripts/ensure-system-packages $(SYSTEM_PACKAGES)

# The suite mostly waits on servers, PostgreSQL and Locust (about half a core when run serially):
# four workers keep two cores busy (docs/TESTING.md).
TEST_WORKERS ?= 4

test: setup system-packages ## The whole test suite (what CI runs): TEST_WORKERS=4 at a time, then the quiet ones alone
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not quiet" --durations=25
	$(PY) -m pytest -m quiet --durations=10

test-fast: setup ## The tests that start no server, on both cores (about a minute)
	$(PY) -m pytest -n 2 -m "not live"

lint: setup ## Lint and check formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## Fix lint and formatting in place
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

run: setup ## Serve the app on http://127.0.0.1:8000 (routes at /) under uvicorn (WORKERS=2, INSTRUMENTATION=lab), with PostgreSQL and the upstream
	@scripts/ensure-system-packages $(POSTGRES_PACKAGE)
	$(WITH_POSTGRES) $(PY) -m loadtests.run --server uvicorn --workers $(WORKERS) --host $(HOST) --port $(PORT) \
	  --instrumentation $(INSTRUMENTATION)

locust: setup ## Locust against `make run`, one scenario at a time (SCENARIO=name), web UI on http://127.0.0.1:8089
	@user_class=$$($(PY) -m loadtests.locust_options $(SCENARIO)) && \
	  echo "Running $$user_class; another scenario: make locust SCENARIO=name" \
	    "(python -m loadtests.locust_options --help)" && \
	  $(VENV)/bin/locust --config loadtests/locust.conf --host http://$(HOST):$(PORT) --web-host $(HOST) \
	    $(LOCUST_ARGS) $$user_class

observe: setup ## Prometheus on http://127.0.0.1:9090 scraping the app, the upstream and Locust
	@scripts/ensure-system-packages prometheus=prometheus promtool=prometheus $(POSTGRES_PACKAGE)
	$(PY) -m dashboards.observe

dashboards: setup ## Regenerate the Grafana dashboard JSON from dashboards/
	$(PY) -m dashboards.build

bench: setup ## The sweep: servers x workers x scenarios -> reports/latest/
	@scripts/ensure-system-packages prometheus=prometheus \
	  || echo "Going on without Prometheus: the report will have no time-series panels."
	@scripts/ensure-system-packages $(POSTGRES_PACKAGE)
	$(WITH_POSTGRES) $(PY) -m loadtests.sweep $(if $(APP),--app $(APP))$(if $(ROUTES), --routes $(ROUTES)) $(BENCH_ARGS)

quick: ## A first report in about a minute: one cell (the sweep's smoke profile) -> reports/latest/
	@$(MAKE) --no-print-directory bench BENCH_ARGS="--profile smoke $(BENCH_ARGS)"

capacity: export CAPACITY_MATCH := $(MATCH)
capacity: export CAPACITY_REPEATS := $(REPEATS)
capacity: export CAPACITY_INSTRUMENTATION := $(INSTRUMENTATION)
capacity: setup ## λ* of the configurations MATCH=<regex> names, REPEATS=<n> fresh searches each -> reports/latest/
	@[ -n "$$CAPACITY_MATCH" ] || { echo "make capacity needs MATCH=<regular expression>, e.g." \
	  "make capacity MATCH='^gunicorn-gthread/1x8/sync-api$$' REPEATS=3"; exit 2; }
	@scripts/ensure-system-packages $(POSTGRES_PACKAGE)  # the sweep starts it if a database path matches
	$(PY) -m loadtests.sweep capacity --profile full \
	  --capacity-match "$$CAPACITY_MATCH" --capacity-repeats "$$CAPACITY_REPEATS" \
	  --instrumentation "$$CAPACITY_INSTRUMENTATION" $(BENCH_ARGS)

bench-overhead: setup ## What the metrics middleware costs, side by side (uses wrk)
	@scripts/ensure-system-packages wrk=wrk
	$(PY) -m loadtests.bench.overhead $(OVERHEAD_ARGS)

bench-transport: setup ## App CPU per upstream call: httpx's transport against aiohttp's
	$(PY) -m loadtests.bench.timings transport $(TRANSPORT_ARGS)

bench-fanout: setup ## Ten upstream calls of 1 s: concurrent (async, threads) against sequential
	$(PY) -m loadtests.bench.timings fanout $(FANOUT_ARGS)

clean: ## Remove generated files (environment, reports, Prometheus and PostgreSQL data)
	@[ ! -x $(PY) ] || $(PY) -m mysite.db.cluster stop
	rm -rf $(VENV) var reports .pytest_cache .ruff_cache .hypothesis
