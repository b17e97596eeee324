"""Every repository path the program, the tools and the tests read, written once.

Modules import these instead of computing a path from their own ``__file__``: a module that moves keeps
reading the same files. All are absolute :class:`pathlib.Path` objects under :data:`REPO_ROOT`.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Data the program reads while it renders.
SETTINGS_DEFAULTS = REPO_ROOT / "components" / "settings" / "defaults.yaml"
CRD_ROOT = REPO_ROOT / "components" / "metrics" / "crds"
RULES_DIR = REPO_ROOT / "rules"
RULE_TESTS_DIR = RULES_DIR / "tests"
THRESHOLDS_FILE = RULES_DIR / "thresholds.yaml"
SLO_DIR = REPO_ROOT / "slo"
CATALOG_FILE = REPO_ROOT / "catalog" / "metrics.yaml"

# Code and documents the tools and tests read.
COMPONENTS_DIR = REPO_ROOT / "components"
SCRIPTS_DIR = REPO_ROOT / "scripts"
POLICY_DIR = REPO_ROOT / "policy"
DOCS_DIR = REPO_ROOT / "docs"
RUNBOOKS_DIR = DOCS_DIR / "runbooks"
README = REPO_ROOT / "README.md"
MAKEFILE = REPO_ROOT / "Makefile"
GITIGNORE = REPO_ROOT / ".gitignore"
REQUIREMENTS = REPO_ROOT / "requirements.txt"
WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
CHECKOV_SKIPS = REPO_ROOT / "security" / "checkov-skips.yaml"
# checkov pins packages the main virtualenv pins differently (Makefile: checkov-venv).
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"

# The project's virtualenv (Makefile: VENV); the policy pack runs in it (policy/PulumiPolicy.yaml).
VENV = REPO_ROOT / ".venv"

# Outputs (git-ignored).
BUILD_DIR = REPO_ROOT / "build"
CACHE_DIR = BUILD_DIR / "cache"
# Versions of the programs `make tools` builds from Go modules (tooling/go_tools.py), and where they go.
TOOLS_VERSIONS = REPO_ROOT / "tools" / "versions.yaml"
TOOLS_DIR = BUILD_DIR / "tools"
DEPLOY_TEST_DIR = BUILD_DIR / "deploy-test"
PULUMI_PROJECT = REPO_ROOT / "Pulumi.yaml"
# The Pulumi entry point and the CLI version the workflows install and `make tools` builds.
ENTRY_POINT = REPO_ROOT / "__main__.py"
PULUMI_VERSION_FILE = REPO_ROOT / ".pulumi-version"
