# The SQS & SNS Playground. `make run` and `make test` are the two commands the
# README starts with; .ci/run runs `make test`. Needs Python 3.11+, git and make.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
# Extra arguments for bench/sqs_api.py, e.g. `make bench BENCH_ARGS=--quick`.
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help run test test-sqlite test-postgres lint format bench bench-live system-deps

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# --- the virtualenv: created once, re-installed only when pyproject.toml changes ---

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@touch $@

# --- the targets ---

run: $(VENV)/.installed-run ## Start the playground on http://127.0.0.1:8000 (PORT=8001 for another port; Ctrl-C stops it)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py play --port $(PORT)

test: lint test-sqlite test-postgres ## Lint, the whole suite on SQLite, then the engine tests on PostgreSQL

test-sqlite: $(VENV)/.installed-test system-deps
	$(PY) -m pytest

# The engine and its concurrency guarantees, again on a throwaway PostgreSQL
# cluster that tests/services.py starts (PLAYGROUND_TEST_DB=postgres).
test-postgres: $(VENV)/.installed-test system-deps
	PLAYGROUND_TEST_DB=postgres $(PY) -m pytest tests/broker

lint: $(VENV)/.installed-test ## ruff format --check and ruff check
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

format: $(VENV)/.installed-test ## ruff format and ruff check --fix
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(VENV)/.installed-bench system-deps ## Throughput/latency vs LocalStack and moto (BENCH_ARGS=--quick for a short run)
	$(PY) bench/sqs_api.py $(BENCH_ARGS)

bench-live: $(VENV)/.installed-bench system-deps ## Live updates: 30 pages + a browser on a pipeline at 1,000 msg/s (BENCH_ARGS=--quick)
	$(PY) bench/live_updates.py $(BENCH_ARGS)

# Chromium for the browser tests and the PostgreSQL server programs, from
# Debian's packages: installed when missing and we are root (CI is), otherwise
# a message that says what to install.
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing$$missing with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "The tests need$$missing (Debian: sudo apt-get install$$missing)." >&2; \
			echo "Chromium must be at /usr/bin/chromium; PostgreSQL's initdb on PATH or in /usr/lib/postgresql/*/bin." >&2; \
			exit 1; \
		fi; \
	fi
