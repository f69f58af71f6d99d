# Two entry points for a fresh clone: `make demo` (the main job on an embedded default) and
# `make test`. Both create .venv and install the project with its dev extras first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
TOOLS ?= .venv-tools

.PHONY: demo test lint screenshot openapi clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet -r requirements-tools.txt
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mips-profiles demo --out out/demo

test: $(VENV)/.installed
	$(BIN)/pytest

lint: $(VENV)/.installed $(TOOLS)/.installed
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam validate --lint --region us-east-1 --template template.yaml
	$(TOOLS)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

# The README's screenshot of the score card, as the browser test renders it.
screenshot: $(VENV)/.installed
	SCREENSHOT_DIR=docs/img PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -n 0 -m browser -k scored_npi_shows \
		tests/test_widget_browser.py

clean:
	rm -rf $(VENV) $(TOOLS) out
