"""The real engine's cost against kubectl's (``make bench``): per stack, on one local API server, in one run.

On a fresh control plane (tooling/local_cluster.py) the stack is deployed twice over, in this order:

1. ``kubectl apply --server-side`` of the stack's offline render, for real: its CRDs and namespaces first (a
   custom resource cannot be applied before its CRD is established, nor an object before its namespace), then
   everything else;
2. ``kubectl apply --server-side --dry-run=server`` of the whole render: the server-side dry run of
   objects that exist, which is what a no-change ``pulumi preview`` asks the API server for;
3. every object kubectl made is deleted (the namespace with it; the controller manager finishes it);
4. ``pulumi up`` of the stack, fresh, through the real CLI and provider (tooling/deploy_test.py);
5. ``pulumi preview``: no change.

Each figure is wall time of the whole command. ``preview_vs_dry_run`` is (5) / (2); ``up_vs_apply`` is (4) / (1).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass

from tooling.deploy_test import RUN_DIR, DeployTest, environment, prepare_project
from tooling.go_tools import BIN_DIR, PLUGIN_DIR, require
from tooling.local_cluster import LocalCluster

BENCH_DIR = RUN_DIR.parent / "bench"


@dataclass(frozen=True)
class EngineTiming:
    """Seconds of each step for one stack; objects = the render's manifests."""

    stack: str
    objects: int
    kubectl_apply: float
    kubectl_dry_run: float
    pulumi_up: float
    pulumi_preview: float

    @property
    def preview_vs_dry_run(self) -> float:
        return self.pulumi_preview / self.kubectl_dry_run

    @property
    def up_vs_apply(self) -> float:
        return self.pulumi_up / self.kubectl_apply


def _kubectl(cluster: LocalCluster, env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    argv = [str(BIN_DIR / "kubectl"), "--context", cluster.context, *args]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"`kubectl {' '.join(args)}` failed: {result.stderr[-1200:]}")
    return time.monotonic() - started


def _wait_gone(cluster: LocalCluster, namespace: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    with cluster.client() as client:
        while client.get(f"/api/v1/namespaces/{namespace}").status_code != 404:
            if time.monotonic() > deadline:
                raise RuntimeError(f"namespace {namespace} still there after {timeout:.0f} s")
            time.sleep(1)


def engine_timing(stack: str) -> EngineTiming:
    """The five steps of this module's docstring for ``stack`` on a fresh control plane."""
    from tooling.render import render, write
    from tooling.stack_config import read_stack_config

    require("pulumi", "kubectl", "kube-apiserver", "kwok")
    require("pulumi-resource-kubernetes", bin_dir=PLUGIN_DIR)
    work = BENCH_DIR / stack
    shutil.rmtree(work, ignore_errors=True)
    with LocalCluster.start(work / "cluster", context=f"bench-{stack}") as cluster:
        project = work / "project"
        prepare_project(project)
        env = environment(work, [cluster.kubeconfig])
        run = DeployTest(clusters={stack: cluster}, project=project, env=env)
        run.configure(stack, cluster.kube_system_uid(), cluster.context)
        rendered = render(read_stack_config(stack, project))
        out = work / "render"
        write(rendered, out)
        manifests = out / "manifests"
        # The render holds a placeholder, not a map, where a Secret's data goes: those stay out of kubectl's share.
        for secret in manifests.glob("secret_*.yaml"):
            secret.unlink()
        crds = work / "crds"
        crds.mkdir()
        # CRDs and namespaces first: kubectl applies files in name order, and a custom resource needs its CRD
        # established, a namespaced object its namespace.
        for path in [*manifests.glob("customresourcedefinition_*.yaml"), *manifests.glob("namespace_*.yaml")]:
            shutil.move(str(path), crds / path.name)
        apply = ["apply", "--server-side", "--field-manager", "bench"]
        kubectl_apply = _kubectl(cluster, env, *apply, "-f", str(crds))
        kubectl_apply += _kubectl(cluster, env, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
        kubectl_apply += _kubectl(cluster, env, *apply, "-R", "-f", str(manifests))
        for path in crds.iterdir():
            shutil.move(str(path), manifests / path.name)
        dry_run = _kubectl(cluster, env, *apply, "--dry-run=server", "-R", "-f", str(manifests))
        namespace = next(str(o["metadata"]["name"]) for o in rendered.manifests() if o["kind"] == "Namespace")
        _kubectl(cluster, env, "delete", "--wait=false", "--ignore-not-found", "-R", "-f", str(manifests))
        _wait_gone(cluster, namespace)
        # The CRDs too (their objects go first): `pulumi up` would otherwise meet them terminating.
        _kubectl(cluster, env, "wait", "--for=delete", "crd", "--all", "--timeout=300s")
        up, _ = run.up(stack)
        preview, _ = run.preview(stack)
    return EngineTiming(stack, len(rendered.manifests()), kubectl_apply, dry_run, up, preview)


