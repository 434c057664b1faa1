# urbankit: the two commands are `make report` and `make test`; both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help setup report test lab bench-load bench clean-venv

help:
	@echo "make report      set up .venv and write the default report under reports/"
	@echo "make test        set up .venv and run the whole test suite"
	@echo "make lab         start JupyterLab on notebooks/ with the project's kernel"
	@echo "make bench-load  time and peak memory of loading the embedded cities"

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

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench-load: $(STAMP)
	$(BIN)/python benchmarks/bench_load.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet cityseer
	$(BIN)/python benchmarks/bench_accessibility.py

clean-venv:
	rm -rf $(VENV)
