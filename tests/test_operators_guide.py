"""The operator's guide stays true to the repository it describes.

Paths, make targets, modules, secret keys and policy names it mentions must
exist; its secret and policy tables must list exactly the real ones.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from components.settings.secrets import SECRET_KEYS
from policy.policies import POLICIES

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "operators-guide.md"
TEXT = GUIDE.read_text(encoding="utf-8")
CODE_SPANS = re.findall(r"`([^`\n]+)`", TEXT)
# Output locations and state that exist only after a command has run, the
# render tree's own entries, git tags and action names: not repository paths.
NOT_REPO_PATHS = ("build/", ".pulumi-state", ".venv", "manifests/", "grafana/", "resources.json", "deployed/", "pulumi/actions")


def _table_first_column(heading: str) -> set[str]:
    """The backticked names in the first column of the table under a heading."""
    section = TEXT.split(heading, 1)[1].split("\n## ", 1)[0]
    return {m for m in re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)}


def test_secret_table_lists_exactly_the_declared_secret_keys() -> None:
    listed = _table_first_column("## 2. Secrets per stack")
    assert listed == {f"observability:{key}" for key in SECRET_KEYS}, (
        "docs/operators-guide.md section 2 must list every key of components/settings/secrets.py SECRET_KEYS"
    )


def test_policy_table_lists_exactly_the_pack_s_policies() -> None:
    assert _table_first_column("## 7. The policy pack") == {p.name for p in POLICIES}


def test_repository_paths_exist() -> None:
    path_like = re.compile(r"^\.?[\w.-]+(/[\w.-]+)*/?$")
    missing = []
    for span in CODE_SPANS:
        if "/" not in span and not span.endswith((".yaml", ".yml", ".py", ".md", ".txt")):
            continue
        if not path_like.match(span) or span.startswith(NOT_REPO_PATHS) or "://" in span:
            continue
        if not (ROOT / span).exists():
            missing.append(span)
    assert missing == []


def test_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.M))
    used = set(re.findall(r"\bmake ([a-z][\w-]*)", TEXT))
    assert used and used <= targets, f"unknown make targets: {sorted(used - targets)}"


def test_python_modules_exist() -> None:
    modules = set(re.findall(r"python -m ([\w.]+)", TEXT))
    assert "scripts.promote" in modules and "scripts.render_diff" in modules
    assert [m for m in sorted(modules) if importlib.util.find_spec(m) is None] == []


def test_linked_docs_exist() -> None:
    links = re.findall(r"\]\(([^)#]+\.md)\)", TEXT)
    assert links and [link for link in links if not (GUIDE.parent / link).exists()] == []
