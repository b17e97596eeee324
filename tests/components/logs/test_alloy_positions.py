"""Alloy resumes where it stopped reading: its storage path is on a claim each replica keeps, and each
log target belongs to one replica whatever restarts (issue 22, grafana/alloy#876).

With no saved position, loki.source.kubernetes v1.10.1 asks the API server for a container's log since
the Unix epoch (kubetail/tailer.go: positions.Get gives 0 for an unknown entry), i.e. its whole log. On an
emptyDir the positions went with every pod, and the config checksum makes every config change a new pod.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from components.logs.alloy_config import POD_NAME_ENV, SHARE_LABEL
from components.wiring import endpoints
from tests.components.kit.test_data_safety import replacing_changes
from tests.support import relabel
from tests.support.alloy_parser import Block, Call, parse, references
from tests.support.k8s_objects import container, find, manifests, mounted_file, pod
from tests.support.served import answer, program, prometheus_argv
from tooling.local_cluster import free_port
from tooling.render import Render

KIND = "StatefulSet"
NAME = endpoints.ALLOY_NAME


def _statefulset(render: Render) -> dict[str, Any]:
    return find(render, KIND, NAME)


def _relabel_rules(render: Render) -> list[Block]:
    alloy = container(render, KIND, NAME)
    blocks = parse(mounted_file(render, KIND, NAME, alloy["args"][1]))
    source = next(b for b in blocks if b.name == "loki.source.kubernetes")
    # The rules of the relabel component whose output the log source tails.
    [targets] = references(source.attributes["targets"])
    return next(b for b in blocks if targets == f"{b.name}.{b.label}.output").children("rule")


def _storage_path(render: Render) -> str:
    args: list[str] = container(render, KIND, NAME)["args"]
    return next(a.split("=", 1)[1] for a in args if a.startswith("--storage.path="))


def test_the_storage_path_is_on_each_replicas_claim(rendered: Render) -> None:
    statefulset = _statefulset(rendered)
    spec = pod(rendered, KIND, NAME)
    mount = next(m for m in container(rendered, KIND, NAME)["volumeMounts"] if m["mountPath"] == _storage_path(rendered))
    # Not a pod volume (an emptyDir goes with the pod): the StatefulSet's claim template.
    assert mount["name"] not in {v["name"] for v in spec["volumes"]}
    templates = {t["metadata"]["name"]: t for t in statefulset["spec"]["volumeClaimTemplates"]}
    assert mount["name"] in templates
    storage = rendered.settings.alloy.storage
    replicas = rendered.settings.alloy.replicas
    assert statefulset["spec"]["replicas"] == replicas
    # Each replica's claim is the stack's own (so a new size grows it in place), at the configured size.
    for ordinal in range(replicas):
        claim = find(rendered, "PersistentVolumeClaim", f"{mount['name']}-{NAME}-{ordinal}")
        assert claim["spec"]["resources"]["requests"]["storage"] == storage.size
        assert claim["spec"].get("storageClassName") == storage.storage_class
    claims = [m for m in manifests(rendered) if m["kind"] == "PersistentVolumeClaim" and m["metadata"]["name"].startswith(f"{mount['name']}-{NAME}-")]
    assert len(claims) == replicas
    assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_the_claims_and_the_statefulset_are_protected_in_prod(render_stack) -> None:
    resources = json.loads(render_stack("prod").files["resources.json"])
    alloy = [r for r in resources if r["type"] in ("kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim")
             and r["name"].split("-")[:2] in (["alloy"], ["data", "alloy"])]
    assert {r["name"] for r in alloy} == {"alloy", "data-alloy-0", "data-alloy-1", "data-alloy-2"}
    assert all(r["protect"] and r["retainOnDelete"] for r in alloy)


def test_the_storage_class_and_size_follow_the_settings(render_stack) -> None:
    render = render_stack("staging", "alloy.storage={size: 2Gi, storageClass: fast-ssd}")
    for ordinal in range(render.settings.alloy.replicas):
        claim = find(render, "PersistentVolumeClaim", f"data-{NAME}-{ordinal}")
        assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}, "storageClassName": "fast-ssd"}


def _targets(count: int) -> list[dict[str, str]]:
    """Running pods' containers as discovery.kubernetes gives them (the labels the rules read)."""
    return [
        {
            "__meta_kubernetes_namespace": f"team-{i % 7}",
            "__meta_kubernetes_pod_name": f"worker-{i}-5d8f7",
            "__meta_kubernetes_pod_container_name": container_name,
            "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": f"svc-{i % 11}",
        }
        for i in range(count)
        for container_name in ("app", "sidecar")
    ]


def _owners(render: Render, targets: list[dict[str, str]]) -> list[list[str]]:
    """For each target, the pods of the StatefulSet whose pipeline keeps it."""
    rules = _relabel_rules(render)
    env = next(e for e in container(render, KIND, NAME)["env"] if e["name"] == POD_NAME_ENV)
    assert env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    pods = [f"{NAME}-{ordinal}" for ordinal in range(_statefulset(render)["spec"]["replicas"])]
    return [[p for p in pods if relabel.apply(rules, target, {POD_NAME_ENV: p}) is not None] for target in targets]


def test_each_log_target_is_tailed_by_exactly_one_replica(rendered: Render) -> None:
    targets = _targets(300)
    owners = _owners(rendered, targets)
    assert all(len(o) == 1 for o in owners), [t for t, o in zip(targets, owners, strict=True) if len(o) != 1][:3]
    # Every replica has a share, and a pod's containers stay together.
    load = Counter(o[0] for o in owners)
    assert set(load) == {f"{NAME}-{i}" for i in range(rendered.settings.alloy.replicas)}
    assert all(count > len(targets) / rendered.settings.alloy.replicas / 2 for count in load.values()), load
    # The share is not a public label (those not starting with __), so it never changes the key of a
    # target's saved position nor a stream (kubetail/target.go publicLabels, kubetail.go entryForTarget).
    rules = _relabel_rules(rendered)
    kept = relabel.apply(rules, targets[0], {POD_NAME_ENV: owners[0][0]})
    assert kept is not None and SHARE_LABEL in kept
    assert {name for name in kept if not name.startswith("__")} == {"service"}
    by_pod: dict[str, set[str]] = {}
    for target, owner in zip(targets, owners, strict=True):
        by_pod.setdefault(target["__meta_kubernetes_pod_name"], set()).add(owner[0])
    assert all(len(o) == 1 for o in by_pod.values())


def test_a_config_change_keeps_each_target_on_its_replica_and_claim(render_stack) -> None:
    """A new config (here: another sampling share and other service labels) rolls the pods; each target
    stays with the replica that holds its position, and the claims are neither replaced nor re-created."""
    before = render_stack("prod")
    after = render_stack("prod", "tempo.sampling=20%", "alloy.serviceLabels=[app]")
    assert _statefulset(before)["spec"]["template"]["metadata"]["annotations"] != _statefulset(after)["spec"]["template"]["metadata"]["annotations"]
    targets = _targets(200)
    assert _owners(before, targets) == _owners(after, targets)
    assert not replacing_changes(before, after)


def test_a_different_replica_count_moves_targets(render_stack) -> None:
    """What the docs say re-sends: another alloy.replicas re-assigns targets (docs/logs-and-traces.md)."""
    targets = _targets(200)
    three = _owners(render_stack("prod"), targets)
    four = _owners(render_stack("prod", "alloy.replicas=4"), targets)
    moved = sum(a != b for a, b in zip(three, four, strict=True))
    assert moved > len(targets) / 2


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_replicas_are_spread_and_budgeted_like_the_other_stores(render_stack, stack: str) -> None:
    render = render_stack(stack)
    spec = pod(render, KIND, NAME)
    selector = _statefulset(render)["spec"]["selector"]["matchLabels"]
    assert spec["affinity"]["podAntiAffinity"], "replicas must be kept on different nodes"
    budget = find(render, "PodDisruptionBudget", NAME)
    assert budget["spec"]["selector"]["matchLabels"] == selector
    assert budget["spec"]["maxUnavailable"] == render.settings.availability.max_unavailable
    # The headless Service names the pods and is what the trace load balancer resolves.
    assert _statefulset(render)["spec"]["serviceName"] == f"{NAME}-headless"
    assert find(render, "Service", f"{NAME}-headless")["spec"]["selector"] == selector


def test_one_replica_keeps_every_target(render_stack) -> None:
    # The modulus follows alloy.replicas (dev: 1).
    dev = _relabel_rules(render_stack("dev"))
    hashmod = [r for r in dev if r.attributes.get("action") == "hashmod"]
    assert [r.attributes["modulus"] for r in hashmod] == [1]
    assert all(len(o) == 1 and o[0] == f"{NAME}-0" for o in _owners(render_stack("dev"), _targets(20)))



def _kept_by_prometheus(render: Render, targets: list[dict[str, str]], tmp_path: Path, expect: int) -> dict[str, set[int]]:
    """Replica pod name -> the indexes of ``targets`` the real Prometheus 3.5.0 keeps with the rendered rules.

    The rules are given to Prometheus as they are, one scrape job per replica with that replica's pod name
    for sys.env; target i is addressed 127.0.0.1:(20000 + i)."""
    rules = _relabel_rules(render)
    pods = [f"{NAME}-{ordinal}" for ordinal in range(render.settings.alloy.replicas)]

    def prometheus_rule(rule: Block, pod_name: str) -> dict[str, Any]:
        return {name: (pod_name if isinstance(value, Call) else value) for name, value in rule.attributes.items()}

    static = [{"targets": [f"127.0.0.1:{20000 + i}"], "labels": target} for i, target in enumerate(targets)]
    config = {
        "global": {"scrape_interval": "1h"},
        "scrape_configs": [
            {"job_name": pod_name, "static_configs": static, "relabel_configs": [prometheus_rule(r, pod_name) for r in rules]} for pod_name in pods
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()

    def kept_targets() -> dict[str, set[str]] | None:
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", params={"state": "active"}, timeout=2)
        response.raise_for_status()
        kept: dict[str, set[str]] = {}
        for item in response.json()["data"]["activeTargets"]:
            kept.setdefault(item["scrapePool"], set()).add(item["discoveredLabels"]["__address__"])
        return kept if sum(len(v) for v in kept.values()) >= expect else None

    with program(prometheus_argv(tmp_path, port)) as process:
        kept = answer(process, kept_targets, f"prometheus keeping {expect} targets", interval=0.3)
    return {pod_name: {int(address.rsplit(":", 1)[1]) - 20000 for address in addresses} for pod_name, addresses in kept.items()}


def test_the_relabel_model_agrees_with_the_real_prometheus(render_stack, tmp_path: Path) -> None:
    """tests/support/relabel.py against a real relabeller: Prometheus 3.5.0, whose hashmod, keep and replace
    Alloy's relabel package reproduces (internal/component/common/relabel/relabel.go)."""
    render = render_stack("prod")
    targets = _targets(60)
    kept = _kept_by_prometheus(render, targets, tmp_path, expect=len(targets))
    pods = [f"{NAME}-{ordinal}" for ordinal in range(render.settings.alloy.replicas)]
    expected = {pod_name: {i for i, o in enumerate(_owners(render, targets)) if o == [pod_name]} for pod_name in pods}
    assert kept == expected


def _pod_target(phase: str, controller: str | None, name: str, init: bool = False) -> dict[str, str]:
    target = {
        "__meta_kubernetes_namespace": "batch",
        "__meta_kubernetes_pod_name": name,
        "__meta_kubernetes_pod_container_name": "migrate" if init else "main",
        "__meta_kubernetes_pod_container_init": str(init).lower(),
        "__meta_kubernetes_pod_phase": phase,
    }
    if controller:
        target["__meta_kubernetes_pod_controller_kind"] = controller
    return target


# (target, tailed?) What Alloy v1.10.1 does with a target that stays or leaves: components/logs/alloy_config.py.
PHASE_CASES = [
    # A pod stuck in Init is Pending while its init containers run: their logs say why.
    (_pod_target("Pending", "ReplicaSet", "web-7c9d-init", init=True), True),
    (_pod_target("Pending", "Job", "migrate-29-abcde", init=True), True),
    # A Job's pod that finished: the tailer must read to the end (the last lines are the error), then stops.
    (_pod_target("Succeeded", "Job", "report-28913-x7k2p"), True),
    (_pod_target("Failed", "Job", "report-28914-q8z3n"), True),
    (_pod_target("Succeeded", None, "one-off"), True),
    # Node unreachable: dropping the target would delete its position and re-read the pod from the start.
    (_pod_target("Unknown", "ReplicaSet", "web-7c9d-unk"), True),
    (_pod_target("Running", "StatefulSet", "db-0"), True),
    # A finished pod of a controller that always restarts its containers (evicted, node shut down): left out;
    # kept, its tailer would ask for its log once a minute until the pod is deleted.
    (_pod_target("Failed", "ReplicaSet", "web-7c9d-evicted"), False),
    (_pod_target("Succeeded", "DaemonSet", "agent-shutdown"), False),
    (_pod_target("Failed", "StatefulSet", "db-1"), False),
]


def test_init_containers_and_finished_jobs_are_tailed_by_one_replica(rendered: Render) -> None:
    rules = _relabel_rules(rendered)
    pods = [f"{NAME}-{ordinal}" for ordinal in range(rendered.settings.alloy.replicas)]
    for target, tailed in PHASE_CASES:
        keepers = [p for p in pods if relabel.apply(rules, target, {POD_NAME_ENV: p}) is not None]
        assert len(keepers) == (1 if tailed else 0), (target, keepers)


def test_the_phase_rules_agree_with_the_real_prometheus(render_stack, tmp_path: Path) -> None:
    render = render_stack("prod")
    targets = [target for target, _ in PHASE_CASES]
    kept = _kept_by_prometheus(render, targets, tmp_path, expect=sum(tailed for _, tailed in PHASE_CASES))
    assert sorted(i for indexes in kept.values() for i in indexes) == [i for i, (_, tailed) in enumerate(PHASE_CASES) if tailed]
