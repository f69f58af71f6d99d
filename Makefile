# Two entry points for a fresh clone: `make demo` (the main job on an embedded default) and
# `make test`. Both create .venv and install the project with its dev extras first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
TOOLS ?= .venv-tools
ASL := tools/asl/node_modules

.PHONY: demo test lint mutation screenshot openapi clean

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

# The ASL validator (npm's asl-validator, pinned by tools/asl/package-lock.json) for statemachine/*.asl.json.
$(ASL)/.installed: tools/asl/package.json tools/asl/package-lock.json
	npm ci --prefix tools/asl --silent --no-audit --no-fund
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mips-profiles demo --out out/demo

test: $(VENV)/.installed $(ASL)/.installed
	$(BIN)/pytest

lint: $(VENV)/.installed $(TOOLS)/.installed $(ASL)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --strict functions/check_release/app.py
	$(BIN)/mypy --strict functions/shard_scores/app.py
	$(ASL)/.bin/asl-validator --json-path statemachine/refresh.asl.json
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam validate --lint --region us-east-1 --template template.yaml
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam build SharedLibLayer --template template.yaml --build-dir .aws-sam/build >/dev/null
	test -d .aws-sam/build/SharedLibLayer/python/orjson && test ! -e .aws-sam/build/SharedLibLayer/python/mips_profiles/sandbox
	$(TOOLS)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

# Mutation testing of the rule modules (mutmut; tools/mutation.toml). A scratch copy in .mutation/, since
# mutmut 3 wants the package at the top of the tree; the score goes into docs/reliability.md by hand.
mutation: $(VENV)/.installed
	rm -rf .mutation && mkdir -p .mutation
	cp -r shared/mips_profiles .mutation/mips_profiles
	cp -r tests .mutation/tests
	cp tools/mutation.toml .mutation/pyproject.toml
	cd .mutation && ../$(BIN)/mutmut run --max-children 2 >/dev/null && ../$(BIN)/python ../tools/check_mutants.py

# The README's screenshot of the score card, as the browser test renders it.
screenshot: $(VENV)/.installed
	SCREENSHOT_DIR=docs/img PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -n 0 -m browser -k scored_npi_shows \
		tests/browser/test_widget_browser.py

clean:
	rm -rf $(VENV) $(TOOLS) out
