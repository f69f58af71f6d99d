# Two entry points for a fresh clone: `make demo` (the main job on an embedded default) and
# `make test`. Both create .venv first, installing exactly what uv.lock records (what CI tested).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
TOOLS ?= .venv-tools
DBT_VENV ?= .venv-dbt
ASL := tools/asl/node_modules
# The score card's npm package (web/): axe-core, openapi-typescript and tsc, pinned by web/package-lock.json.
WEB_NPM := web/node_modules
# The lock tool, installed by pip from requirements/uv.txt (hashes) into a venv of its own.
UV_VENV ?= .venv-uv
UV := $(UV_VENV)/bin/uv
# uv never downloads an interpreter here (the machine's python3 is the one); it keeps its cache in ~/.cache/uv.
export UV_PYTHON_DOWNLOADS := never
# The Lambdas run python3.12 (template.yaml); CI's python3 is 3.11. Where the machine also has a 3.12 (pyenv's
# here), `make test-lambda-python` runs the AWS tests on it from the same lock.
LAMBDA_PYTHON ?= $(shell for p in "$$(pyenv prefix 3.12 2>/dev/null)/bin/python3.12" python3.12; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { command -v "$$p"; break; }; done)
UV_COMPILE := $(UV) pip compile --quiet --universal --generate-hashes --custom-compile-command "make lock"

.PHONY: web demo report docs-serve test unit test-lambda-python lint docs mutation screenshot openapi mart clean lock upgrade check-locks

$(UV):  requirements/uv.txt
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements/uv.txt
	touch $@

$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --quiet --locked --python $(PYTHON)
	touch $@

$(TOOLS)/.installed: requirements/tools.txt $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(TOOLS)
	VIRTUAL_ENV=$(TOOLS) $(UV) pip sync --quiet --strict --require-hashes requirements/tools.txt
	touch $@

$(DBT_VENV)/.installed: requirements/dbt.txt $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(DBT_VENV)
	VIRTUAL_ENV=$(DBT_VENV) $(UV) pip sync --quiet --strict --require-hashes requirements/dbt.txt
	touch $@

# The ASL validator (npm's asl-validator, pinned by tools/asl/package-lock.json) for statemachine/*.asl.json.
$(ASL)/.installed: tools/asl/package.json tools/asl/package-lock.json
	npm ci --prefix tools/asl --silent --no-audit --no-fund
	touch $@

# Re-resolve every lock from its inputs, keeping the versions already locked wherever they still fit
# (after a change to pyproject.toml or a requirements/*.in file). `make upgrade` takes the newest allowed.
lock: | $(UV)
	$(UV) lock --quiet
	$(UV_COMPILE) requirements/uv.in -o requirements/uv.txt
	$(UV_COMPILE) requirements/tools.in -o requirements/tools.txt
	$(UV_COMPILE) requirements/dbt.in -o requirements/dbt.txt
	$(UV) pip compile --quiet --generate-hashes --custom-compile-command "make lock" --python-version 3.12 \
		requirements/lambda-runtime-floor.in -o requirements/lambda-runtime-floor.txt
	$(UV) export --quiet --frozen --no-hashes --no-emit-project --format requirements-txt -o .layer-constraints.txt
	$(UV) pip compile --quiet --generate-hashes --custom-compile-command "make lock" --python-version 3.12 \
		--python-platform x86_64-manylinux_2_28 -c .layer-constraints.txt shared/requirements.in -o shared/requirements.txt
	rm -f .layer-constraints.txt

# Drift on purpose: the newest versions every range allows, then every check. Commit the locks if it is green.
upgrade: | $(UV)
	$(UV) lock --quiet --upgrade
	$(UV_COMPILE) --upgrade requirements/uv.in -o requirements/uv.txt
	$(UV_COMPILE) --upgrade requirements/tools.in -o requirements/tools.txt
	$(UV_COMPILE) --upgrade requirements/dbt.in -o requirements/dbt.txt
	$(MAKE) lock
	git diff --stat -- uv.lock requirements shared/requirements.txt
	$(MAKE) lint test

# A lock out of step with its inputs fails here (make lint), with the command that fixes it.
check-locks: | $(UV)
	$(PYTHON) tools/check_locks.py --uv $(UV)

$(WEB_NPM)/.installed: web/package.json web/package-lock.json
	npm ci --prefix web --silent --no-audit --no-fund
	touch $@

# The score card's classic script (from its one source, the ES module) and its API types (from openapi.yaml).
web: $(VENV)/.installed $(WEB_NPM)/.installed
	$(BIN)/python tools/build_web.py
	npm run --prefix web --silent types

demo: $(VENV)/.installed
	$(BIN)/mips-profiles demo --out out/demo

# The docs' score-bands page (docs/report/) from a fresh demo; CI checks it (tests/docs/test_docs_report.py).
report: $(VENV)/.installed
	$(BIN)/python tools/docs_report.py

test: $(VENV)/.installed $(ASL)/.installed $(DBT_VENV)/.installed $(WEB_NPM)/.installed
	$(BIN)/pytest

# The fast loop: rules and transforms only (no npm, dbt, browser or moto).
unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit

# The AWS tests (the handlers, the state machine, IAM) as the Lambdas run them: Python 3.12, and the oldest boto3
# and botocore the code claims (requirements/lambda-runtime-floor.txt) over the lock, since the functions run on
# the runtime's own SDK. `make test` runs the same tests on the lock's SDK.
test-lambda-python: | $(UV)
	@if [ -z "$(LAMBDA_PYTHON)" ]; then echo "no Python 3.12 on this machine: the AWS tests ran on $$($(PYTHON) -V) only"; \
	else UV_PROJECT_ENVIRONMENT=.venv-py312 $(UV) sync --quiet --locked --python "$(LAMBDA_PYTHON)" && \
		VIRTUAL_ENV=.venv-py312 $(UV) pip install --quiet --require-hashes -r requirements/lambda-runtime-floor.txt && \
		.venv-py312/bin/python -c 'import boto3, botocore; print("AWS tests on boto3", boto3.__version__, "botocore", botocore.__version__)' && \
		.venv-py312/bin/pytest -q -p no:cacheprovider tests/aws; fi

lint: check-locks $(VENV)/.installed $(TOOLS)/.installed $(ASL)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/mypy --strict functions/check_release/app.py
	$(BIN)/mypy --strict functions/shard_scores/app.py
	$(ASL)/.bin/asl-validator --json-path statemachine/refresh.asl.json
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam validate --lint --region us-east-1 --template template.yaml
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam build SharedLibLayer --template template.yaml --build-dir .aws-sam/build >/dev/null
	test -d .aws-sam/build/SharedLibLayer/python/orjson && test ! -e .aws-sam/build/SharedLibLayer/python/mips_profiles/sandbox
	$(TOOLS)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	$(MAKE) --no-print-directory docs

# The docs site (mkdocs-material) from docs/: strict, so a broken link or a page left out of the nav fails.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The same site, previewed with live reload on http://127.0.0.1:8002 (mkdocs.yml's dev_addr; serve takes 8000).
docs-serve: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# Mutation testing of the rule modules (mutmut; tools/mutation.toml). A scratch copy in .mutation/, since
# mutmut 3 wants the package at the top of the tree; the score goes into docs/reliability.md by hand.
mutation: $(VENV)/.installed
	rm -rf .mutation && mkdir -p .mutation
	cp -r shared/mips_profiles .mutation/mips_profiles
	cp -r tests .mutation/tests
	cp tools/mutation.toml .mutation/pyproject.toml
	cd .mutation && ../$(BIN)/mutmut run --max-children 2 >/dev/null && ../$(BIN)/python ../tools/check_mutants.py

# The docs' screenshots of the score card and the research page, as the browser tests render them.
screenshot: $(VENV)/.installed
	SCREENSHOT_DIR=docs/img PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -n 0 -m browser \
		-k "scored_npi_shows or state_view_and_the_provenance" \
		tests/browser/test_widget_browser.py tests/browser/test_research_browser.py

# The QPP mart on the demo's data, with DuckDB (runs the demo first when out/demo is not there).
mart: $(VENV)/.installed $(DBT_VENV)/.installed
	test -d out/demo/tree.private/mart || $(BIN)/mips-profiles demo --out out/demo
	$(BIN)/python tools/mart.py --dbt $(DBT_VENV)/bin/dbt --private out/demo/tree.private --public out/demo/tree

clean:
	rm -rf $(VENV) $(TOOLS) $(DBT_VENV) $(UV_VENV) .venv-py312 out
