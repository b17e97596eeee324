"""The deploy test: the real Pulumi CLI and pulumi-kubernetes provider deploy dev, staging and prod to a local
Kubernetes API server (tooling/local_cluster.py), then try what a platform team relies on.

Everything runs from ``build/tools/bin`` (``make tools``) on loopback; state, keys and logs live in
``build/deploy-test/run/`` and the report in ``build/deploy-test/report.json``. The stacks are configured
as a user configures them, with ``pulumi config set`` (secrets with ``--secret``, read from stdin), in a
project directory holding copies of ``Pulumi.yaml`` and the stack files (the repository's are not touched).

Scenarios (each a key of the report's ``scenarios``; True only when what it checks was seen):

- ``update_in_place``: a retention and a Loki limit changed on dev preview and apply as updates of
  exactly the objects the offline render changes, with no replacement;
- ``storage_grow``: a larger Loki volume grows its claim in place;
- ``storage_class_refused``: another storage class is refused before any change;
- ``alloy_keeps_its_claim``: a change of Alloy's config on dev rolls its pod, and the new pod mounts the
  same bound claim (its log read positions), not a new volume;
- ``destroy_protected``: ``pulumi destroy`` of prod is refused; the unprotect procedure of
  docs/data-safety.md, run as written, replaces a protected claim;
- ``wrong_cluster_refused``: prod pointed at a second API server is refused before any change;
- ``promotion``: ``scripts.promote`` deploys staging from dev's commit, and refuses a plan that differs
  from the approved one;
- ``policy_pack_blocks``: ``--policy-pack policy`` blocks prod with its stateful resources unprotected;
- ``pod_security_admitted``: every workload's pods were created (admitted) in namespaces that enforce a
  Pod Security level.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from components.paths import DEPLOY_TEST_DIR, DOCS_DIR, PULUMI_PROJECT, REPO_ROOT, VENV
from components.settings.errors import NAMESPACE
from tooling.engine import Engine
from tooling.go_tools import BIN_DIR, PULUMI_HOME
from tooling.local_cluster import LOOPBACK, LocalCluster, free_port
from tooling.stack_config import stack_file

STACKS = ("dev", "staging", "prod")
REPORT = DEPLOY_TEST_DIR / "report.json"
RUN_DIR = DEPLOY_TEST_DIR / "run"
DATA_SAFETY = DOCS_DIR / "data-safety.md"
UNPROTECT_HEADING = "### Replacing a protected resource on purpose"
# Operations that change nothing in the cluster.
UNCHANGED = frozenset({"same", "read", "refresh"})


class DeployTestError(RuntimeError):
    """A step the deploy test needs failed; the message names it and carries the CLI's output."""


@dataclass
class StepRecord:
    """One resource step of a preview or update, from the engine's events."""

    op: str
    urn: str
    kind: str | None
    name: str | None
    namespace: str | None


def _steps(events: Iterable[Any]) -> list[StepRecord]:
    steps = []
    for event in events:
        pre = getattr(event, "resource_pre_event", None)
        if pre is None:
            continue
        meta = pre.metadata
        state = meta.new or meta.old
        inputs = dict(getattr(state, "inputs", None) or {})
        metadata = inputs.get("metadata") or {}
        op = str(getattr(meta.op, "value", meta.op))
        steps.append(StepRecord(op, meta.urn, inputs.get("kind"), metadata.get("name"), metadata.get("namespace")))
    return steps


@dataclass
class DeployTest:
    """One run: a cluster per stack (as in production: one cluster per environment), a project directory,
    the CLI's environment and the report being filled."""

    clusters: dict[str, LocalCluster]
    project: Path
    env: dict[str, str]
    out: TextIO = sys.stderr
    report: dict[str, Any] = field(default_factory=lambda: {"stacks": {}, "scenarios": {}, "timings": {}, "notes": {}})

    # --- the CLI ---

    def log(self, message: str) -> None:
        print(f"==> deploy-test: {message}", file=self.out, flush=True)

    def cli(
        self, *args: str, stack: str | None = None, stdin: str | None = None, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``pulumi ARGS`` in the project directory, as a user types it."""
        argv = [str(BIN_DIR / "pulumi"), *args, *(["--stack", stack] if stack else []), "--non-interactive"]
        result = subprocess.run(argv, cwd=self.project, env={**self.env, **(env or {})}, input=stdin, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise DeployTestError(f"`pulumi {' '.join(args)}` failed ({result.returncode}):\n{result.stderr[-3000:] or result.stdout[-3000:]}")
        return result

    def engine(self, env: Mapping[str, str] | None = None) -> Engine:
        return Engine(project_dir=self.project, env={**self.env, **(env or {})}, command=BIN_DIR / "pulumi")

    def set_config(self, stack: str, path: str, value: str, *, secret: bool = False) -> None:
        if secret:
            self.cli("config", "set", "--secret", f"{NAMESPACE}:{path}", stack=stack, stdin=value)
        else:
            self.cli("config", "set", "--path", f"{NAMESPACE}:{path}", value, stack=stack)

    def remove_config(self, stack: str, path: str) -> None:
        self.cli("config", "rm", "--path", f"{NAMESPACE}:{path}", stack=stack)

    def configure(self, stack: str, uid: str, context: str) -> None:
        """Create ``stack`` and set what a user sets for a new cluster: its context, its identity, the secrets."""
        from components.settings.metrics_checks import required_secrets
        from tooling.stack_config import read_stack_config

        self.cli("stack", "init", stack)
        self.set_config(stack, "kubernetes.context", context)
        self.set_config(stack, "kubernetes.clusterId", uid)
        settings = read_stack_config(stack, self.project)
        from components.settings.loader import load_settings

        needed = set(required_secrets(load_settings(settings.values, stack, settings.secret_keys)))
        for key in sorted(needed | {"grafanaAdminPassword"}):
            value = f"https://hooks.example.invalid/{secrets.token_hex(16)}" if key.endswith("Url") else secrets.token_urlsafe(24)
            self.set_config(stack, key, value, secret=True)

    # --- operations through the Automation API (the CLI runs them; see tooling/engine.py) ---

    def up(self, stack: str, **options: Any) -> tuple[float, list[StepRecord]]:
        events: list[Any] = []
        started = time.monotonic()
        engine = self.engine()
        with engine.program_environment():
            engine.stack(stack, create=False).up(on_event=events.append, color="never", **options)
        return time.monotonic() - started, _steps(events)

    def preview(self, stack: str, env: Mapping[str, str] | None = None, **options: Any) -> tuple[float, list[StepRecord]]:
        events: list[Any] = []
        started = time.monotonic()
        engine = self.engine(env)
        with engine.program_environment():
            engine.stack(stack, create=False).preview(on_event=events.append, color="never", **options)
        return time.monotonic() - started, _steps(events)

    def operate(self, action: str, stack: str, env: Mapping[str, str] | None = None, **options: Any) -> Any:
        """``stack.<action>(**options)`` (up, destroy, ...) through the engine, the program seeing the CLI's environment."""
        engine = self.engine(env)
        with engine.program_environment():
            return getattr(engine.stack(stack, create=False), action)(color="never", **options)

    def failure(self, action: Callable[[], Any]) -> str | None:
        """The CLI's error output when ``action`` fails; None when it succeeds."""
        from pulumi import automation as auto

        try:
            action()
        except auto.CommandError as error:
            return str(error)
        return None

    # --- the cluster ---

    def get(self, path: str, stack: str = "dev") -> dict[str, Any]:
        """``GET path`` on ``stack``'s cluster, as its admin."""
        with self.clusters[stack].client() as client:
            response = client.get(path)
            response.raise_for_status()
            return dict(response.json())


def changed(steps: Iterable[StepRecord]) -> list[StepRecord]:
    return [step for step in steps if step.op not in UNCHANGED]


def render_differences(stack: str, overrides: list[str], project: Path) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every object the offline render changes when ``overrides`` are applied."""
    from tooling.render import render
    from tooling.stack_config import apply_overrides, read_stack_config

    def objects(assignments: list[str]) -> dict[tuple[str, str, str], str]:
        config = read_stack_config(stack, project)
        apply_overrides(config, assignments)
        result = render(config)
        return {
            (str(o.get("kind")), str((o.get("metadata") or {}).get("namespace") or ""), str((o.get("metadata") or {}).get("name"))): json.dumps(
                o, sort_keys=True
            )
            for o in result.manifests()
        }

    before, after = objects([]), objects(overrides)
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def _step_key(step: StepRecord) -> tuple[str, str, str]:
    return (str(step.kind), str(step.namespace or ""), str(step.name))


def environment(run_dir: Path, kubeconfigs: Iterable[Path]) -> dict[str, str]:
    """The CLI's environment: the built tools first on PATH, a file backend, this run's passphrase, and a
    KUBECONFIG listing every cluster's file (kubectl and the provider merge them; each stack names its context)."""
    (run_dir / "state").mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.pathsep.join([str(BIN_DIR), str(VENV / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": os.environ.get("HOME", str(run_dir)),
        "PULUMI_HOME": str(PULUMI_HOME),
        "PULUMI_BACKEND_URL": f"file://{run_dir / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(24),
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "KUBECONFIG": os.pathsep.join(str(path) for path in kubeconfigs),
        "PYTHONPATH": str(REPO_ROOT),
    }


def prepare_project(project: Path) -> None:
    """A project directory with copies of Pulumi.yaml and the stack files (their config, not their secrets)."""
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    shutil.copyfile(PULUMI_PROJECT, project / PULUMI_PROJECT.name)
    for stack in STACKS:
        shutil.copyfile(stack_file(stack), stack_file(stack, project))


def unprotect_procedure() -> list[str]:
    """The commands of docs/data-safety.md's procedure for replacing a protected resource, as written."""
    text = DATA_SAFETY.read_text(encoding="utf-8")
    section = text.split(UNPROTECT_HEADING, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    if block is None:
        raise DeployTestError(f"{DATA_SAFETY.name}: no sh block under {UNPROTECT_HEADING!r}")
    return [line.split("#", 1)[0].strip() for line in block[1].splitlines() if line.split("#", 1)[0].strip()]


OPERATOR = "prometheus-operator"


def run_operator(run: DeployTest, stack: str, namespace: str = "observability") -> list[str]:
    """Start the Prometheus Operator build against ``stack``'s cluster with the arguments of the stack's own
    operator Deployment (its pod there is simulated and runs nothing), as a cluster admin by client certificate,
    listening on loopback. It then makes the Prometheus and Alertmanager StatefulSets from the stack's custom
    resources, whose pods the API server admits or refuses like every other. Returns the arguments used."""
    cluster = run.clusters[stack]
    deployment = run.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{OPERATOR}", stack)
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == OPERATOR)
    args = [a for a in container.get("args", []) if not a.startswith("--web.listen-address")]
    certificate, key = cluster.client_certificate("deploy-test-operator", "system:masters")
    connection = [
        f"--apiserver={cluster.server}",
        f"--ca-file={cluster.ca_file}",
        f"--cert-file={certificate}",
        f"--key-file={key}",
        f"--web.listen-address={LOOPBACK}:{free_port()}",
    ]
    cluster.spawn(OPERATOR, [str(BIN_DIR / OPERATOR), *args, *connection])
    return args
