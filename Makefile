# Two entry points for a fresh clone: `make demo` (the main job on an embedded default) and
# `make test`. Both create .venv and install the project with its dev extras first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
TOOLS ?= .venv-tools
DBT_VENV ?= .venv-dbt
ASL := tools/asl/node_modules

.PHONY: demo test lint mutation screenshot openapi mart clean

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

$(DBT_VENV)/.installed: requirements-dbt.txt
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/pip install --quiet -r requirements-dbt.txt
	touch $@

# The ASL validator (npm's asl-validator, pinned by tools/asl/package-lock.json) for statemachine/*.asl.json.
$(ASL)/.installed: tools/asl/package.json tools/asl/package-lock.json
	npm ci --prefix tools/asl --silent --no-audit --no-fund
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mips-profiles demo --out out/demo

test: $(VENV)/.installed $(ASL)/.installed $(DBT_VENV)/.installed
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

# The README's screenshots of the score card and the research page, as the browser tests render them.
screenshot: $(VENV)/.installed
	SCREENSHOT_DIR=docs/img PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -n 0 -m browser \
		-k "scored_npi_shows or state_view_and_the_provenance" \
		tests/browser/test_widget_browser.py tests/browser/test_research_browser.py

# The QPP mart on the demo's data, with DuckDB (runs the demo first when out/demo is not there).
mart: $(VENV)/.installed $(DBT_VENV)/.installed
	test -d out/demo/tree.private/mart || $(BIN)/mips-profiles demo --out out/demo
	$(BIN)/python tools/mart.py --dbt $(DBT_VENV)/bin/dbt --private out/demo/tree.private --public out/demo/tree

clean:
	rm -rf $(VENV) $(TOOLS) $(DBT_VENV) out
