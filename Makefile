# Developer entry points. `make demo` and `make test` install what they need first,
# so both work on a fresh machine (Debian with Python >= 3.11, Node >= 20 and npm).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NPM_DIRS := tests/interop tests/browser tests/workers

.PHONY: demo test lint setup system-packages python-env node-env wheel

demo: setup
	$(BIN)/python scripts/build_web_demo.py
	$(BIN)/python -m ppg_edge.gateway --embedded

test: setup
	$(BIN)/python -m pytest

lint: python-env
	$(BIN)/ruff check ppg_edge tests benchmarks
	$(BIN)/mypy

setup: system-packages python-env node-env wheel

system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

python-env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

node-env:
	@for d in $(NPM_DIRS); do \
	  if [ -f $$d/package-lock.json ] && [ ! -d $$d/node_modules ]; then (cd $$d && npm ci --no-audit --no-fund --silent) || exit 1; fi; \
	done

wheel: python-env
	$(BIN)/python scripts/build_wheel.py
