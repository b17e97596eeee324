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
DASHBOARDS_DIR = REPO_ROOT / "dashboards"

# Documents and checks the tools read.
DOCS_DIR = REPO_ROOT / "docs"
RUNBOOKS_DIR = DOCS_DIR / "runbooks"
README = REPO_ROOT / "README.md"
CHECKOV_SKIPS = REPO_ROOT / "security" / "checkov-skips.yaml"
POLICY_DIR = REPO_ROOT / "policy"

# Outputs (git-ignored).
BUILD_DIR = REPO_ROOT / "build"
CACHE_DIR = BUILD_DIR / "cache"
