# Set-up and everyday commands. Everything installs into .venv with pip
# (pip picks up the local CPU build of torch pinned in constraints.txt).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export POT_BACKEND_DISABLE_PYTORCH := 1

.PHONY: demo test test-all bench bench-quick lint docs clean

$(VENV)/.base: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[torch,dask]"
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install -q -c constraints.txt -e ".[torch,dask,boosting,dev]"
	touch $@

demo: $(VENV)/.base
	$(VENV)/bin/cellgeom demo --out demo-output

test: $(VENV)/.dev
	$(PY) -m pytest -q -n 2 -m "not slow"

test-all: $(VENV)/.dev
	$(PY) -m pytest -q -n 2

bench: $(VENV)/.dev
	$(PY) bench/run.py --out BENCHMARKS.md

bench-quick: $(VENV)/.dev
	$(PY) bench/run.py --quick --out /tmp/cellgeom-bench-quick.md

$(VENV)/.docs: $(VENV)/.dev
	$(PIP) install -q -c constraints.txt -e ".[torch,dask,boosting,dev,docs]"
	touch $@

docs: $(VENV)/.docs
	$(VENV)/bin/mkdocs build --strict --site-dir site

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) demo-output
