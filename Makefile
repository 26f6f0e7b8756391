# make demo : the whole flow against a local AWS endpoint (moto), from a fresh clone
# make test : install, run the test suite, ruff and mypy
# PYTHON picks the Python of the venv, so of the training and of the default Lambda
# runtime: make demo PYTHON=python3.13 (a venv of another Python is remade).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(abspath $(VENV))/bin
PY_VERSION = import sys; print("%d.%d" % sys.version_info[:2])
WANTED := $(shell $(PYTHON) -c '$(PY_VERSION)' 2>/dev/null)

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed-python$(WANTED)

$(VENV)/.installed-python$(WANTED): pyproject.toml
	@test -n "$(WANTED)" || { echo "make: $(PYTHON) does not run: pass PYTHON=python3.X" >&2; exit 1; }
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c '$(PY_VERSION)')" != "$(WANTED)" ]; then \
		echo "$(VENV) is another Python's: making it again with $(PYTHON) ($(WANTED))"; \
		rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
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
