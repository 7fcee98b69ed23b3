# The two set-up commands a new user needs are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
SIM_PORT ?= 8765
SIMULATE_ARGS ?=
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/console
PYTEST_ARGS ?=

BENCH_ARGS ?=

.PHONY: demo simulate test lint services sample-webhook clean browser-deps bench soak

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Generated once per checkout: the secret key and webhook secrets of the embedded default.
var/console.env:
	mkdir -p var
	$(PYTHON) -c 'import base64, secrets; \
	print("SECRET_KEY=" + secrets.token_urlsafe(50)); \
	print("CONSOLE_WEBHOOK_SECRETS=whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()); \
	print("GENESYS_WEBHOOK_SECRET=" + secrets.token_urlsafe(32)); \
	print("CXONE_WEBHOOK_TOKEN=" + secrets.token_urlsafe(32))' > $@
	chmod 600 $@

# The console (one ASGI process) and the simulated platform feeding it; prints the URL and the
# demo users; Ctrl-C stops both. DATABASE_URL / REDIS_URL in the environment are used when set.
demo: $(VENV)/.runtime var/console.env
	$(PY) manage.py migrate --no-input
	$(PY) manage.py ensure_roles
	$(PY) manage.py collectstatic --no-input --verbosity 0
	$(PY) manage.py demo --host $(HOST) --port $(PORT) --platform-port $(SIM_PORT)

# The simulator alone, against a console already running at HOST:PORT (e.g. SIMULATE_ARGS="--faults ghost_session").
simulate: $(VENV)/.runtime var/console.env
	$(PY) manage.py simulate --target http://$(HOST):$(PORT) --platform-port $(SIM_PORT) $(SIMULATE_ARGS)

sample-webhook: $(VENV)/.runtime var/console.env
	$(PY) manage.py send_sample_webhook --url http://$(HOST):$(PORT)

# Browser tests drive Debian's chromium (never a downloaded browser).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" = "0" ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# Runs the suite on PostgreSQL (when reachable; always under CI=true) and again on SQLite.
test: $(VENV)/.dev browser-deps
	@if [ "$$CI" = "true" ]; then .ci/services; fi
	@set -e; \
	if [ "$$CI" = "true" ] || $(PY) -c 'import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=2).close()' "$(TEST_DATABASE_URL)" 2>/dev/null; then \
		echo "== tests on PostgreSQL ($(TEST_DATABASE_URL))"; \
		DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) -m pytest $(PYTEST_ARGS); \
	else \
		echo "== PostgreSQL not reachable at $(TEST_DATABASE_URL): its tests are skipped (CI runs them)"; \
	fi; \
	echo "== tests on SQLite (embedded default)"; \
	env -u DATABASE_URL $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

services:
	.ci/services

# The six benchmarks against baselines measured in the same run (bench/, docs/performance.md): starts
# PostgreSQL and Redis like CI, installs Debian's wrk when missing; never part of `make test`.
# BENCH_ARGS="--only ingest,history" runs some of them. Results: bench/results/ (git-ignored).
bench: $(VENV)/.dev
	.ci/services
	@if ! command -v wrk >/dev/null; then \
		echo "installing Debian's wrk (the ingest load generator)"; \
		if [ "$$(id -u)" = "0" ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; \
	fi
	$(PY) -m bench $(BENCH_ARGS)

# The soak (tests/reliability/test_soak.py) in its full form, "30 minutes compressed": 600 s at 100
# webhooks/s with telemetry, page loads and 21 live sockets, against uvicorn, a Celery worker and a
# private redis-server; starts PostgreSQL and Redis like CI. CI runs it for 60 s at 20/s.
SOAK_SECONDS ?= 600
SOAK_RATE ?= 100
soak: $(VENV)/.dev
	.ci/services
	CI=true SOAK_SECONDS=$(SOAK_SECONDS) SOAK_RATE=$(SOAK_RATE) DATABASE_URL="$(TEST_DATABASE_URL)" \
		$(PY) -m pytest tests/reliability/test_soak.py -s -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var/staticfiles var/test-console.sqlite3*
