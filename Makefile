# Two entry points: `make demo` runs the main job on the embedded lab, `make test` the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/emerald demo

test: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check emerald_cli tests bench
	$(BIN)/ruff format --check emerald_cli tests bench

bench: $(STAMP)
	$(BIN)/python bench/mikrotik_fleet.py

clean:
	rm -rf $(VENV) build *.egg-info
