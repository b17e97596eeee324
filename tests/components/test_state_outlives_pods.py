"""State that must outlive a pod is on a volume that outlives it (issue 22, kind 1).

Each program that keeps state across a restart names where (a flag, an environment variable, a config key);
the rendered object says what is mounted there. Every such path must be on a claim: a claim template of the
StatefulSet or a persistentVolumeClaim volume, never an emptyDir (which goes with the pod, so a rollout, a
config change or a node drain would start the program from nothing). Examples of what an emptyDir costs:
Alloy re-sends every container's whole log (grafana/alloy#876), Alertmanager forgets its silences and its
notification log (every firing alert is notified again), the Pushgateway forgets what batch jobs pushed.

Every component with pods is listed here, as stateful (with where its state is) or as stateless (with why),
so a new component must be classified before this test passes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from typing import Any

from components.wiring import endpoints
from tests.support.k8s_objects import config_flag, find, manifests, mounted_yaml
from tooling.render import Render

POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# Scratch space a program may lose at any restart (temporary files); nothing else may be an emptyDir.
SCRATCH = {"/tmp"}

# Programs that keep nothing across a restart: they read the cluster or their targets afresh.
STATELESS = {
    endpoints.OPERATOR_NAME: "reconciles from the API server's objects",
    endpoints.KUBE_STATE_METRICS_NAME: "reports the API server's objects as it lists them",
    endpoints.NODE_EXPORTER_NAME: "reads the node at each scrape",
    endpoints.BLACKBOX_EXPORTER_NAME: "probes at each scrape",
    endpoints.MONGODB_EXPORTER_NAME: "queries MongoDB at each scrape",
}


def _workload(render: Render, name: str) -> tuple[str, dict[str, Any]]:
    found = [m for m in manifests(render) if m["kind"] in POD_KINDS and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{name}: {len(found)} workloads"
    return found[0]["kind"], found[0]


def _main_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    return containers[0]


def _absolute_paths(document: Any) -> Iterator[str]:
    """Every string of a config document that is an absolute file path."""
    if isinstance(document, dict):
        for value in document.values():
            yield from _absolute_paths(value)
    elif isinstance(document, list):
        for value in document:
            yield from _absolute_paths(value)
    elif isinstance(document, str) and document.startswith("/") and "://" not in document:
        yield document


def _alloy(render: Render) -> list[str]:
    # --storage.path: every component's data, loki.source.kubernetes' positions.yml among them.
    return [config_flag(_main_container(_workload(render, endpoints.ALLOY_NAME)[1]), "--storage.path")]


def _pushgateway(render: Render) -> list[str]:
    return [posixpath.dirname(config_flag(_main_container(_workload(render, endpoints.PUSHGATEWAY_NAME)[1]), "--persistence.file"))]


def _grafana(render: Render) -> list[str]:
    # GF_PATHS_DATA holds grafana.db (users, preferences, annotations, alert state) and the plugins.
    env = _main_container(_workload(render, endpoints.GRAFANA_NAME)[1])["env"]
    return [next(e["value"] for e in env if e["name"] == "GF_PATHS_DATA")]


def _config_paths(name: str) -> Callable[[Render], list[str]]:
    def paths(render: Render) -> list[str]:
        kind, workload = _workload(render, name)
        config = mounted_yaml(render, kind, name, config_flag(_main_container(workload), "-config.file"))
        # Loki's ingester WAL, ruler and compactor directories default under common.path_prefix
        # (Loki v3.5.3 pkg/loki/config_wrapper.go applyPathPrefixDefaults), which is among these.
        found = sorted(set(_absolute_paths(config)) - {config_flag(_main_container(workload), "-config.file")})
        assert found, f"{name}: no path in its config"
        return found

    return paths


STATEFUL: dict[str, Callable[[Render], list[str]]] = {
    endpoints.ALLOY_NAME: _alloy,
    endpoints.PUSHGATEWAY_NAME: _pushgateway,
    endpoints.GRAFANA_NAME: _grafana,
    endpoints.LOKI_NAME: _config_paths(endpoints.LOKI_NAME),
    endpoints.TEMPO_NAME: _config_paths(endpoints.TEMPO_NAME),
}
# Run by the Prometheus Operator, which mounts spec.storage's claim at the program's data path
# (/prometheus: TSDB and WAL; /alertmanager: silences and notification log) and uses an emptyDir
# when spec.storage is absent.
OPERATED = {"Prometheus": endpoints.PROMETHEUS_NAME, "Alertmanager": endpoints.ALERTMANAGER_NAME}


def _claim_backed(workload: dict[str, Any], path: str) -> str:
    """The volume under ``path`` in the workload's pods: a claim, or an explanation of what it is instead."""
    spec = workload["spec"]["template"]["spec"]
    mounts = [m for m in _main_container(workload).get("volumeMounts", []) if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")]
    if not mounts:
        return f"{path} is on the container's own file system"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    templates = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
    if mount["name"] in templates:
        return "claim"
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    if "persistentVolumeClaim" in volume:
        return "claim"
    return f"{path} is on volume {mount['name']} ({', '.join(k for k in volume if k != 'name')})"


def test_every_workload_is_classified(rendered: Render) -> None:
    names = {m["metadata"]["name"] for m in manifests(rendered) if m["kind"] in POD_KINDS}
    prefixed = {n for n in names if n.startswith(f"{endpoints.MONGODB_EXPORTER_NAME}-")}
    assert names - prefixed <= set(STATEFUL) | set(STATELESS), sorted(names - prefixed - set(STATEFUL) - set(STATELESS))
    assert set(STATEFUL) <= names


def test_every_stateful_path_is_on_a_claim(rendered: Render) -> None:
    problems = []
    for name, paths in STATEFUL.items():
        _, workload = _workload(rendered, name)
        for path in paths(rendered):
            backing = _claim_backed(workload, path)
            if backing != "claim":
                problems.append(f"{name}: {backing}")
    assert not problems, problems


def test_operated_stores_have_claims(rendered: Render) -> None:
    for kind, name in OPERATED.items():
        resource = find(rendered, kind, name)
        storage = resource["spec"].get("storage", {})
        assert "emptyDir" not in storage and "volumeClaimTemplate" in storage, f"{kind} {name}: no claim for its data"
        section = getattr(rendered.settings, name)
        assert storage["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == section.storage.size


def test_nothing_but_scratch_is_on_an_emptydir(rendered: Render) -> None:
    problems = []
    for manifest in manifests(rendered):
        if manifest["kind"] not in POD_KINDS:
            continue
        spec = manifest["spec"]["template"]["spec"]
        empty = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for item in spec["containers"] + spec.get("initContainers", []):
            for mount in item.get("volumeMounts", []):
                if mount["name"] in empty and mount["mountPath"] not in SCRATCH:
                    problems.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {mount['mountPath']} on an emptyDir")
    assert not problems, problems
