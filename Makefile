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

.PHONY: help venv binaries lint test render render-all preview up clean checkov checkov-venv demo bench

help:
	@echo "make test              lint (ruff, mypy), checkov on every rendered stack, then the tests (creates the venvs when missing)"
	@echo "make render STACK=dev  write what the stack would deploy to build/render/STACK"
	@echo "make checkov           scan every rendered stack with checkov (security/checkov-skips.yaml lists the skips)"
	@echo "make preview STACK=dev pulumi preview for one stack (needs the Pulumi CLI and a cluster)"
	@echo "make up STACK=dev      pulumi up for one stack"
	@echo "make demo              local Prometheus/Alertmanager/Pushgateway on loopback: inject an SLA violation, show the alert path"
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

binaries:
	@echo "==> binaries: promtool, amtool, Prometheus, Alertmanager, Pushgateway, node-exporter"
	./scripts/install_binaries.sh

lint: venv
	@echo "==> lint: ruff, mypy"
	$(PY) -m ruff check .
	$(PY) -m mypy .

test: venv binaries lint checkov
	@echo "==> tests: pytest"
	$(PY) -m pytest

render: venv
	$(PY) -m scripts.render --stack $(STACK) --out $(OUT)

render-all: venv
	for stack in dev staging prod; do $(PY) -m scripts.render --stack $$stack --out build/render/$$stack || exit 1; done

demo: venv binaries
	$(PY) -m scripts.localstack demo --stack $(STACK)

bench: venv binaries
	$(PY) -m scripts.bench --write docs/benchmarks.md

define require_pulumi
	@command -v pulumi >/dev/null || { echo "The Pulumi CLI is not installed: see https://www.pulumi.com/docs/iac/download-install/ (e.g. 'curl -fsSL https://get.pulumi.com | sh'), then re-run." >&2; exit 1; }
endef

preview: venv
	$(require_pulumi)
	mkdir -p .pulumi-state
	pulumi stack select $(STACK) --create
	# The policy pack runs on the first python on PATH: the project's venv has pulumi-policy.
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi preview --stack $(STACK) --diff --policy-pack policy

up: venv
	$(require_pulumi)
	mkdir -p .pulumi-state
	pulumi stack select $(STACK) --create
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi up --stack $(STACK) --policy-pack policy

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
