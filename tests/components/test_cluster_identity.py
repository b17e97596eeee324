"""Each stack names its cluster; the program refuses any other before a single change.

The refusal is tested under Pulumi mocks with a cluster whose kube-system
namespace has another UID: the program must fail with a message naming the key
and the fix, and the engine must have been handed no custom resource but the
probe provider (every other one waits for the check).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import settings as runtime_settings

from components.cluster import CLUSTER_ID_KEY, PROBE, PROVIDER, KubeconfigError, WrongClusterError, kubeconfig_file
from components.kit.volumes import SKIP_AWAIT
from components.settings.errors import SettingsError
from components.settings.loader import load_settings
from components.settings.pulumi_config import settings_from_pulumi
from program import build as build_program
from tooling.mock_runtime import PROJECT, Registered, _EchoMocks, _HeldBack, _RecordingMonitor, cluster_with_uid
from tooling.render import Render, stand_in_missing_secrets
from tooling.stack_config import read_stack_config

OTHER_CLUSTER = "0b5e4c1a-9d4e-4f7a-8c53-2f6a1d2e3b4c"
STACKS = ("dev", "staging", "prod")


def _run(stack: str, live_uid: str | None, unset_id: bool = False) -> tuple[BaseException | None, list[Registered]]:
    """The whole program under mocks against a cluster whose kube-system UID is ``live_uid``."""
    config = read_stack_config(stack)
    if unset_id:
        config.values["observability:kubernetes"] = {"context": config.values["observability:kubernetes"]["context"]}
    stand_in_missing_secrets(config)
    # CRD schemas kept off the SDK's wire path, as in the offline render (tests/tooling/test_render.py proves both paths
    # register the same): they are megabytes, and which cluster is deployed to does not depend on them.
    held_back = _HeldBack()
    monitor = _RecordingMonitor(_EchoMocks(cluster_with_uid(live_uid)), held_back)
    pulumi.runtime.set_all_config(config.engine_form(), sorted(config.secret_keys))
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=True, monitor=monitor)
    settings = settings_from_pulumi()
    failure: BaseException | None = None

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        pulumi.runtime.register_stack_transformation(held_back.transformation)
        build_program(settings)

    try:
        program()
    except Exception as error:  # the test inspects it
        failure = error
    return failure, monitor.records


def _cluster_id(stack: str) -> Any:
    return read_stack_config(stack).values["observability:kubernetes"]["clusterId"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_names_its_cluster(stack: str) -> None:
    values = read_stack_config(stack).values["observability:kubernetes"]
    assert values["context"] and values["clusterId"]
    assert len({_cluster_id(s) for s in STACKS}) == len(STACKS), "two stacks claim the same cluster"


def test_every_kubernetes_resource_uses_the_stack_s_provider(rendered: Render) -> None:
    providers = {r.name: r for r in rendered.records if r.type == "pulumi:providers:kubernetes"}
    assert set(providers) == {PROBE, PROVIDER}
    cluster = providers[PROVIDER]
    assert cluster.inputs["context"] == rendered.settings.kubernetes.context
    # pulumi-kubernetes replaces nothing on a kubeconfig change while this stays the same.
    assert cluster.inputs["clusterIdentifier"] == rendered.settings.kubernetes.cluster_id
    resources = [r for r in rendered.records if r.custom and r.type.startswith("kubernetes:")]
    assert resources
    wrong = [r.urn for r in resources if not r.provider.startswith(cluster.urn + "::")]
    assert wrong == [], "a Kubernetes resource would use the ambient default provider"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_stack_pointed_at_another_cluster_is_refused_before_any_change(stack: str) -> None:
    failure, records = _run(stack, OTHER_CLUSTER)
    assert isinstance(failure, WrongClusterError)
    message = str(failure)
    assert CLUSTER_ID_KEY in message and _cluster_id(stack) in message and OTHER_CLUSTER in message
    assert f"pulumi config set --path kubernetes.context NAME --stack {stack}" in message
    handed_over = [r for r in records if r.custom]
    assert [(r.type, r.name) for r in handed_over] == [("pulumi:providers:kubernetes", PROBE)]


def test_the_right_cluster_is_deployed_to() -> None:
    failure, records = _run("staging", _cluster_id("staging"))
    assert failure is None
    assert any(r.type == "kubernetes:apps/v1:Deployment" for r in records)


def test_a_stack_that_names_no_cluster_is_refused_with_the_command_that_names_it() -> None:
    failure, records = _run("dev", OTHER_CLUSTER, unset_id=True)
    assert isinstance(failure, WrongClusterError)
    assert f"{CLUSTER_ID_KEY} is not set" in str(failure)
    assert f"pulumi config set --path kubernetes.clusterId {OTHER_CLUSTER} --stack dev" in str(failure)
    assert [r.name for r in records if r.custom] == [PROBE]


def test_a_malformed_cluster_id_is_refused_with_its_key_and_form() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"observability:kubernetes": '{"clusterId": "prod-cluster"}'}, "prod")
    assert "observability:kubernetes.clusterId = 'prod-cluster'" in str(error.value)
    assert "kube-system" in str(error.value)


# --- readiness waits: only for control planes without nodes, never in prod ---


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def test_skipping_readiness_waits_annotates_every_object_of_the_stack(render_stack: Any) -> None:
    on = render_stack("dev", "kubernetes.skipReadinessWaits=true")
    off = render_stack("dev")
    assert on.manifests() and len(on.manifests()) == len(off.manifests())
    assert all(_annotations(o).get(SKIP_AWAIT) == "true" for o in on.manifests())
    # Off (the default), only the claims the StatefulSets' pods bind later carry it.
    assert {o["kind"] for o in off.manifests() if SKIP_AWAIT in _annotations(o)} == {"PersistentVolumeClaim"}
    # Nothing else changes: the annotation aside, every object is the same.
    assert sorted(map(_without_skip_await, on.manifests())) == sorted(map(_without_skip_await, off.manifests()))


def _without_skip_await(obj: dict[str, Any]) -> str:
    metadata = {k: v for k, v in obj["metadata"].items() if k != "annotations"}
    kept = {k: v for k, v in _annotations(obj).items() if k != SKIP_AWAIT}
    return repr({**obj, "metadata": metadata | ({"annotations": kept} if kept else {})})


def test_skipping_readiness_waits_keeps_annotations_the_object_has(render_stack: Any) -> None:
    on = render_stack("dev", "kubernetes.skipReadinessWaits=true")
    off = {(o["kind"], o["metadata"]["name"]): o for o in render_stack("dev").manifests()}
    for obj in on.manifests():
        before = _annotations(off[(obj["kind"], obj["metadata"]["name"])])
        assert before.items() <= _annotations(obj).items()


def test_skipping_readiness_waits_is_refused_in_prod_with_the_key() -> None:
    config = read_stack_config("prod")
    config.values["observability:kubernetes"] = {**config.values["observability:kubernetes"], "skipReadinessWaits": True}
    with pytest.raises(SettingsError) as refused:
        load_settings(config.values, "prod", config.secret_keys)
    message = str(refused.value)
    assert "kubernetes.skipReadinessWaits = true" in message and "accepted form: false" in message


@pytest.mark.parametrize("value", ["yes please", 2, "enabled"])
def test_skip_readiness_waits_takes_only_a_boolean(value: Any) -> None:
    config = read_stack_config("dev")
    config.values["observability:kubernetes"] = {**config.values["observability:kubernetes"], "skipReadinessWaits": value}
    with pytest.raises(SettingsError, match=r"kubernetes\.skipReadinessWaits"):
        load_settings(config.values, "dev", config.secret_keys)


# --- the providers' kubeconfig and mutability, as the real provider needs them (found by the deploy test) ---


def _kubeconfig(path: Path, *contexts: str, current: str | None = None, whole: bool = True) -> Path:
    document: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "contexts": [{"name": c, "context": {"cluster": c, "user": c}} for c in contexts]}
    if whole:
        document["clusters"] = [{"name": c, "cluster": {"server": "https://127.0.0.1:6443"}} for c in contexts]
        document["users"] = [{"name": c, "user": {"token": "not-a-real-token"}} for c in contexts]
    if current:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_a_single_kubeconfig_is_left_to_the_provider(tmp_path: Path) -> None:
    assert kubeconfig_file("prod", None) is None
    assert kubeconfig_file("prod", str(_kubeconfig(tmp_path / "one", "prod"))) is None


def test_a_kubeconfig_list_gives_the_provider_the_file_that_names_the_context(tmp_path: Path) -> None:
    first = _kubeconfig(tmp_path / "a", "dev", current="dev")
    second = _kubeconfig(tmp_path / "b", "prod", "dev")
    listed = os.pathsep.join([str(tmp_path / "missing"), str(first), str(second)])
    assert kubeconfig_file("prod", listed) == str(second)
    # The first file that names it wins, as with kubectl.
    assert kubeconfig_file("dev", listed) == str(first)
    assert kubeconfig_file(None, listed) == str(first)


def test_a_kubeconfig_list_without_the_context_is_refused_naming_the_key(tmp_path: Path) -> None:
    listed = os.pathsep.join([str(_kubeconfig(tmp_path / "a", "dev")), str(_kubeconfig(tmp_path / "b", "staging"))])
    with pytest.raises(KubeconfigError, match=r"no file of KUBECONFIG \(.*\) defines context 'prod'; set observability:kubernetes\.context"):
        kubeconfig_file("prod", listed)


def test_the_stack_s_provider_updates_config_maps_and_secrets_in_place(render_stack: Any) -> None:
    """Without these the provider replaces a ConfigMap or Secret whose data changed: a retention or a Loki
    limit planned replacements in the deploy test."""
    for stack in STACKS:
        provider = next(r for r in render_stack(stack).records if r.type == "pulumi:providers:kubernetes" and r.name == PROVIDER)
        assert provider.inputs.get("enableConfigMapMutable") == "true" and provider.inputs.get("enableSecretMutable") == "true", provider.inputs


def test_a_kubeconfig_document_in_the_variable_is_left_to_the_provider_and_never_echoed(tmp_path: Path) -> None:
    document = (_kubeconfig(tmp_path / "a", "prod")).read_text(encoding="utf-8")
    assert ":" in document and "not-a-real-token" in document
    assert kubeconfig_file("prod", document) is None


def test_a_context_without_its_cluster_and_user_in_the_same_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    split = _kubeconfig(tmp_path / "contexts", "prod", whole=False)
    credentials = _kubeconfig(tmp_path / "credentials", "other")
    refusal = r"defines context .prod. but not its cluster and user in the same file; .*kubectl config view --flatten"
    with pytest.raises(KubeconfigError, match=refusal) as refused:
        kubeconfig_file("prod", os.pathsep.join([str(split), str(credentials)]))
    assert "not-a-real-token" not in str(refused.value)
