# make demo : the whole flow against a local AWS endpoint (moto), from a fresh clone
# make test : install, run the test suite, ruff and mypy
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(abspath $(VENV))/bin

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
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
