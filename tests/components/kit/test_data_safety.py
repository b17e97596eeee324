"""Data safety: prod's stateful resources are protected, and a larger volume grows in place.

"In place" is judged the way `pulumi preview` would: the same URNs before and
after, and no changed input under a field that makes the Kubernetes provider
replace the object (its force-new fields), unless the resource ignores that
field's changes.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from components import paths
from components.kit.volumes import CLAIM_CLASS, STORAGE_CLASS_PROCEDURE, StorageClassChangeError, statefulset_claim_name, storage_class_problem
from components.metrics import prometheus
from components.settings import Settings
from components.settings.types import Storage
from tooling.mock_runtime import run_program_with_outputs
from tooling.render import Render, stand_in_missing_secrets
from tooling.stack_config import apply_overrides, read_stack_config

ROOT = paths.REPO_ROOT

STATEFUL_KINDS = {
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:monitoring.coreos.com/v1:Prometheus",
    "kubernetes:monitoring.coreos.com/v1:Alertmanager",
    "kubernetes:core/v1:Namespace",
}

# pulumi-kubernetes' force-new fields (provider/pkg/provider/diff.go) for the kinds this stack
# makes; a PVC's storage request is not among them (pulumi-kubernetes#1705).
FORCE_NEW: dict[str, tuple[str, ...]] = {
    "*": ("metadata.name", "metadata.namespace"),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"),
    "kubernetes:apps/v1:StatefulSet": (
        "spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.selector", "spec.serviceName", "spec.volumeClaimTemplates",
    ),
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
    "kubernetes:batch/v1:Job": ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
}
# The operator deletes and recreates its StatefulSet (all replicas at once) when the
# volume claim template changes: for these custom resources spec.storage is as good as force-new.
OPERATOR_RECREATES = ("spec.storage",)
OPERATOR_KINDS = {"kubernetes:monitoring.coreos.com/v1:Prometheus", "kubernetes:monitoring.coreos.com/v1:Alertmanager"}


def _storage_sections(settings: Settings) -> list[str]:
    return [name for name in type(settings).model_fields if isinstance(getattr(getattr(settings, name), "storage", None), Storage)]


def _alias(settings: Settings, section: str) -> str:
    return type(settings).model_fields[section].alias or section


def _grown(size: str) -> str:
    # Twice the size, in Gi, so the new request differs from every other size in the stack.
    settings_bytes = Storage(size=size).size_bytes
    return f"{int(settings_bytes * 2 / Decimal(1024**3)) + 1}Gi"


def _changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        paths = []
        for key in sorted(set(old) | set(new)):
            paths += _changed_paths(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return paths
    return [] if old == new else [path]


def _covered(path: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    return any(path == prefix or path.startswith(prefix + ".") for prefix in prefixes)


def replacing_changes(before: Render, after: Render) -> list[str]:
    """Changes that `pulumi up` would carry out by replacing (or the operator by recreating) an object."""
    old = {r.urn: r for r in before.records}
    new = {r.urn: r for r in after.records}
    problems = [f"{urn} would be deleted" for urn in sorted(set(old) - set(new))]
    for urn in sorted(set(old) & set(new)):
        record = new[urn]
        force_new = FORCE_NEW["*"] + FORCE_NEW.get(record.type, ()) + (OPERATOR_RECREATES if record.type in OPERATOR_KINDS else ())
        force_new += tuple(record.replace_on_changes)
        for path in _changed_paths(old[urn].inputs, record.inputs):
            if _covered(path, force_new) and not _covered(path, record.ignore_changes):
                problems.append(f"{urn}: {path} changed")
    return problems


def test_every_stateful_resource_of_prod_is_protected_in_resources_json(render_stack) -> None:
    resources = json.loads(render_stack("prod").files["resources.json"])
    stateful = [r for r in resources if r["type"] in STATEFUL_KINDS]
    assert any(r["type"] == "kubernetes:core/v1:PersistentVolumeClaim" for r in stateful)
    unprotected = [r["urn"] for r in stateful if not (r["protect"] and r["retainOnDelete"])]
    assert not unprotected


def test_dev_leaves_its_resources_deletable(render_stack) -> None:
    resources = json.loads(render_stack("dev").files["resources.json"])
    # CRDs are the exception: they stay in the cluster whenever the stack lets go of them (test_prometheus).
    kept = [r["urn"] for r in resources if (r["protect"] or r["retainOnDelete"]) and not r["type"].endswith(":CustomResourceDefinition")]
    assert not kept


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_larger_volume_grows_in_place(render_stack, stack: str) -> None:
    before = render_stack(stack)
    sections = _storage_sections(before.settings)
    assert {"prometheus", "alertmanager", "pushgateway", "loki", "tempo", "grafana"} <= set(sections)
    overrides = [f"{_alias(before.settings, s)}.storage.size={_grown(getattr(before.settings, s).storage.size)}" for s in sections]
    after = render_stack(stack, *overrides)
    assert not replacing_changes(before, after)
    # The new sizes reach the cluster: each one is in some object's spec.
    for section in sections:
        size = _grown(getattr(before.settings, section).storage.size)
        assert any(size in text for path, text in after.files.items() if path.startswith("manifests/")), section


def test_the_check_catches_a_replacing_change(render_stack) -> None:
    before = render_stack("prod")
    after = render_stack("prod", "pushgateway.storage.storageClass=fast-ssd")
    # The claims ignore a class change (it is refused instead, below); without that it would replace them.
    assert not replacing_changes(before, after)
    unguarded = copy.copy(after)
    unguarded.records = [dataclasses.replace(r, ignore_changes=()) for r in after.records]
    assert any("spec.storageClassName" in problem for problem in replacing_changes(before, unguarded))


CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_claim_keeps_its_class_and_reports_it(render_stack, stack: str) -> None:
    render = render_stack(stack)
    claims = [r for r in render.records if r.type == CLAIM]
    assert {c.name.split("-")[0] for c in claims} >= {"prometheus", "alertmanager", "pushgateway", "data", "grafana"}
    assert [c.name for c in claims if CLAIM_CLASS not in c.ignore_changes] == []
    assert {f"storageClass/{c.name}" for c in claims} <= set(render.outputs)


def test_a_storage_class_change_is_refused_with_the_key_and_the_procedure() -> None:
    config = read_stack_config("prod")
    apply_overrides(config, ["prometheus.storage.storageClass=fast-ssd"])
    stand_in_missing_secrets(config)
    # The claims exist with the cluster's default class; with the change ignored, the claim keeps it.
    claim = statefulset_claim_name(prometheus.VOLUME, prometheus.STATEFULSET, 0)
    live = {(CLAIM, claim): {"spec": {"storageClassName": "standard"}}}
    with pytest.raises(StorageClassChangeError) as error:
        run_program_with_outputs("prod", config.engine_form(), config.secret_keys, live=live)
    message = str(error.value)
    assert "observability:prometheus.storage.storageClass = 'fast-ssd'" in message
    assert f"the claim {claim} exists with storage class 'standard'" in message
    assert STORAGE_CLASS_PROCEDURE in message
    doc, anchor = STORAGE_CLASS_PROCEDURE.split("#")
    headings = re.findall(r"^#+ (.+)$", (ROOT / doc).read_text(encoding="utf-8"), flags=re.M)
    assert anchor in {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_the_same_or_no_class_is_not_refused() -> None:
    key = "observability:loki.storage.storageClass"
    assert storage_class_problem(key, "data-loki-0", "standard", "standard") is None
    assert storage_class_problem(key, "data-loki-0", None, "standard") is None  # unset: the claim keeps its class
    assert storage_class_problem(key, "data-loki-0", "fast", None) is None  # a claim being created
    assert key in (storage_class_problem(key, "data-loki-0", "fast", "standard") or "")
