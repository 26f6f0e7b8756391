# make demo : the whole flow against a local AWS endpoint (moto), from a fresh clone
# make test : install, run the test suite, ruff and mypy
# PYTHON picks the Python of the venv, so of the training and of the default Lambda
# runtime: make demo PYTHON=python3.13 (a venv of another Python is remade).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(abspath $(VENV))/bin
PY_VERSION = import sys; print("%d.%d" % sys.version_info[:2])
# PYTHON as given when it runs, else pyenv's interpreter of that name (as mlayer
# itself finds a runtime's Python: PATH, then pyenv's versions).
PYTHON_EXE := $(shell if $(PYTHON) -c '' >/dev/null 2>&1; then echo $(PYTHON); \
	else ls -d $$(pyenv root 2>/dev/null)/versions/*/bin/$(notdir $(PYTHON)) 2>/dev/null | tail -n 1; fi)
WANTED := $(shell $(PYTHON_EXE) -c '$(PY_VERSION)' 2>/dev/null)

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed-python$(WANTED)

$(VENV)/.installed-python$(WANTED): pyproject.toml
	@test -n "$(WANTED)" || { echo "make: $(PYTHON) is neither a Python on PATH nor in pyenv's versions: pass PYTHON=python3.X or a path" >&2; exit 1; }
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c '$(PY_VERSION)')" != "$(WANTED)" ]; then \
		echo "$(VENV) is another Python's: making it again with $(PYTHON_EXE) ($(WANTED))"; \
		rm -rf $(VENV); fi
	$(PYTHON_EXE) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed*
	touch $@

demo: install
	PATH="$(BIN):$$PATH" bash examples/demo.sh

test: install
	$(BIN)/pytest
	$(MAKE) lint

lint: install
	$(BIN)/ruff check src handler tests examples benchmarks
	$(BIN)/mypy

clean:
	rm -rf build examples/build examples/model $(VENV)
