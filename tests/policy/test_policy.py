"""Every policy of the CrossGuard pack rejects a bad resource and accepts a good one.

The tests go through the policies' own validators (pulumi_policy's
ResourceValidationPolicy.validate / StackValidationPolicy.validate) with the
arguments the CLI would pass, plus one test that runs the pack as the CLI does
and speaks the analyzer gRPC protocol to it.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2  # type: ignore[import-untyped, unused-ignore]  # stubs: types-protobuf, not pinned
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components import paths
from policy import checks
from policy.policies import POLICIES
from tests.support.pulumi_cli_model import CLEAN_PATH, policy_pack_command
from tooling.mock_runtime import is_secret
from tooling.render import Render

ROOT = paths.REPO_ROOT
IMAGE = "quay.io/prometheus/prometheus:v3.5.0"


def urn(stack: str, type_: str, name: str = "r") -> str:
    return f"urn:pulumi:{stack}::observability::{type_}::{name}"


def opts(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def collector(found: list[str]) -> Callable[[str, str | None], None]:
    def report_violation(message: str, urn: str | None = None) -> None:
        found.append(message)

    return report_violation


def violations(
    policy_name: str,
    type_: str,
    props: Mapping[str, Any],
    *,
    stack: str = "dev",
    protect: bool = False,
    config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Run one named resource policy's validator the way the analyzer does."""
    policy = next(p for p in POLICIES if p.name == policy_name)
    assert isinstance(policy, ResourceValidationPolicy)
    found: list[str] = []
    args = ResourceValidationArgs(type_, props, urn(stack, type_), "r", opts(protect), None, config or {})
    policy.validate(args, collector(found))
    return found


def stack_violations(policy_name: str, resources: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    policy = next(p for p in POLICIES if p.name == policy_name)
    assert isinstance(policy, StackValidationPolicy)
    found: list[str] = []
    policy_resources = [
        PolicyResource(t, p, urn("dev", t, f"r{i}"), f"r{i}", opts(), None, None, [], {})
        for i, (t, p) in enumerate(resources)
    ]
    policy.validate(StackValidationArgs(policy_resources), collector(found))
    return found


def container(**overrides: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": "app",
        "image": IMAGE,
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": 9090}},
        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": 9090}},
    }
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not None}


def workload(kind: str = "Deployment", *containers: dict[str, Any], init: list[Any] | None = None) -> tuple[str, dict[str, Any]]:
    pod: dict[str, Any] = {"containers": list(containers) or [container()]}
    if init is not None:
        pod["initContainers"] = init
    return f"kubernetes:apps/v1:{kind}", {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "x"},
        "spec": {"template": {"spec": pod}},
    }


def prometheus_cr(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "retention": "7d",
        "resources": {"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
    }
    base.update(spec)
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "spec": {k: v for k, v in base.items() if v is not None}}


def config_map(data: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": dict(data)}


LOKI_GOOD = {
    "auth_enabled": False,
    "schema_config": {"configs": [{"from": "2024-01-01", "store": "tsdb", "schema": "v13"}]},
    "limits_config": {"retention_period": "72h"},
    "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
}
TEMPO_GOOD = {
    "storage": {"trace": {"backend": "local", "local": {"path": "/var/tempo/traces"}}},
    "compactor": {"compaction": {"block_retention": "72h"}},
}


def without(doc: Mapping[str, Any], *path: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(doc))
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


# --- every policy is exercised ----------------------------------------------


def test_each_policy_is_covered_here() -> None:
    covered = {
        "container-resource-limits",
        "container-probes",
        "image-pinned",
        "prometheus-retention",
        "loki-retention",
        "tempo-retention",
        "retention-config-present",
        "no-credentials-in-configmaps",
        "prod-stateful-protected",
    }
    assert {p.name for p in POLICIES} == covered


# --- limits -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_limits_accept_a_container_with_limits(kind: str) -> None:
    assert violations("container-resource-limits", *workload(kind)) == []


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_limits_reject_a_container_without_a_memory_limit(kind: str) -> None:
    bad = container(resources={"limits": {"cpu": "1"}})
    found = violations("container-resource-limits", *workload(kind, bad))
    assert found == ["container 'app' has no memory limit (resources.limits)"]


def test_limits_reject_an_init_container_without_limits() -> None:
    init = [{"name": "chown", "image": "busybox:1.37.0"}]
    found = violations("container-resource-limits", *workload("StatefulSet", container(), init=init))
    assert found == ["init container 'chown' has no cpu or memory limit (resources.limits)"]


def test_limits_on_prometheus_cr_spec_and_sidecars() -> None:
    t = checks.PROMETHEUS
    assert violations("container-resource-limits", t, prometheus_cr()) == []
    found = violations("container-resource-limits", t, prometheus_cr(resources={"requests": {"cpu": "1"}}))
    assert found == ["Prometheus spec.resources.limits lacks cpu, memory"]
    # A sidecar the CR adds needs limits; a patch of the operator's own container does not.
    sidecar = {"name": "oauth-proxy", "image": "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0"}
    patch = {"name": "prometheus", "args": ["--log.level=debug"]}
    found = violations("container-resource-limits", t, prometheus_cr(containers=[patch, sidecar]))
    assert found == ["container 'oauth-proxy' has no cpu or memory limit (resources.limits)"]


def test_limits_on_alertmanager_cr() -> None:
    t = checks.ALERTMANAGER
    good = {"kind": "Alertmanager", "spec": {"resources": {"limits": {"cpu": "200m", "memory": "256Mi"}}}}
    assert violations("container-resource-limits", t, good) == []
    assert violations("container-resource-limits", t, {"kind": "Alertmanager", "spec": {}}) == [
        "Alertmanager spec.resources.limits lacks cpu, memory"
    ]


# --- probes -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_probes_accept_liveness_and_readiness(kind: str) -> None:
    assert violations("container-probes", *workload(kind)) == []


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_probes_reject_a_container_without_readiness(kind: str) -> None:
    found = violations("container-probes", *workload(kind, container(readinessProbe=None)))
    assert found == ["container 'app' has no readinessProbe"]


def test_probes_not_required_on_init_containers_or_operator_patches() -> None:
    init = [container(name="init", livenessProbe=None, readinessProbe=None)]
    assert violations("container-probes", *workload("Deployment", container(), init=init)) == []
    patch = {"name": "config-reloader", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}
    assert violations("container-probes", checks.PROMETHEUS, prometheus_cr(containers=[patch])) == []


def test_probes_reject_a_cr_sidecar_without_probes() -> None:
    sidecar = container(name="proxy", livenessProbe=None, readinessProbe=None)
    found = violations("container-probes", checks.ALERTMANAGER, {"spec": {"containers": [sidecar]}})
    assert found == ["container 'proxy' has no livenessProbe or readinessProbe"]


# --- images -----------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "quay.io/prometheus/prometheus:v3.5.0",
        "registry.local:5000/loki:3.5.1",
        "grafana/tempo@sha256:" + "a" * 64,
        "grafana/alloy:v1.10.0@sha256:" + "b" * 64,
    ],
)
def test_images_accept_a_version_tag_or_digest(image: str) -> None:
    assert violations("image-pinned", *workload("Deployment", container(image=image))) == []


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("grafana/grafana", "has no tag (resolves to latest)"),
        ("registry.local:5000/loki", "has no tag (resolves to latest)"),
        ("grafana/grafana:latest", "uses the 'latest' tag"),
    ],
)
def test_images_reject_untagged_and_latest(image: str, why: str) -> None:
    found = violations("image-pinned", *workload("DaemonSet", container(image=image)))
    assert found == [f"container 'app' image '{image}' {why}; pin a version tag or digest"]


def test_images_checked_on_init_containers_and_cr_spec_image() -> None:
    init = [container(name="init", image="busybox")]
    assert len(violations("image-pinned", *workload("StatefulSet", container(), init=init))) == 1
    found = violations("image-pinned", checks.PROMETHEUS, prometheus_cr(image="quay.io/prometheus/prometheus:latest"))
    assert found == ["spec.image image 'quay.io/prometheus/prometheus:latest' uses the 'latest' tag; pin a version tag or digest"]
    assert violations("image-pinned", checks.PROMETHEUS, prometheus_cr(image=IMAGE)) == []


# --- retention --------------------------------------------------------------


def test_prometheus_retention() -> None:
    assert violations("prometheus-retention", checks.PROMETHEUS, prometheus_cr()) == []
    assert violations("prometheus-retention", checks.PROMETHEUS, prometheus_cr(retention=None)) == [
        "Prometheus spec.retention is not set (the operator would keep 24h)"
    ]


def test_loki_retention_in_a_configmap() -> None:
    good = config_map({"config.yaml": yaml.safe_dump(LOKI_GOOD)})
    assert violations("loki-retention", checks.CONFIG_MAP, good) == []
    no_period = config_map({"config.yaml": yaml.safe_dump(without(LOKI_GOOD, "limits_config", "retention_period"))})
    assert violations("loki-retention", checks.CONFIG_MAP, no_period) == [
        "Loki config 'config.yaml' has no limits_config.retention_period (0 keeps logs forever)"
    ]
    not_enabled = config_map({"config.yaml": yaml.safe_dump(without(LOKI_GOOD, "compactor", "retention_enabled"))})
    assert len(violations("loki-retention", checks.CONFIG_MAP, not_enabled)) == 1


def test_loki_retention_in_a_secret() -> None:
    encoded = base64.b64encode(yaml.safe_dump(LOKI_GOOD).encode()).decode()
    assert violations("loki-retention", checks.SECRET, {"kind": "Secret", "data": {"loki.yaml": encoded}}) == []
    zero = dict(LOKI_GOOD, limits_config={"retention_period": "0s"})
    found = violations("loki-retention", checks.SECRET, {"kind": "Secret", "stringData": {"loki.yaml": yaml.safe_dump(zero)}})
    assert found == ["Loki config 'loki.yaml' has no limits_config.retention_period (0 keeps logs forever)"]


def test_tempo_retention() -> None:
    good = config_map({"tempo.yaml": yaml.safe_dump(TEMPO_GOOD)})
    assert violations("tempo-retention", checks.CONFIG_MAP, good) == []
    bad = config_map({"tempo.yaml": yaml.safe_dump(without(TEMPO_GOOD, "compactor"))})
    assert violations("tempo-retention", checks.CONFIG_MAP, bad) == [
        "Tempo config 'tempo.yaml' has no compactor.compaction.block_retention"
    ]


def test_retention_config_must_exist_for_a_running_loki_or_tempo() -> None:
    loki = workload("StatefulSet", container(name="loki", image="grafana/loki:3.5.1"))
    tempo = workload("StatefulSet", container(name="tempo", image="grafana/tempo:2.8.1"))
    configs = [
        (checks.CONFIG_MAP, config_map({"loki.yaml": yaml.safe_dump(LOKI_GOOD)})),
        (checks.CONFIG_MAP, config_map({"tempo.yaml": yaml.safe_dump(TEMPO_GOOD)})),
    ]
    assert stack_violations("retention-config-present", [loki, tempo, *configs]) == []
    assert stack_violations("retention-config-present", [loki, tempo, configs[0]]) == [
        "a tempo container runs but no ConfigMap or Secret holds its config (retention cannot be checked)"
    ]


# --- credentials in ConfigMaps ----------------------------------------------


def test_configmap_without_credentials_passes() -> None:
    alertmanager = {
        "route": {"receiver": "slack"},
        "receivers": [{"name": "slack", "slack_configs": [{"api_url_file": "/etc/alertmanager/secrets/slack-url", "channel": "#alerts"}]}],
        "global": {"smtp_auth_password_file": "/etc/am/smtp", "smtp_auth_username": "alerts"},
    }
    grafana = {"apiVersion": 1, "datasources": [{"name": "Loki", "basicAuth": False, "secureJsonData": {"password": "$__file{/etc/secrets/loki}"}}]}
    data = {
        "alertmanager.yaml": yaml.safe_dump(alertmanager),
        "datasources.json": json.dumps(grafana),
        "loki.yaml": yaml.safe_dump(LOKI_GOOD),
        "token_limit": "100",
        "LOG_LEVEL": "info",
    }
    assert violations("no-credentials-in-configmaps", checks.CONFIG_MAP, config_map(data)) == []


@pytest.mark.parametrize(
    ("data", "finding"),
    [
        ({"ADMIN_PASSWORD": "hunter2"}, "'ADMIN_PASSWORD' looks like a credential (key name 'ADMIN_PASSWORD')"),
        ({"grafana.ini": "[security]\nadmin_user = admin\n"}, None),
        (
            {"alertmanager.yaml": yaml.safe_dump({"receivers": [{"pagerduty_configs": [{"routing_key": "abc123"}]}]})},
            "'alertmanager.yaml.receivers[0].pagerduty_configs[0].routing_key' looks like a credential (key name 'routing_key')",
        ),
        (
            # Fake credentials are assembled at run time so the repository holds nothing a secret scanner flags.
            {"am.yaml": "slack_configs:\n- api_url: https://hooks.slack.com/services/" + "T000/B000/XXXX\n"},
            "'am.yaml' holds a Slack webhook URL",
        ),
        (
            {"tls.key": "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIE\n-----END RSA " + "PRIVATE KEY-----\n"},
            "'tls.key' holds a private key",
        ),
        (
            {"datasource.json": json.dumps({"url": "postgres://grafana:s3cret@db:5432/grafana"})},
            "'datasource.json' holds a URL with a password",
        ),
        ({"config.json": json.dumps({"apiKey": "sk-live-123"})}, "'config.json.apiKey' looks like a credential (key name 'apiKey')"),
    ],
)
def test_configmap_with_credentials_is_rejected(data: dict[str, str], finding: str | None) -> None:
    found = violations("no-credentials-in-configmaps", checks.CONFIG_MAP, config_map(data))
    if finding is None:
        assert found == []  # a user name is not a credential
    else:
        assert found == [f"{finding}; move it to a Secret (Pulumi secret config)"]


def test_credentials_allowed_in_a_secret() -> None:
    secret = {"kind": "Secret", "stringData": {"ADMIN_PASSWORD": "hunter2"}}
    assert violations("no-credentials-in-configmaps", checks.SECRET, secret) == []


# --- prod's stateful resources protected ------------------------------------


@pytest.mark.parametrize(
    "type_",
    [checks.STATEFUL_SET, checks.PVC, checks.PROMETHEUS, checks.ALERTMANAGER],
)
def test_prod_stateful_resources_must_be_protected(type_: str) -> None:
    props: dict[str, Any] = {"spec": {}}
    assert violations("prod-stateful-protected", type_, props, stack="prod", protect=True) == []
    found = violations("prod-stateful-protected", type_, props, stack="prod", protect=False)
    assert len(found) == 1 and "is not protected" in found[0] and "'prod'" in found[0]
    # Other stacks may recreate their state freely.
    assert violations("prod-stateful-protected", type_, props, stack="dev", protect=False) == []


def test_prod_statefulset_keeps_its_volumes() -> None:
    props = {"spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"}}}
    found = violations("prod-stateful-protected", checks.STATEFUL_SET, props, stack="prod", protect=True)
    assert found == [
        "StatefulSet deletes its volumes with it (persistentVolumeClaimRetentionPolicy.whenDeleted: Delete)"
    ]


def test_protected_stacks_come_from_policy_config() -> None:
    found = violations(
        "prod-stateful-protected", checks.PVC, {}, stack="staging", config={"protectedStacks": ["staging", "prod"]}
    )
    assert len(found) == 1


def test_deployments_are_not_stateful() -> None:
    assert violations("prod-stateful-protected", *workload("Deployment"), stack="prod") == []


# --- the pack as the CLI runs it --------------------------------------------


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(dict(value))
    return s


def _start_pack(pack: Path) -> subprocess.Popen[str]:
    """The pack started as the Pulumi CLI starts it (tests/support/pulumi_cli_model.py), from a runner
    whose PATH holds only the system interpreter: no project venv, no `make`."""
    command = policy_pack_command(pack, "127.0.0.1:0", {"PATH": CLEAN_PATH, "HOME": str(Path.home())})
    return subprocess.Popen(command.argv, cwd=command.cwd, env=command.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_pack_runs_as_an_analyzer_and_reports_violations() -> None:
    """Start the pack the way the Pulumi CLI does, with a clean PATH, and send
    it one bad and one good Deployment over gRPC."""
    proc = _start_pack(paths.POLICY_DIR)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline().strip()
        assert line.isdigit(), f"the pack did not start: {proc.stderr.read() if proc.poll() is not None else line}"
        port = int(line)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty())
            assert info.name == "observability-guardrails"
            assert {p.name for p in info.policies} == {p.name for p in POLICIES}

            type_, good = workload("Deployment")
            bad = copy.deepcopy(good)
            bad["spec"]["template"]["spec"]["containers"][0]["image"] = "grafana/grafana:latest"

            def analyze(props: Mapping[str, Any]) -> list[str]:
                request = analyzer_pb2.AnalyzeRequest(
                    type=type_, properties=_struct(props), urn=urn("prod", type_), name="r"
                )
                return [d.policyName for d in stub.Analyze(request).diagnostics]

            assert analyze(good) == []
            assert analyze(bad) == ["image-pinned"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_pack_names_the_interpreter_the_cli_must_use(tmp_path: Path) -> None:
    """The kind of fault: a pack without a virtualenv runs on whatever python3
    is first on PATH. The same pack without the option does not start on a
    clean PATH; with it, the CLI uses the venv `make venv` creates."""
    runtime = yaml.safe_load((paths.POLICY_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))["runtime"]
    venv = (paths.POLICY_DIR / runtime["options"]["virtualenv"]).resolve()
    assert venv == paths.VENV.resolve()  # the Makefile's VENV
    bare = tmp_path / "policy"
    shutil.copytree(paths.POLICY_DIR, bare, ignore=shutil.ignore_patterns("__pycache__"))
    project = yaml.safe_load((bare / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    project["runtime"] = "python"
    (bare / "PulumiPolicy.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")
    proc = _start_pack(bare)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "No module named" in stderr



# --- the stack itself passes the pack ---------------------------------------


def _unwrap_secrets(value: Any) -> Any:
    """Policies see secret inputs unwrapped, as the analyzer hands them over."""
    if is_secret(value):
        return _unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


def pack_violations(result: Render) -> list[str]:
    """Every policy of the pack over every registered resource of a render."""
    messages: list[str] = []
    resources = []
    for record in result.records:
        props = _unwrap_secrets(record.inputs)
        resources.append(PolicyResource(record.type, props, record.urn, record.name, opts(record.protect), None, None, [], {}))
        args = ResourceValidationArgs(record.type, props, record.urn, record.name, opts(record.protect), None, {})
        for policy in POLICIES:
            if isinstance(policy, ResourceValidationPolicy):
                found: list[str] = []
                policy.validate(args, collector(found))
                messages += [f"{policy.name}: {record.urn}: {m}" for m in found]
    for policy in POLICIES:
        if isinstance(policy, StackValidationPolicy):
            found = []
            policy.validate(StackValidationArgs(resources), collector(found))
            messages += [f"{policy.name}: {m}" for m in found]
    return messages


def test_every_rendered_stack_passes_the_pack(rendered: Render) -> None:
    assert pack_violations(rendered) == []


def test_prod_without_protection_fails_the_pack(render_stack: Any) -> None:
    result = render_stack("prod", "protectStateful=false")
    found = pack_violations(result)
    assert found and all(m.startswith("prod-stateful-protected: ") for m in found)
    assert any("PersistentVolumeClaim" in m for m in found)
