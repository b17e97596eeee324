"""The operator's guide stays true to the repository it describes.

Paths, make targets, modules, secret keys and policy names it mentions must
exist; its secret and policy tables must list exactly the real ones. Every
`pulumi` command in the guide and in docs/data-safety.md is one the CLI
accepts (its own help, tests/support/pulumi_cli.py), every script flag exists, and the
procedures for replacing a protected resource and adopting claims are the
ones that work.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys

import pytest

from components import paths
from components.settings.platform import KubernetesSettings
from components.settings.secrets import SECRET_KEYS
from policy.policies import POLICIES
from scripts import adopt_claims
from scripts.adopt_claims import adoptions
from tests.conftest import RenderStack
from tests.support.pulumi_cli import SHELL_STOP, cli_problems

ROOT = paths.REPO_ROOT
GUIDE = paths.DOCS_DIR / "operators-guide.md"
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
    makefile = paths.MAKEFILE.read_text(encoding="utf-8")
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


# --- the commands are ones the tools accept -----------------------------------

DATA_SAFETY = GUIDE.parent / "data-safety.md"
DOCS = {"operators-guide.md": TEXT, "data-safety.md": DATA_SAFETY.read_text(encoding="utf-8")}


def _command_lines(text: str, program: str) -> list[str]:
    """Every command line starting with ``program`` in code blocks and inline code spans, continuations joined."""
    lines = []
    for block in re.findall(r"```(?:sh|bash)?\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith(program + " ") or line.startswith(".venv/bin/" + program + " "):
                lines.append(line)
    lines += [span for span in re.findall(r"`([^`\n]+)`", text) if span.startswith(program + " ")]
    return lines


def _argv(line: str) -> list[str]:
    """The words of a command, up to a comment, a pipe or the next command."""
    words = []
    for word in shlex.split(line.split("  #", 1)[0], comments=False):
        if word in SHELL_STOP or word.startswith("#"):
            break
        words.append(word)
    return words


def test_every_pulumi_command_in_the_guides_is_one_the_cli_accepts() -> None:
    found = {name: [_argv(line) for line in _command_lines(text, "pulumi")] for name, text in DOCS.items()}
    assert len(found["operators-guide.md"]) >= 10 and len(found["data-safety.md"]) >= 5
    problems = [f"{name}: {' '.join(argv)}: {p}" for name, argvs in found.items() for argv in argvs for p in cli_problems(argv)]
    assert problems == []


def test_the_cli_model_rejects_what_the_cli_rejects() -> None:
    assert cli_problems(["pulumi", "import", "kubernetes:core/v1:PersistentVolumeClaim", "a", "ns/a", "--parnet", "urn"]) != []
    assert cli_problems(["pulumi", "state", "retain", "urn"]) != []
    assert cli_problems(["pulumi", "stack", "select", "--create", "dev"]) == []


def _usages(modules: set[str]) -> dict[str, str]:
    """``python -m MODULE --help`` output per module, each run as the guide types it.

    One interpreter per module rather than per command line (the guide names scripts.promote seven times and
    each start imports the Pulumi SDKs), all started before the first is waited for."""
    running = {
        module: subprocess.Popen([sys.executable, "-m", module, "--help"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for module in sorted(modules)
    }
    usages = {}
    try:
        for module, process in running.items():
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, f"python -m {module} --help exited with {process.returncode}: {err}"
            usages[module] = out
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return usages


def test_every_script_flag_in_the_guides_exists() -> None:
    commands = [(name, line, _argv(line)) for name, text in DOCS.items() for line in _command_lines(text, "python")]
    usages = _usages({argv[argv.index("-m") + 1] for _, _, argv in commands})
    for name, line, argv in commands:
        usage = usages[argv[argv.index("-m") + 1]]
        flags = [w.split("=", 1)[0] for w in argv if w.startswith("--")]
        assert [f for f in flags if f not in usage] == [], f"{name}: {line}"


# --- the procedures -----------------------------------------------------------


def _section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n#", 1)[0]


def test_replacing_a_protected_resource_takes_it_out_of_pulumi_s_hands_first() -> None:
    """retainOnDelete also holds for the delete half of a replacement (pulumi/pulumi
    pkg/resource/deploy/step.go, DeleteStep.Apply: a retained resource's delete is a no-op), so
    "unprotect, deploy, protect again" leaves the old object and the new one's create hits it.
    The procedure must forget the object in Pulumi and delete it in the cluster before `pulumi up`."""
    steps = _section(DOCS["data-safety.md"], "### Replacing a protected resource on purpose")
    order = [line for line in _command_lines(steps, "pulumi") + _command_lines(steps, "kubectl")]
    text_order = sorted(order, key=steps.index)
    kinds = [" ".join(_argv(line)[:3]) for line in text_order]
    unprotect, forget = kinds.index("pulumi state unprotect"), kinds.index("pulumi state delete")
    delete = next(i for i, line in enumerate(text_order) if line.startswith("kubectl") and " delete " in line)
    up = max(i for i, k in enumerate(kinds) if k.startswith("pulumi up"))
    assert unprotect < forget < delete < up
    # The guide sends readers to that procedure and no longer tells them to redeploy an unprotected resource.
    assert "data-safety.md#replacing-a-protected-resource-on-purpose" in TEXT
    assert "deploy, and protect it again" not in TEXT


def test_adoption_imports_carry_the_parent_and_provider_the_program_uses(render_stack: RenderStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `pulumi import` without --parent records a URN the program never registers."""
    commands = [_argv(line) for text in DOCS.values() for line in _command_lines(text, "pulumi")]
    imports = [argv for argv in commands if argv[:2] == ["pulumi", "import"] and len(argv) > 2]
    assert imports
    for argv in imports:
        assert "--parent" in argv and "--provider" in argv, " ".join(argv)
    assert "python -m scripts.adopt_claims --stack" in TEXT and "scripts.adopt_claims --stack" in DOCS["data-safety.md"]
    # What the script prints passes the CLI model too (from the session's render of the same committed stack file).
    monkeypatch.setattr(adopt_claims, "render", lambda config: render_stack(config.stack))
    adoption = adoptions("dev")[0]
    assert cli_problems(adoption.argv("dev")) == []


def test_linked_anchors_exist() -> None:
    for name, text in DOCS.items():
        for target, anchor in re.findall(r"\]\(([^)#]*)#([^)]+)\)", text):
            linked = DOCS.get(target or name) or (GUIDE.parent / target).read_text(encoding="utf-8")
            headings = re.findall(r"^#+ (.+)$", linked, flags=re.M)
            slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, f"{name}: {target}#{anchor}"


def test_first_deploy_names_the_cluster_with_the_real_keys() -> None:
    fields = KubernetesSettings.model_fields
    keys = {field.alias or name for name, field in fields.items()}
    set_lines = [_argv(line) for line in _command_lines(TEXT, "pulumi") if "--path" in line and "kubernetes." in line]
    assert {argv[argv.index("--path") + 1].split(".", 1)[1] for argv in set_lines} == keys
    assert "get namespace kube-system -o jsonpath='{.metadata.uid}'" in TEXT
