"""The scenarios of the deploy test (tooling/deploy_test.py), each run against stacks already up.

Each returns ``(passed, evidence)``: ``evidence`` is what was seen (counts, the CLI's refusal line), kept in
the report's ``notes`` so a reader can judge the verdict without re-running it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from components.paths import POLICY_DIR, REPO_ROOT
from components.settings.errors import NAMESPACE
from tooling.deploy_test import DeployTest, changed, render_differences, unprotect_procedure
from tooling.go_tools import BIN_DIR
from tooling.local_cluster import STORAGE_CLASS, LocalCluster, wait_for

Verdict = tuple[bool, dict[str, Any]]

# What the update scenario changes on dev: a retention and a Loki ingestion limit.
UPDATES = {"prometheus.retention": "9d", "loki.ingestion.maxStreamsPerUser": "4321"}
# The claim the storage scenarios grow and re-class, and its new size.
GROWN_KEY, GROWN_SIZE = "loki.storage.size", "6Gi"
OTHER_CLASS = "another-class"


def _first_line(text: str | None, needle: str) -> str:
    for line in (text or "").splitlines():
        if needle in line:
            return line.strip()[:400]
    return (text or "").strip().splitlines()[-1][:400] if text else ""


def update_in_place(run: DeployTest, stack: str = "dev") -> Verdict:
    """The render's changed objects are exactly the engine's updated ones, with no create, delete or replace."""
    expected = render_differences(stack, [f"{k}={v}" for k, v in UPDATES.items()], run.project)
    for key, value in UPDATES.items():
        run.set_config(stack, key, value)
    _, preview = run.preview(stack, diff=True)
    previewed = changed(preview)
    _, applied = run.up(stack)
    ops = sorted({step.op for step in previewed})
    seen = {(str(s.kind), str(s.namespace or ""), str(s.name)) for s in previewed}
    second = changed(run.preview(stack)[1])
    evidence = {
        "render_changes": sorted("/".join(k) for k in expected),
        "preview_changes": sorted(f"{s.op} {s.kind}/{s.name}" for s in previewed),
        "applied_changes": sorted(f"{s.op} {s.kind}/{s.name}" for s in changed(applied)),
        "changes_after": len(second),
    }
    applied_as_previewed = sorted(f"{s.op} {s.urn}" for s in changed(applied)) == sorted(f"{s.op} {s.urn}" for s in previewed)
    return ops == ["update"] and seen == expected and applied_as_previewed and not second, evidence


def storage_grow(run: DeployTest, stack: str = "dev") -> Verdict:
    """A larger volume: one in-place update of the claim, and the claim on the server asks for the new size."""
    path = "/api/v1/namespaces/observability/persistentvolumeclaims/data-loki-0"
    before = run.get(path, stack)
    run.set_config(stack, GROWN_KEY, GROWN_SIZE)
    _, preview = run.preview(stack)
    previewed = changed(preview)
    _, applied = run.up(stack)
    claim = wait_for(lambda: _grown(run.get(path, stack)), 30) or run.get(path, stack)
    requested = claim["spec"]["resources"]["requests"]["storage"]
    evidence = {
        "preview_changes": sorted(f"{s.op} {s.kind}/{s.name}" for s in previewed),
        "applied_changes": sorted(f"{s.op} {s.kind}/{s.name}" for s in changed(applied)),
        "claim_request": requested,
        "claim_capacity": claim.get("status", {}).get("capacity", {}).get("storage"),
        "claim_uid_kept": claim["metadata"]["uid"] == before["metadata"]["uid"],
    }
    allowed = {("update", "PersistentVolumeClaim"), ("update", "StatefulSet")}
    ops = {(s.op, s.kind) for s in previewed} | {(s.op, s.kind) for s in changed(applied)}
    grown = requested == GROWN_SIZE and evidence["claim_capacity"] == GROWN_SIZE
    return ops <= allowed and ("update", "PersistentVolumeClaim") in ops and grown and bool(evidence["claim_uid_kept"]), evidence


# A change of Alloy's pipeline only (the sampling share is written into its config): a new config checksum,
# so new pods; each must come back on the claim that holds its log read positions (grafana/alloy#876).
ALLOY_CONFIG_CHANGE = ("tempo.sampling", "40%")
ALLOY_POD, ALLOY_CLAIM = "alloy-0", "data-alloy-0"


def alloy_keeps_its_claim(run: DeployTest, stack: str = "dev") -> Verdict:
    """A config change rolls Alloy's pod; the new pod mounts the same bound claim (same UID, same volume)."""
    pods = "/api/v1/namespaces/observability/pods"
    claim_path = f"/api/v1/namespaces/observability/persistentvolumeclaims/{ALLOY_CLAIM}"
    old_pod, old_claim = run.get(f"{pods}/{ALLOY_POD}", stack), run.get(claim_path, stack)
    key, value = ALLOY_CONFIG_CHANGE
    run.set_config(stack, key, value)
    _, applied = run.up(stack)
    run.remove_config(stack, key)

    def rolled() -> dict[str, Any] | None:
        item = run.get(f"{pods}/{ALLOY_POD}", stack)
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in item.get("status", {}).get("conditions", []))
        return item if item["metadata"]["uid"] != old_pod["metadata"]["uid"] and ready else None

    new_pod = wait_for(rolled, 60) or run.get(f"{pods}/{ALLOY_POD}", stack)
    new_claim = run.get(claim_path, stack)
    mounted = sorted(v["persistentVolumeClaim"]["claimName"] for v in new_pod["spec"]["volumes"] if "persistentVolumeClaim" in v)
    evidence = {
        "applied_changes": sorted(f"{s.op} {s.kind}/{s.name}" for s in changed(applied)),
        "pod_replaced": new_pod["metadata"]["uid"] != old_pod["metadata"]["uid"],
        "claims_mounted": mounted,
        "claim_uid_kept": new_claim["metadata"]["uid"] == old_claim["metadata"]["uid"],
        "claim_phase": new_claim.get("status", {}).get("phase"),
        "volume_kept": new_claim["spec"].get("volumeName") == old_claim["spec"].get("volumeName") and bool(old_claim["spec"].get("volumeName")),
    }
    steps = changed(applied)
    # Updates only (no claim created, replaced or deleted), Alloy's StatefulSet among them.
    in_place = {s.op for s in steps} == {"update"} and any(s.kind == "StatefulSet" and s.name == "alloy" for s in steps)
    kept = evidence["pod_replaced"] and mounted == [ALLOY_CLAIM] and evidence["claim_uid_kept"] and evidence["volume_kept"]
    return bool(in_place and kept and evidence["claim_phase"] == "Bound"), evidence


def _grown(claim: dict[str, Any]) -> dict[str, Any] | None:
    return claim if claim.get("status", {}).get("capacity", {}).get("storage") == GROWN_SIZE else None



def storage_class_refused(run: DeployTest, stack: str = "dev") -> Verdict:
    """Another storage class for an existing claim fails the preview and the update, and changes nothing."""
    before = run.get("/api/v1/namespaces/observability/persistentvolumeclaims/data-loki-0", stack)
    run.set_config(stack, "loki.storage.storageClass", OTHER_CLASS)
    preview_error = run.failure(lambda: run.preview(stack))
    up_error = run.failure(lambda: run.up(stack))
    run.remove_config(stack, "loki.storage.storageClass")
    after = run.get("/api/v1/namespaces/observability/persistentvolumeclaims/data-loki-0", stack)
    # The spec, not the resourceVersion: the test's resizer may still write the claim's status.
    unchanged = before["spec"] == after["spec"] and before["metadata"]["uid"] == after["metadata"]["uid"]
    evidence = {"refusal": _first_line(preview_error, "refusing"), "claim_unchanged": unchanged, "class": after["spec"].get("storageClassName")}
    refused = all(error is not None and f"refusing {NAMESPACE}:loki.storage.storageClass" in error for error in (preview_error, up_error))
    return refused and unchanged and after["spec"].get("storageClassName") == STORAGE_CLASS, evidence


def destroy_protected(run: DeployTest, stack: str = "prod") -> Verdict:
    """``pulumi destroy`` of prod fails on protection and deletes nothing; the documented procedure for
    replacing a protected resource, run as written, recreates one claim."""
    inventory_before = _inventory(run, stack)
    # As a user runs it: the CLI, with its preview (`--yes` only confirms). destroy needs no program, so no
    # language host either. (The Automation API's destroy passes --skip-preview: see skip_preview_destroy.)
    destroyed = run.cli("destroy", "--yes", stack=stack, check=False)
    destroy_error = None if destroyed.returncode == 0 else destroyed.stdout + destroyed.stderr
    # Deletes nothing: every object of the stack's namespaces still there, the same one (UID).
    namespace_kept = _inventory(run, stack) == inventory_before
    claim_name = "data-loki-0"
    old = run.get(f"/api/v1/namespaces/observability/persistentvolumeclaims/{claim_name}", stack)
    urn = next(
        line.split()[-1]
        for line in run.cli("stack", "--show-urns", stack=stack).stdout.splitlines()
        if ("PersistentVolumeClaim" in line and line.strip().endswith(f"::{claim_name}")) or f"PersistentVolumeClaim::{claim_name}" in line
    )
    dependents = _dependents(json.loads(run.cli("stack", "export", stack=stack).stdout), urn)
    substitutions = {
        "<urn>": urn,
        "<context>": run.clusters[stack].context,
        "<namespace>": "observability",
        "<kind>": "persistentvolumeclaim",
        "<name>": claim_name,
    }
    outputs = []
    planned: list[str] = []
    for line in unprotect_procedure():
        # A line about "each dependent" runs once per dependent of the resource.
        expanded = [line.replace("<dependent kind>", kind).replace("<dependent name>", name) for kind, name in dependents] if "<dependent" in line else [line]
        for command in expanded:
            for placeholder, value in substitutions.items():
                command = command.replace(f"'{placeholder}'", shlex.quote(value)).replace(placeholder, shlex.quote(value))
            argv = shlex.split(command.split(">", 1)[0]) if " > " in command else shlex.split(command)
            if argv[0] == "pulumi" and argv[1] == "state":
                argv.append("--yes")
            result = _shell(run, argv, command)
            outputs.append(f"{command.split(' > ')[0].strip()} -> {result.returncode}")
            if argv[:2] == ["pulumi", "preview"]:
                planned = json.loads(result.stdout or "[]")
            if result.returncode != 0:
                return False, {
                    "destroy_refusal": _first_line(destroy_error, "protected"),
                    "procedure": outputs,
                    "failed": (result.stderr or result.stdout)[-800:],
                }
    new = run.get(f"/api/v1/namespaces/observability/persistentvolumeclaims/{claim_name}", stack)
    # "a create (+) for it and each dependent, nothing else" (docs/data-safety.md)
    expected_plan = sorted([f"create PersistentVolumeClaim/{claim_name}"] + [f"create {_KINDS.get(kind, kind)}/{name}" for kind, name in dependents])
    evidence = {
        "destroy_refusal": _first_line(destroy_error, "protected"),
        "nothing_deleted_by_destroy": namespace_kept,
        "objects_checked": len(inventory_before),
        "procedure": outputs,
        "planned": planned,
        "claim_recreated": old["metadata"]["uid"] != new["metadata"]["uid"],
    }
    refused = destroy_error is not None and "because it is protected" in destroy_error
    # Kubernetes objects only: the preview also plans a step on a provider (no kind), kept as evidence.
    objects = sorted(step for step in planned if "None/None" not in step)
    evidence["provider_steps"] = sorted(step for step in planned if "None/None" in step)
    return refused and namespace_kept and objects == expected_plan and bool(evidence["claim_recreated"]), evidence


# kubectl's lower-case kinds of the dependents, as the engine names them.
_KINDS = {"statefulset": "StatefulSet", "persistentvolumeclaim": "PersistentVolumeClaim"}


def _inventory(run: DeployTest, stack: str) -> dict[str, str]:
    """kind/namespace/name -> UID of the objects of the stack's namespaces (workloads, claims, configs, services)."""
    found: dict[str, str] = {}
    for path in ("/api/v1/persistentvolumeclaims", "/api/v1/configmaps", "/api/v1/services", "/apis/apps/v1/statefulsets",
                 "/apis/apps/v1/deployments", "/apis/apps/v1/daemonsets", "/api/v1/namespaces"):  # fmt: skip
        for item in run.get(path, stack)["items"]:
            meta = item["metadata"]
            if meta.get("namespace", meta["name"]).startswith("observability"):
                found[f"{path.rsplit('/', 1)[1]}/{meta.get('namespace', '')}/{meta['name']}"] = meta["uid"]
    return found


def _dependents(state: dict[str, Any], urn: str) -> list[tuple[str, str]]:
    """(kubectl kind, name) of every Kubernetes object that depends on ``urn`` in an exported state, transitively."""
    resources = state["deployment"]["resources"]
    found: set[str] = set()
    frontier = {urn}
    while frontier:
        frontier = {r["urn"] for r in resources if set(r.get("dependencies") or []) & frontier} - found
        found |= frontier
    objects = []
    for resource in resources:
        if resource["urn"] in found and resource["type"].startswith("kubernetes:") and "metadata" in (resource.get("outputs") or {}):
            objects.append((resource["type"].rsplit(":", 1)[1].lower(), resource["outputs"]["metadata"]["name"]))
    return objects


def _shell(run: DeployTest, argv: list[str], command: str) -> subprocess.CompletedProcess[str]:
    """One command of a documented procedure: the built CLI, kubectl and the project's program, redirections kept."""
    redirect = command.split(" > ", 1)[1].strip() if " > " in command and argv[0] == "pulumi" else None
    if argv[0] == "pulumi" and "--stack" in argv and argv[1] in ("preview", "up"):
        # `pulumi preview/up` of this project: through the engine (tooling/engine.py says why).
        stack = argv[argv.index("--stack") + 1]
        preview = argv[1] == "preview"
        try:
            _, steps = run.preview(stack, diff=True) if preview else run.up(stack)
        except Exception as error:  # the CLI's own failure, reported as the command's
            return subprocess.CompletedProcess(argv, 1, "", str(error))
        return subprocess.CompletedProcess(argv, 0, json.dumps([f"{s.op} {s.kind}/{s.name}" for s in changed(steps)]), "")
    if argv[0] == "pulumi":
        result = run.cli(*argv[1:], check=False)
        if redirect:
            Path(run.project / redirect).write_text(result.stdout, encoding="utf-8")
        return result
    if argv[0] == "kubectl":
        return subprocess.run([str(BIN_DIR / "kubectl"), *argv[1:]], env=run.env, capture_output=True, text=True, check=False, timeout=120)
    raise ValueError(f"unexpected command in the documented procedure: {command}")


def wrong_cluster_refused(run: DeployTest, other: LocalCluster, stack: str = "prod") -> Verdict:
    """prod previewed and updated with its context pointing at another API server (``other``, another
    cluster with another kube-system UID): refused before any change, nothing made there."""
    own = run.clusters[stack]
    # The stack's own context name, but the other cluster's server and credentials: a stale or mistaken kubeconfig.
    wrong = own.workdir / "wrong.kubeconfig"
    wrong.write_text(other.kubeconfig.read_text(encoding="utf-8").replace(other.context, own.context), encoding="utf-8")
    wrong.chmod(0o600)
    env = {"KUBECONFIG": str(wrong)}
    preview_error = run.failure(lambda: run.preview(stack, env=env))
    up_error = run.failure(lambda: run.operate("up", stack, env))
    with other.client() as client:
        # Nothing of the stack there: no namespace of it and no CRD (the first things an update would make).
        namespaces = [n["metadata"]["name"] for n in client.get("/api/v1/namespaces").json()["items"]]
        crds = client.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions").json()["items"]
        created = any(name.startswith("observability") for name in namespaces) or bool(crds)
    evidence = {"refusal": _first_line(preview_error, "refusing to deploy"), "namespace_created_there": created, "other_uid": other.kube_system_uid()}
    refused = all(e is not None and "refusing to deploy stack" in e for e in (preview_error, up_error))
    return refused and not created, evidence


def promotion(run: DeployTest, source: str = "dev", target: str = "staging") -> Verdict:
    """``scripts.promote``: the approved preview deploys; a plan other than the approved one is refused."""
    changes = run.project / "changes.json"
    base = [sys.executable, "-m", "scripts.promote", "--source", source, "--target", target, "--skip-tests", "--project-dir", str(run.project)]
    env = {**os.environ, **run.env}

    def promote(*extra: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*base, *extra], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
        # The whole output stays with the run (build/deploy-test/run/project/promotion-*.log) for a reader.
        log = run.project / f"promotion-{len(list(run.project.glob('promotion-*.log')))}.log"
        log.write_text(f"$ {' '.join(extra)}\n{result.stdout}\n--- stderr\n{result.stderr}", encoding="utf-8")
        return result

    preview = promote("--preview", "--changes-out", str(changes))
    if preview.returncode != 0:
        return False, {"preview": preview.stderr[-1500:]}
    approved = json.loads(changes.read_text(encoding="utf-8"))
    tampered = {**approved, "create": approved.get("create", 0) + 1}
    refused = promote("--up", "--expect-changes", json.dumps(tampered))
    deployed = promote("--up", "--expect-changes", str(changes))
    evidence = {
        "approved": approved,
        "refusal": _first_line(refused.stderr, "refusing"),
        "refused_exit": refused.returncode,
        "deployed_exit": deployed.returncode,
        "deployed_tail": deployed.stdout.strip().splitlines()[-1:] if deployed.stdout else deployed.stderr[-800:],
    }
    return refused.returncode == 1 and "refusing to deploy" in refused.stderr and deployed.returncode == 0, evidence


def policy_pack_blocks(run: DeployTest, stack: str = "prod") -> Verdict:
    """The policy pack passes prod as configured and blocks it with its stateful resources unprotected."""
    packs = run.engine().policy_packs([POLICY_DIR])
    passing = run.failure(lambda: run.preview(stack, policy_packs=packs))
    run.set_config(stack, "protectStateful", "false")
    blocked = run.failure(lambda: run.preview(stack, policy_packs=packs))
    run.remove_config(stack, "protectStateful")
    evidence = {"passes_as_configured": passing is None, "violation": _first_line(blocked, "prod-stateful-protected"), "passing_error": (passing or "")[-600:]}
    return passing is None and blocked is not None and "prod-stateful-protected" in blocked, evidence


def pod_security_admitted(run: DeployTest, stack: str) -> Verdict:
    """Every Deployment, StatefulSet and DaemonSet has all its pods (created by the controllers and admitted),
    in namespaces that each enforce a Pod Security level."""
    problems: list[str] = []
    levels: dict[str, str | None] = {}
    for kind, path in (("Deployment", "deployments"), ("StatefulSet", "statefulsets"), ("DaemonSet", "daemonsets")):
        for item in run.get(f"/apis/apps/v1/{path}", stack)["items"]:
            meta, status = item["metadata"], item.get("status", {})
            namespace = meta["namespace"]
            if namespace == "kube-system":
                continue
            if namespace not in levels:
                labels = run.get(f"/api/v1/namespaces/{namespace}", stack)["metadata"].get("labels", {})
                levels[namespace] = labels.get("pod-security.kubernetes.io/enforce")
            want = status.get("desiredNumberScheduled") if kind == "DaemonSet" else item["spec"].get("replicas", 1)
            have = status.get("currentNumberScheduled") if kind == "DaemonSet" else status.get("replicas", 0)
            if want != have or not want:
                problems.append(f"{kind} {namespace}/{meta['name']}: {have} of {want} pods")
    events = run.get("/api/v1/events?fieldSelector=reason%3DFailedCreate", stack)["items"]
    problems += [f"{e['involvedObject']['kind']} {e['involvedObject']['name']}: {e['message'][:200]}" for e in events]
    unlabelled = sorted(ns for ns, level in levels.items() if not level)
    statefulsets = {i["metadata"]["name"] for i in run.get("/apis/apps/v1/namespaces/observability/statefulsets", stack)["items"]}
    operated = {"prometheus-prometheus", "alertmanager-alertmanager"} <= statefulsets
    refused = _host_pod_refused(run, stack)
    evidence = {"levels": levels, "problems": problems[:20], "namespaces_without_level": unlabelled, "operator_statefulsets": operated,
                "host_pod_refused_in_stack_namespace": refused}  # fmt: skip
    expected = {"observability": "restricted", "observability-host": "privileged"}
    # No workload (the stack not deployed), no operator-made pods, or admission not enforcing: proves nothing.
    return levels == expected and not problems and operated and refused, evidence


def _host_pod_refused(run: DeployTest, stack: str) -> bool:
    """The negative control: a pod with host networking is refused in the stack's namespace (server-side dry run)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pod-security-control", "namespace": "observability"},
        "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "example.invalid/none:1"}]},
    }
    with run.clusters[stack].client() as client:
        response = client.post("/api/v1/namespaces/observability/pods?dryRun=All", json=pod)
    return response.status_code == 403 and "violates PodSecurity" in response.text


def pr_preview(run: DeployTest, stack: str = "dev") -> Verdict:
    """``python -m scripts.pr_preview`` (``make pr-preview``): the workflow's preview, with the policy pack, from the real CLI."""
    out = run.project / "pr-preview.md"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.pr_preview", "--stack", stack, "--out", str(out), "--project-dir", str(run.project)],
        cwd=REPO_ROOT,
        env={**os.environ, **run.env},
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    body = out.read_text(encoding="utf-8") if out.exists() else ""
    seen = {marker: marker in body for marker in ("Previewing update", "observability-guardrails", "Resources:")}
    return result.returncode == 0 and all(seen.values()), {"exit": result.returncode, "seen": seen, "lines": body.count("\n")}
