# The two commands: `make run` (the Ningbo study into out/ningbo/) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := fonts-noto-cjk chromium postgresql-15-postgis-3
OUT ?= out/ningbo
VENDOR := src/clusterscape/web/static/vendor/maplibre-gl.js
# Every Python package `make install` puts in the venv, pinned with hashes (`make lock` refreshes it).
LOCK := requirements.lock
LOCK_PYTHON := 3.11
LOCK_PLATFORM := x86_64-manylinux_2_28

.PHONY: install run test lint typecheck pytest bench bench-results clean apt lock

install: apt $(STAMP) $(VENDOR)

# Debian packages the tests need (a CJK font for figures, chromium for the dashboard test,
# PostgreSQL + PostGIS for the database tests, which start and stop their own server on loopback).
# Installed only when missing, so a warm machine pays nothing.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The venv holds exactly the lock: hash-checked pins, then this package itself without deps (built by
# the locked hatchling, no build isolation). Then the numba kernels are compiled into their on-disk
# cache so the first `make run` does not pay for compilation.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	$(BIN)/python -m clusterscape.study._warmup
	touch $(STAMP)

# Re-resolve the lock from pyproject.toml (all extras) for Python $(LOCK_PYTHON) on x86_64 Linux. Pins already
# in the lock are kept when they still fit; `make lock UPGRADE=1` moves everything to the newest release.
# uv is only the resolver: it lives in its own small venv, so it is neither in the lock nor in $(VENV).
LOCK_TOOL := .venv-lock/bin/uv
$(LOCK_TOOL):
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q 'uv>=0.5'

lock: $(LOCK_TOOL)
	$(LOCK_TOOL) pip compile pyproject.toml --all-extras --generate-hashes --quiet \
	  --python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
	  --custom-compile-command 'make lock' \
	  $(if $(UPGRADE),--upgrade,) -o $(LOCK)

# MapLibre GL for the dashboard, from the npm registry (package.json + package-lock.json), served by the app.
$(VENDOR): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(dir $(VENDOR))
	cp node_modules/maplibre-gl/dist/maplibre-gl.js node_modules/maplibre-gl/dist/maplibre-gl.css node_modules/maplibre-gl/LICENSE.txt $(dir $(VENDOR))

run: install
	$(BIN)/clusterscape run --out $(OUT)

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck pytest

# Each benchmark writes benchmarks/results/<module>.md; RESULTS.md gathers them.
bench: install
	$(BIN)/python -m pytest benchmarks -m bench -q -p no:cacheprovider -s
	$(MAKE) bench-results

bench-results:
	@{ echo "# Benchmark results"; echo; \
	  echo "Measured on the project's 2-core, 24 GiB machine; each section names its peer and the ratio."; \
	  echo "Regenerate with \`make bench\` (sections come from benchmarks/results/*.md)."; \
	  for f in benchmarks/results/*.md; do echo; cat "$$f"; done; } > benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) .venv-lock out .mypy_cache .ruff_cache
