# Entry points for people and CI. `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
OUT ?= build/render/$(STACK)
# Local file backend unless the caller points Pulumi elsewhere.
PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_BACKEND_URL
# A test run starts dozens of Python processes (xdist workers, CLI runs, render diffs): with bytecode caching
# switched off in the environment each one recompiles the project and pytest re-rewrites every test module
# (measured: collection 3.9 s -> 1.4 s CPU per worker). The caches are gitignored __pycache__ directories.
unexport PYTHONDONTWRITEBYTECODE
# The programs `make tools` builds (Prometheus, promtool, Alertmanager, amtool, Pushgateway, node_exporter, tofu,
# the Pulumi CLI, ...) come first on every recipe's PATH: the versions the stack deploys, not older copies elsewhere.
export PATH := $(CURDIR)/build/tools/bin:$(PATH)

.PHONY: help venv tools lint test pytest render render-all preview up clean checkov checkov-venv demo bench api-check verify bundle deploy-test pr-preview

help:
	@echo "make test              lint (ruff, mypy), checkov on every rendered stack, then the tests (creates the venvs and builds the tools when missing)"
	@echo "make pytest            the tests alone, two pytest-xdist workers per core (PYTEST_WORKERS=N to choose, 0 for one process)"
	@echo "make render STACK=dev  write what the stack would deploy to build/render/STACK"
	@echo "make api-check         every rendered object against the Kubernetes API schemas (strict) and the vendored CRDs"
	@echo "make checkov           scan every rendered stack with checkov (security/checkov-skips.yaml lists the skips)"
	@echo "make preview STACK=dev pulumi preview for one stack (needs the Pulumi CLI and a cluster)"
	@echo "make up STACK=dev      pulumi up for one stack"
	@echo "make demo              local Prometheus/Alertmanager/Pushgateway on loopback: inject an SLA violation, show the alert path"
	@echo "make verify STACK=dev  compare a live Prometheus/Alertmanager with the render (PROMETHEUS_URL=, ALERTMANAGER_URL=; default: port-forwards)"
	@echo "make bundle            write the monitoring bundle (Helm chart, Terraform module, jsonnet mixin) to dist/"
	@echo "make tools             build the Pulumi CLI, the provider, the API server and the Prometheus-side programs from their Go modules (build/tools/bin)"
	@echo "make pr-preview        the preview the pull-request workflow posts (dev, diff, policy pack), written to build/pr-preview/dev.md"
	@echo "make deploy-test       deploy dev, staging and prod with the real CLI to local API servers (build/deploy-test/report.json)"
	@echo "make bench             render time, test wall time, detection latency, requested resources (writes docs/benchmarks.md)"

# Progress is printed from the first second: a fresh install takes minutes.
$(VENV)/.installed: requirements.txt
	@echo "==> venv: installing requirements.txt into $(VENV)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	set -o pipefail; PYTHONUNBUFFERED=1 $(PY) -m pip install --progress-bar off --disable-pip-version-check -r requirements.txt | { grep --line-buffered -E '^(Collecting|Successfully)' || true; }
	touch $@

venv: $(VENV)/.installed

# checkov pins packages the main venv pins differently, so it gets a venv of its own.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@echo "==> checkov venv: installing requirements-checkov.txt into $(CHECKOV_VENV)"
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	set -o pipefail; PYTHONUNBUFFERED=1 $(CHECKOV_VENV)/bin/python -m pip install --progress-bar off --disable-pip-version-check -r requirements-checkov.txt | { grep --line-buffered -E '^(Collecting|Successfully)' || true; }
	touch $@

checkov-venv: $(CHECKOV_VENV)/.installed

# checkov's Kubernetes checks on every rendered stack, offline; skips only from security/checkov-skips.yaml.
checkov: venv checkov-venv
	@echo "==> checkov: render every stack and scan it"
	$(PY) -m scripts.checkov_gate

# Every object of every stack as the API server of each supported Kubernetes version would see it.
api-check: venv
	$(PY) -m scripts.api_check

# The programs the tests and the demo run, built from their Go modules at the versions the stack deploys
# (tools/versions.yaml, components/settings/defaults.yaml) into build/tools/bin; a warm run builds nothing.
tools: venv
	@echo "==> tools: Prometheus, promtool, Alertmanager, amtool, Pushgateway, node_exporter, OpenTofu, the Pulumi CLI, ... into build/tools/bin"
	$(PY) -m scripts.build_tools

lint: venv
	@echo "==> lint: ruff, mypy"
	$(PY) -m ruff check .
	$(PY) -m mypy .

# pytest on two workers per core (pytest-xdist). Tests sharing a live local stack or a module fixture stay on
# one worker (tests/conftest.py groups them); PYTEST_WORKERS=N overrides, PYTEST_WORKERS=0 runs serially.
# Two per core because the end-to-end workers mostly wait on real binaries: measured on 2 cores (load 2-4),
# the full suite took 175 s wall / 340 s CPU on 4 workers against 187 s / 308 s on 2.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 1); echo $$((2 * n)))
pytest: venv tools
	@echo "==> pytest: $(PYTEST_WORKERS) workers"
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

test: venv tools lint checkov pytest

render: venv
	$(PY) -m scripts.render --stack $(STACK) --out $(OUT)

render-all: venv
	for stack in dev staging prod; do $(PY) -m scripts.render --stack $$stack --out build/render/$$stack || exit 1; done

demo: venv tools
	$(PY) -m scripts.localstack demo --stack $(STACK)

# Post-deploy check of a live stack against its render; the command prints the port-forwards it expects.
verify: venv
	$(PY) -m scripts.verify --stack $(STACK) $(if $(PROMETHEUS_URL),--prometheus-url $(PROMETHEUS_URL)) $(if $(ALERTMANAGER_URL),--alertmanager-url $(ALERTMANAGER_URL))

bundle: venv
	$(PY) -m scripts.package_monitoring_bundle --out dist

bench: venv tools
	$(PY) -m scripts.bench --write docs/benchmarks.md

define require_pulumi
	@command -v pulumi >/dev/null || { echo "The Pulumi CLI is not installed: see https://www.pulumi.com/docs/iac/download-install/ (e.g. 'curl -fsSL https://get.pulumi.com | sh'), then re-run." >&2; exit 1; }
endef

preview: venv
	$(require_pulumi)
	mkdir -p .pulumi-state
	pulumi stack select $(STACK) --create
	# policy/PulumiPolicy.yaml names ../.venv, so the CLI runs the pack there from any entry point.
	pulumi preview --stack $(STACK) --diff --policy-pack policy

up: venv
	$(require_pulumi)
	mkdir -p .pulumi-state
	pulumi stack select $(STACK) --create
	pulumi up --stack $(STACK) --policy-pack policy

# The real Pulumi CLI and provider against local API servers: every stack up, a clean second preview, and
# the scenarios of tooling/deploy_test.py. CI runs it after the tests (.ci/run).
deploy-test: venv
	$(PY) -m scripts.build_tools
	$(PY) -m scripts.deploy_test

# What .github/workflows/pull-request.yml posts, with the CLI on PATH (build/tools/bin first when built).
pr-preview: venv
	$(PY) -m scripts.pr_preview --stack $(STACK)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
