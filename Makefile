# urbankit: the two commands are `make report` and `make test`; both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help setup report test test-fast lint lab bench-load bench clean-venv

help:
	@echo "make report      set up .venv and write the default report under reports/"
	@echo "make test        set up .venv, run make lint, then the whole test suite"
	@echo "make test-fast   ruff, then the suite without the slow integration tests (under 3 minutes on 2 cores)"
	@echo "make lint        ruff check (rule set in pyproject.toml) and the numpydoc check of the public API"
	@echo "make lab         start JupyterLab on notebooks/ with the project's kernel"
	@echo "make bench-load  time and peak memory of loading the embedded cities"
	@echo "make bench-cli   urbankit accessibility (cold, warm) vs the plain script, whole processes"
	@echo "make bench-large time and peak memory of the accessibility analysis of a ~1M-node grid"
	@echo "make bench-transit transit travel-time matrices (Sao Paulo): ms per origin-minute, one process vs dask"
	@echo "make test-fuzz   fuzz the OSM loaders with mutated files for FUZZ_SECONDS (default 120)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("urbankit needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name urbankit --display-name "Python (urbankit)" >/dev/null
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/urbankit report notebooks/accessibility.ipynb --out reports

# tests/reporting/test_browser.py renders reports in Debian's headless chromium: installed here when missing
# and running as root with apt-get (CI); otherwise those tests are skipped with the reason.
LINT_PATHS := urbankit tests benchmarks

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_docstrings.py

test: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) ; } \
	  || echo "note: chromium is not installed (needs root and apt-get); the browser tests will be skipped"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the suite without the tests marked slow (papermill runs, CLI subprocesses, the browser, large fixtures,
# anything taking 2 s or more), on two pytest-xdist workers: 1,073 tests in 2 min 48 s on 2 shared cores
test-fast: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/python -m pytest -m "not slow" -n 2 $(PYTEST_ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench-load: $(STAMP)
	$(BIN)/python benchmarks/bench_load.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet cityseer py-spy
	$(BIN)/python benchmarks/bench_accessibility.py
	$(BIN)/python benchmarks/bench_cli.py

.PHONY: bench-large test-fuzz
FUZZ_SECONDS ?= 120
FUZZ_SEED ?= 0

bench-large: $(STAMP)
	$(BIN)/python benchmarks/bench_large.py

test-fuzz: $(STAMP)
	$(BIN)/python tests/fuzz_loaders.py --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED)

clean-venv:
	rm -rf $(VENV)

.PHONY: bench-transit
bench-transit: $(STAMP)
	$(BIN)/python benchmarks/bench_transit.py

.PHONY: bench-superblocks
bench-superblocks: $(STAMP)
	$(BIN)/python benchmarks/bench_superblocks.py

.PHONY: bench-cli
bench-cli: $(STAMP)
	$(BIN)/python benchmarks/bench_cli.py
