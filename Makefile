# Two commands set up a fresh machine: `make up` (platform + demo data) and `make test`.
# uv is taken from PATH, or installed from PyPI into .tools/ on first use.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
# Trust the system's certificate store (corporate proxies re-sign TLS; pip already does).
# Older uv releases call this UV_NATIVE_TLS, which uv now warns is deprecated.
export UV_SYSTEM_CERTS := 1

.PHONY: up test sync lint format schemas check-schemas boundaries bench clean

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/pip install --quiet uv

sync: $(UV)
	$(UV) sync --locked --all-packages

up: sync  ## start the whole platform with demo data (Ctrl-C stops it)
	$(UV) run suishin up

test: sync  ## run the whole test suite against the embedded PostgreSQL and broker
	$(UV) run pytest

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy -p suishin.contracts -p suishin.kit -p suishin.devstack -p suishin.plans -p suishin.indicators -p suishin.notifications -p suishin.gateway -p suishin.cli -p suishin.web
	$(UV) run python tools/check_boundaries.py
	$(UV) run python -m suishin.contracts.generate --check

format: sync
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

schemas: sync  ## regenerate JSON Schema and AsyncAPI from the event models
	$(UV) run python -m suishin.contracts.generate

bench: sync  ## end-to-end benchmark (see docs/benchmarks.md for the others)
	$(UV) run python bench/e2e.py --rate 500 --duration 30

clean:
	rm -rf .venv .tools .suishin
