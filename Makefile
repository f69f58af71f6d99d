# Two entry points for a fresh clone: `make demo` (the main job on an embedded default) and
# `make test`. Both create .venv and install the project with its dev extras first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mips-profiles demo --out out/demo

test: $(VENV)/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml

clean:
	rm -rf $(VENV) out
