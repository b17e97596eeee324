"""The GitHub Actions workflows pass both linters, offline, and pin every action.

check-jsonschema validates against its vendored GitHub workflow schema (no
download); zizmor runs with --offline, no config file and no ignore comments,
so a finding cannot be hidden from this test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import paths

ROOT = paths.REPO_ROOT
WORKFLOW_DIR = paths.WORKFLOWS_DIR
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml")) + sorted(WORKFLOW_DIR.glob("*.yaml"))
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
SEVERITY_ORDER = ["Unknown", "Informational", "Low", "Medium", "High"]


def _tool(name: str) -> str:
    """The linter next to this interpreter (the project venv), else on PATH."""
    local = BIN / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} is not installed: pip install -r requirements.txt")
    return found


def _uses(node: Any) -> list[str]:
    """Every `uses:` value anywhere in a parsed workflow."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_uses(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_uses(item))
    return found


def _describe(finding: dict[str, Any]) -> str:
    """One line per zizmor finding: audit, severity, file and what it says."""
    where = finding["locations"][0]["symbolic"] if finding.get("locations") else {}
    path = where.get("key", {}).get("Local", {}).get("verbatim_path", "?")
    return f"{finding['ident']} ({finding['determinations']['severity']}) {path}: {finding['desc']}; {where.get('annotation', '')}"


def test_there_are_workflows() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"pull-request.yml", "deploy-dev.yml", "promote.yml"} <= names


def test_workflows_match_the_github_workflow_schema() -> None:
    proc = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_reports_nothing_of_medium_severity_or_worse() -> None:
    proc = subprocess.run(
        [
            _tool("zizmor"),
            "--offline",
            "--no-config",
            "--no-ignores",
            "--no-exit-codes",
            "--format",
            "json",
            "--min-severity",
            "medium",
            str(paths.WORKFLOWS_DIR.parent),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    findings = json.loads(proc.stdout)
    summary = [_describe(f) for f in findings]
    assert findings == [], "\n".join(summary)


def test_every_action_is_pinned_to_a_full_commit_sha() -> None:
    unpinned = []
    for path in WORKFLOWS:
        for ref in _uses(yaml.safe_load(path.read_text(encoding="utf-8"))):
            if not PINNED.match(ref):
                unpinned.append(f"{path.name}: {ref}")
    assert unpinned == []


def test_pin_check_rejects_a_tag_reference() -> None:
    doc = yaml.safe_load("jobs: {a: {steps: [{uses: actions/checkout@v7}, {uses: ./local}]}}")
    refs = _uses(doc)
    assert refs == ["actions/checkout@v7", "./local"]
    assert not any(PINNED.match(r) for r in refs)


def test_every_pinned_action_names_its_version() -> None:
    """A `# vX.Y.Z` comment beside each SHA tells reviewers what it is."""
    missing = []
    for path in WORKFLOWS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\buses:\s", line) and not re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line):
                missing.append(f"{path.name}:{number}: {line.strip()}")
    assert missing == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    """No token scope at the top; each job asks for what it needs, and every
    checkout leaves no credential behind for later steps."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["permissions"] == {}, "top-level permissions must be {}"
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"job {name} has no permissions block"
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"job {name}: checkout persists credentials"


def test_zizmor_severity_filter_catches_a_bad_workflow(tmp_path: Path) -> None:
    """The linter run above can fail: an unpinned action and a template
    injection are findings of medium severity or worse."""
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yml").write_text(
        "on: pull_request_target\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v7\n"
        "        with: {ref: '${{ github.event.pull_request.head.sha }}'}\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-config", "--no-exit-codes", "--format", "json",
         "--min-severity", "medium", str(tmp_path / ".github")],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(proc.stdout)
    assert "template-injection (High)" in "\n".join(_describe(f) for f in findings)
    idents = {f["ident"] for f in findings}
    assert {"template-injection", "dangerous-triggers"} <= idents
    severities = {f["determinations"]["severity"] for f in json.loads(proc.stdout)}
    assert severities <= set(SEVERITY_ORDER[SEVERITY_ORDER.index("Medium"):])


def _workflow(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((WORKFLOW_DIR / name).read_text(encoding="utf-8"))
    return doc


def test_promotion_deploys_the_resolved_commit_after_tests_and_approval() -> None:
    """The guarantees the operator's guide promises, kept from silently eroding."""
    jobs = _workflow("promote.yml")["jobs"]
    sha = "${{ needs.resolve.outputs.sha }}"
    assert "tags/deployed/${source}" in jobs["resolve"]["steps"][0]["with"]["script"]
    for name in ("verify", "deploy"):
        checkout = jobs[name]["steps"][0]
        assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["ref"] == sha
    assert any(step.get("run") == "make test" for step in jobs["verify"]["steps"])
    assert jobs["deploy"]["environment"] == "${{ inputs.target }}"  # required reviewers live there
    assert set(jobs["preview"]["needs"]) == {"resolve", "verify"} and set(jobs["deploy"]["needs"]) == {"resolve", "preview"}
    assert any("--expect-sha" in step.get("run", "") and "--up" in step.get("run", "") for step in jobs["deploy"]["steps"])
    assert set(jobs["record"]["needs"]) == {"resolve", "deploy"}


def test_dev_deploys_only_after_tests_and_then_records_its_commit() -> None:
    jobs = _workflow("deploy-dev.yml")["jobs"]
    assert jobs["up"]["needs"] == "test" and jobs["up"]["environment"] == "dev"
    assert jobs["record"]["needs"] == "up"
    assert jobs["record"]["steps"][0]["env"] == {"DEPLOYED_ENV": "dev", "DEPLOYED_SHA": "${{ github.sha }}"}


def test_every_preview_and_deploy_runs_the_policy_pack() -> None:
    pulumi_steps = [
        step
        for name in ("pull-request.yml", "deploy-dev.yml")
        for job in _workflow(name)["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("pulumi/actions@") and "command" in step.get("with", {})
    ]
    assert len(pulumi_steps) == 2
    assert all(step["with"]["policyPacks"] == "policy" for step in pulumi_steps)


# --- what each job is granted -------------------------------------------------

PULL_REQUEST_TRIGGERS = {"pull_request", "pull_request_target"}
SECRET_REF = re.compile(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)")


def _triggers(doc: dict[Any, Any]) -> set[str]:
    on: Any = doc.get("on", doc.get(True))  # PyYAML reads a bare `on` as True
    return {on} if isinstance(on, str) else {str(trigger) for trigger in on}


def _all_jobs() -> list[tuple[str, str, dict[str, Any], set[str]]]:
    """(workflow file, job id, job, the workflow's triggers) for every job."""
    found = []
    for path in WORKFLOWS:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        found += [(path.name, name, job, _triggers(doc)) for name, job in doc["jobs"].items()]
    return found


def _secrets(job: dict[str, Any]) -> set[str]:
    return set(SECRET_REF.findall(yaml.safe_dump(job))) - {"GITHUB_TOKEN"}


def _operations(job: dict[str, Any]) -> list[tuple[str, str]]:
    """(preview|up, stack) for every Pulumi operation a job runs: pulumi/actions or scripts.promote."""
    found = []
    for step in job["steps"]:
        if str(step.get("uses", "")).startswith("pulumi/actions@") and "command" in step.get("with", {}):
            found.append((step["with"]["command"], str(step["with"]["stack-name"])))
        run = step.get("run", "")
        if "scripts.promote" in run and ("--preview" in run or "--up" in run):
            found.append(("up" if "--up" in run else "preview", step["env"]["TARGET"]))
    return found


def _stack_jobs() -> list[tuple[str, str, dict[str, Any], set[str], list[tuple[str, str]]]]:
    return [(f, n, j, t, ops) for f, n, j, t in _all_jobs() if (ops := _operations(j))]


def test_every_stack_operation_is_found() -> None:
    """The model above sees each preview and deploy (so the tests below cannot pass vacuously)."""
    seen = {(f, n): ops for f, n, _, _, ops in _stack_jobs()}
    assert seen == {
        ("deploy-dev.yml", "up"): [("up", "dev")],
        ("promote.yml", "preview"): [("preview", "${{ inputs.target }}")],
        ("promote.yml", "deploy"): [("up", "${{ inputs.target }}")],
        ("pull-request.yml", "preview"): [("preview", "dev")],
    }


def test_pull_request_code_never_gets_staging_or_prod_credentials_or_write_access() -> None:
    """Unreviewed code runs in pull-request jobs: no deploy, no environment but dev's read-only
    preview environment, and no secret outside it (repository-level secrets would reach every job)."""
    for workflow, name, job, triggers, in _all_jobs():
        if not triggers & PULL_REQUEST_TRIGGERS:
            continue
        environment = job.get("environment")
        assert environment in (None, "preview-dev"), f"{workflow}:{name} runs in {environment}"
        assert not _secrets(job) or environment == "preview-dev", f"{workflow}:{name} reads {_secrets(job)} outside preview-dev"
        assert all(op == "preview" and stack == "dev" for op, stack in _operations(job)), f"{workflow}:{name}"
        assert "staging" not in yaml.safe_dump(job) and "prod" not in yaml.safe_dump(job), f"{workflow}:{name}"


def test_secrets_live_in_environments_and_deploy_rights_only_where_a_deploy_runs() -> None:
    for workflow, name, job, _, operations in _stack_jobs():
        stacks = {stack for _, stack in operations}
        assert len(stacks) == 1
        [stack] = stacks
        deploys = any(op == "up" for op, _ in operations)
        # A preview job reads the stack's read-only identity; only the deploy job the stack's own environment.
        assert job["environment"] == (stack if deploys else f"preview-{stack}"), f"{workflow}:{name}"
    for workflow, name, job, _ in _all_jobs():
        if _secrets(job):
            assert job.get("environment"), f"{workflow}:{name} reads {_secrets(job)} without an environment"


def test_each_job_is_granted_exactly_these_token_permissions() -> None:
    granted = {(f, n): j["permissions"] for f, n, j, _ in _all_jobs()}
    assert granted == {
        ("deploy-dev.yml", "test"): {"contents": "read"},
        ("deploy-dev.yml", "up"): {"contents": "read"},
        ("deploy-dev.yml", "record"): {"contents": "write"},
        ("promote.yml", "resolve"): {"contents": "read"},
        ("promote.yml", "verify"): {"contents": "read"},
        ("promote.yml", "preview"): {"contents": "read"},
        ("promote.yml", "deploy"): {"contents": "read"},
        ("promote.yml", "record"): {"contents": "write"},
        ("pull-request.yml", "test"): {"contents": "read"},
        ("pull-request.yml", "render-diff"): {"contents": "read", "pull-requests": "write"},
        ("pull-request.yml", "preview"): {"contents": "read", "pull-requests": "write"},
    }


def test_one_queue_per_stack_across_previews_and_deploys() -> None:
    """A preview and a deploy of one stack never run at once (Pulumi Cloud answers a preview during an
    update with 409; a bucket backend's preview reads state mid-write), and a waiting deploy is queued,
    never cancelled by a newer waiting preview (`queue: max`)."""
    groups: dict[str, set[str]] = {}
    for workflow, name, job, _, operations in _stack_jobs():
        [stack] = {s for _, s in operations}
        concurrency = job.get("concurrency")
        assert concurrency == {"group": f"pulumi-{stack}", "cancel-in-progress": False, "queue": "max"}, f"{workflow}:{name}"
        groups.setdefault(concurrency["group"], set()).update(op for op, _ in operations)
    assert groups["pulumi-dev"] == {"preview", "up"}


def test_the_promotion_previews_before_its_approval_and_deploys_that_plan() -> None:
    jobs = _workflow("promote.yml")["jobs"]
    preview, deploy = jobs["preview"], jobs["deploy"]
    run = next(step["run"] for step in preview["steps"] if step.get("id") == "preview")
    assert "GITHUB_STEP_SUMMARY" in run and "--changes-out" in run and "GITHUB_OUTPUT" in run
    assert preview["outputs"]["changes"] == "${{ steps.preview.outputs.changes }}"
    step = next(step for step in deploy["steps"] if "--up" in step.get("run", ""))
    assert step["env"]["APPROVED_CHANGES"] == "${{ needs.preview.outputs.changes }}" and "--expect-changes" in step["run"]
    # The same commit in both.
    for job in (preview, deploy):
        assert job["steps"][0]["with"]["ref"] == "${{ needs.resolve.outputs.sha }}"
        assert any("--expect-sha" in s.get("run", "") for s in job["steps"])


def test_a_first_deploy_creates_the_stack() -> None:
    [step] = [s for s in _workflow("deploy-dev.yml")["jobs"]["up"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert step["with"]["upsert"] is True  # promotion: AutomationDeployer uses create_or_select_stack


def test_the_policy_pack_s_venv_exists_before_any_stack_operation() -> None:
    """policy/PulumiPolicy.yaml runs the pack in ../.venv, which `make venv` creates."""
    for workflow, name, job, _, _ in _stack_jobs():
        steps = job["steps"]
        venv = next(i for i, step in enumerate(steps) if step.get("run") == "make venv")
        first = next(i for i, step in enumerate(steps) if _operations({"steps": [step]}))
        assert venv < first, f"{workflow}:{name}"
