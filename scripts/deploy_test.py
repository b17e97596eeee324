"""Deploy dev, staging and prod with the real Pulumi CLI and provider to local API servers, and try what a
platform team relies on (``make deploy-test``; tooling/deploy_test.py lists the scenarios).

    python -m scripts.deploy_test [--stacks-only] [--keep]

Needs ``make tools``. Writes build/deploy-test/report.json; exits 1 when a stack or a scenario fails, 2
when a tool is missing or a step the test needs could not run. Every process it starts ends with it.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from components.paths import BUILD_DIR
from tooling import deploy_scenarios as scenarios
from tooling.deploy_test import OPERATOR, REPORT, RUN_DIR, STACKS, DeployTest, DeployTestError, changed, environment, prepare_project, run_operator
from tooling.go_tools import BIN_DIR, PLUGIN_DIR, ToolBuildError, require
from tooling.local_cluster import ClusterStartError, LocalCluster, wait_for

TOOLS = (
    "pulumi",
    "kine",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
    "prometheus-operator",
)
# Seconds the operator may take to make the Prometheus and Alertmanager StatefulSets and their pods to get ready.
OPERATOR_TIMEOUT = 180.0
# Deployed by the CLI directly; staging is deployed by the promotion from dev (scenario "promotion").
DIRECT = ("dev", "prod")


def deploy(run: DeployTest, stack: str) -> dict[str, Any]:
    """``pulumi up`` of ``stack``, the operator started on its resources, then ``pulumi preview --expect-no-changes``:
    the stack's report entry."""
    entry: dict[str, Any] = {"up": False}
    try:
        seconds, steps = run.up(stack)
        entry |= {"up": True, "up_seconds": round(seconds, 1), "resources": len(steps), "created": sum(s.op == "create" for s in steps)}
    except Exception as error:  # the CLI's failure: kept in the report, the run goes on
        entry["error"] = str(error)[-4000:]
        return entry
    entry |= operated(run, stack)
    return entry | second_preview(run, stack)


def operated(run: DeployTest, stack: str) -> dict[str, Any]:
    """The real operator on the stack's custom resources: the StatefulSets it made, once their pods are ready."""
    run_operator(run, stack)
    wanted = {"prometheus-prometheus", "alertmanager-alertmanager"}

    def ready() -> dict[str, str]:
        items = run.get("/apis/apps/v1/namespaces/observability/statefulsets", stack)["items"]
        return {
            i["metadata"]["name"]: f"{i.get('status', {}).get('readyReplicas', 0)}/{i['spec'].get('replicas')}"
            for i in items
            if i["metadata"]["name"] in wanted
        }

    def all_ready() -> dict[str, str] | None:
        found = ready()
        return found if set(found) == wanted and all(v.split("/")[0] == v.split("/")[1] for v in found.values()) else None

    done = wait_for(all_ready, OPERATOR_TIMEOUT, interval=2)
    return {"operator_statefulsets": done or ready(), "operator_log_tail": "" if done else run.clusters[stack].log_tail(OPERATOR, 3)}


def second_preview(run: DeployTest, stack: str) -> dict[str, Any]:
    try:
        seconds, steps = run.preview(stack, expect_no_changes=True)
    except Exception as error:
        return {"changes_after_up": None, "second_preview_error": str(error)[-4000:]}
    pending = changed(steps)
    return {"changes_after_up": len(pending), "second_preview_seconds": round(seconds, 1), "pending": [f"{s.op} {s.urn}" for s in pending][:20]}


def kubectl_dry_run(run: DeployTest, stack: str) -> float:
    """Seconds of ``kubectl apply --server-side --dry-run=server`` of the stack's offline render, on its cluster."""
    from tooling.render import render, write
    from tooling.stack_config import read_stack_config

    out = RUN_DIR / f"render-{stack}"
    shutil.rmtree(out, ignore_errors=True)
    write(render(read_stack_config(stack, run.project)), out)
    # The render holds a placeholder, not a map, where a Secret's data goes: those stay out of kubectl's share.
    for secret in (out / "manifests").glob("secret_*.yaml"):
        secret.unlink()
    argv = [
        str(BIN_DIR / "kubectl"),
        "--context",
        run.clusters[stack].context,
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "--field-manager",
        "deploy-test",
        "-R",
        "-f",
        str(out / "manifests"),
    ]
    started = time.monotonic()
    result = subprocess.run(argv, env=run.env, capture_output=True, text=True, check=False, timeout=600)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise DeployTestError(f"kubectl server-side dry run failed:\n{result.stderr[-1500:]}")
    return seconds


def scenario(run: DeployTest, name: str, check: Callable[[], tuple[bool, dict[str, Any]]]) -> None:
    run.log(f"scenario {name}")
    started = time.monotonic()
    try:
        passed, evidence = check()
    except Exception as error:
        passed, evidence = False, {"error": f"{type(error).__name__}: {error}"[-3000:], "where": traceback.format_exc(limit=3)[-1500:]}
    run.report["scenarios"][name] = passed
    run.report["notes"][name] = evidence | {"seconds": round(time.monotonic() - started, 1)}
    run.log(f"scenario {name}: {'passed' if passed else 'FAILED'}")


def _terminated(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.deploy_test", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks-only", action="store_true", help="deploy the stacks and check the second preview; skip the scenarios")
    parser.add_argument("--keep", action="store_true", help="keep build/deploy-test/run (state, logs, kubeconfigs) after the run")
    args = parser.parse_args(argv)
    try:
        require(*TOOLS)
        require("pulumi-resource-kubernetes", bin_dir=PLUGIN_DIR)
    except ToolBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    # A terminated run (a CI timeout) still stops its clusters: SIGTERM unwinds through the finally below.
    signal.signal(signal.SIGTERM, _terminated)
    clusters: dict[str, LocalCluster] = {}
    started = time.monotonic()
    try:
        for stack in (*STACKS, "other"):
            clusters[stack] = LocalCluster.start(RUN_DIR / f"cluster-{stack}", context=f"deploy-test-{stack}", nodes=stack != "other")
        project = RUN_DIR / "project"
        prepare_project(project)
        env = environment(RUN_DIR, [clusters[s].kubeconfig for s in STACKS])
        run = DeployTest(clusters={s: clusters[s] for s in STACKS}, project=project, env=env)
        for stack in STACKS:
            run.configure(stack, clusters[stack].kube_system_uid(), clusters[stack].context)
        for stack in STACKS if args.stacks_only else DIRECT:
            run.log(f"pulumi up {stack}")
            run.report["stacks"][stack] = deploy(run, stack)
            run.log(f"{stack}: {json.dumps({k: v for k, v in run.report['stacks'][stack].items() if k not in ('error', 'pending')})}")
        if not args.stacks_only:
            scenario(run, "promotion", lambda: scenarios.promotion(run))
        if not args.stacks_only:
            staging: dict[str, Any] = {"up": run.report["scenarios"].get("promotion", False), "via": "scripts.promote"}
            if staging["up"]:
                staging |= operated(run, "staging")
            run.report["stacks"]["staging"] = staging | second_preview(run, "staging")
        if not args.stacks_only:
            for stack in STACKS:
                scenario(run, f"pod_security_admitted[{stack}]", functools.partial(scenarios.pod_security_admitted, run, stack))
            run.report["scenarios"]["pod_security_admitted"] = all(run.report["scenarios"].pop(f"pod_security_admitted[{s}]") for s in STACKS)
            scenario(run, "update_in_place", lambda: scenarios.update_in_place(run))
            scenario(run, "storage_grow", lambda: scenarios.storage_grow(run))
            scenario(run, "storage_class_refused", lambda: scenarios.storage_class_refused(run))
            scenario(run, "alloy_keeps_its_claim", lambda: scenarios.alloy_keeps_its_claim(run))
            scenario(run, "wrong_cluster_refused", lambda: scenarios.wrong_cluster_refused(run, clusters["other"]))
            scenario(run, "policy_pack_blocks", lambda: scenarios.policy_pack_blocks(run))
            scenario(run, "pr_preview", lambda: scenarios.pr_preview(run))
            scenario(run, "destroy_protected", lambda: scenarios.destroy_protected(run))
            try:
                preview_seconds, _ = run.preview("prod")
                dry_run_seconds = kubectl_dry_run(run, "prod")
                run.report["timings"] |= {
                    "prod_preview_seconds": round(preview_seconds, 2),
                    "prod_kubectl_server_dry_run_seconds": round(dry_run_seconds, 2),
                    "prod_preview_vs_kubectl_dry_run": round(preview_seconds / dry_run_seconds, 2),
                }
            except Exception as error:
                run.report["timings"]["error"] = str(error)[-2000:]
        run.report["timings"]["total_seconds"] = round(time.monotonic() - started, 1)
        report = run.report
    except (ClusterStartError, DeployTestError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        for cluster in clusters.values():
            cluster.stop()
        if not args.keep:
            # The logs stay for a reader; the state, the SQLite stores and every key and token go with the run.
            shutil.rmtree(RUN_DIR / "state", ignore_errors=True)
            for secret in (*RUN_DIR.glob("*/*.key"), *RUN_DIR.glob("*/tokens.csv"), *RUN_DIR.glob("*/*kubeconfig"), *RUN_DIR.glob("*/state.db*")):
                secret.unlink(missing_ok=True)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    failed = [s for s, entry in report["stacks"].items() if not entry.get("up") or entry.get("changes_after_up") != 0]
    failed += [name for name, passed in report["scenarios"].items() if not passed]
    print(f"deploy test: {'FAILED: ' + ', '.join(failed) if failed else 'every stack and scenario passed'} ({REPORT.relative_to(BUILD_DIR.parent)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
