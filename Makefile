# The two entry points a newcomer needs: `make report` and `make test`.
# Each creates .venv if missing and installs the project with its dev extras into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-slow lint report bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

APT_INSTALL := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

# WeasyPrint (the PDF report) needs Pango and HarfBuzz's subsetter, system libraries that a
# fresh machine may lack: installed with apt-get when missing (as root, as on CI).
SYSDEPS := $(VENV)/.sysdeps

$(SYSDEPS): $(BIN)/python
	@if ! ldconfig -p | grep -q libpangoft2-1.0 || ! ldconfig -p | grep -q libharfbuzz-subset; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Pango and HarfBuzz-subset for WeasyPrint (apt-get)"; \
	    $(APT_INSTALL) libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 >/dev/null; \
	  else \
	    echo "prevalens: install Pango and HarfBuzz-subset (WeasyPrint's system libraries)" >&2; exit 1; \
	  fi; \
	fi
	touch $@

# The report tests read PDFs with poppler's pdftotext and pdftoppm (poppler-utils): installed the
# same way for the test targets.
TESTDEPS := $(VENV)/.testdeps

$(TESTDEPS): $(BIN)/python
	@if ! command -v pdftotext >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing poppler-utils for the report tests (apt-get)"; \
	    $(APT_INSTALL) poppler-utils >/dev/null; \
	  else \
	    echo "prevalens: install poppler-utils (pdftotext) to run the tests" >&2; exit 1; \
	  fi; \
	fi
	touch $@

$(STAMP): $(BIN)/python $(SYSDEPS) pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Test files run in parallel on every core (pytest-xdist); a file's tests share one process, so
# its module fixtures are built once.
PYTEST_PARALLEL ?= -n auto --dist loadfile

test: $(STAMP) $(TESTDEPS)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# --durations: each slow test's time in the CI log, to keep .ci/run within its budget.
test-slow: $(STAMP) $(TESTDEPS)
	$(BIN)/python -m pytest -m slow $(PYTEST_PARALLEL) --durations=15

# The code's hygiene: lint and format (ruff) and static types (mypy), as configured in
# pyproject.toml. Run by .ci/run.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

# The example report is reproducible byte for byte on any checkout: a fixed seed and a fixed date
# of its own (2026-11-25T00:00:00Z, when its data were made), not the date of the last commit,
# so `make report` on a fresh clone rewrites reports/example with identical bytes.
EXAMPLE_DATE_EPOCH := 1795564800

report: $(STAMP)
	SOURCE_DATE_EPOCH=$(EXAMPLE_DATE_EPOCH) $(BIN)/prevalens audit --example --out-dir reports/example --format json,html,pdf,csv,md,tex \
		--seed 20261125 --model-name "logistic regression (example)" \
		--dataset-name "handwritten digits, long-tailed evaluation split" \
		--evaluation "held-out split: the model was trained on other images of the same digits" \
		--gate "micro.f1 >= 0.85" --gate "macro.roc_auc >= 0.95"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_intervals.py

clean:
	rm -rf $(VENV) build dist .pytest_cache
