# The two entry points a newcomer needs: `make report` and `make test`.
# Each creates .venv if missing and installs the project with its dev extras into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-slow test-all report bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# The example report is reproducible byte for byte: fixed seed, and the report date taken from
# the last commit (SOURCE_DATE_EPOCH) unless the caller sets it.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

report: $(STAMP)
	$(BIN)/prevalens audit --example --out-dir reports/example --format json --seed 20261125

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_intervals.py

clean:
	rm -rf $(VENV) build dist .pytest_cache
