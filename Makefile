# Stepwise: `make run` starts the embedded stack, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
PORT ?= 5000
QSTASH_PORT ?= 8080

.PHONY: install install-dev browser migrate run test bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# The browser tests drive Debian's Chromium; install it when missing and we may.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)) >/dev/null; \
	  else echo "note: chromium is missing (apt-get install chromium); browser tests will fail"; fi; }

migrate: install
	mkdir -p instance
	$(FLASK) db upgrade

# App on :$(PORT) and qstash_dev on :$(QSTASH_PORT); Ctrl-C stops both. Once qstash_dev
# answers, `schedules sync` registers every workflow's schedule and the minute sweep.
run: migrate
	@trap 'kill 0' EXIT; \
	$(PY) -m qstash_dev --host 127.0.0.1 --port $(QSTASH_PORT) --db instance/qstash_dev.db & \
	( for i in $$(seq 1 30); do $(FLASK) schedules sync 2>/dev/null && break; sleep 1; done ) & \
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install-dev browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/qstash_dev.py
	$(PY) bench/engine.py --chart docs/bench-latency.svg

clean:
	rm -rf $(VENV) .pytest_cache
