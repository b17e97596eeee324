"""Alloy: the generated pipeline read back and checked, RBAC, probes and limits of the StatefulSet."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from components.logs.alloy_config import ENVIRONMENT_ATTRIBUTES, LOG_LEVELS, SAMPLING_PORT, UNKNOWN_LEVEL
from components.logs.loki_config import STREAM_LABELS
from components.rules.catalog import FORBIDDEN_LABELS
from components.wiring import endpoints
from tests.support import go_template
from tests.support.alloy_parser import AlloySyntaxError, Block, all_attributes, parse, references
from tests.support.config_reference import image_version, reference
from tests.support.k8s_objects import container, find, mounted_file, mounted_yaml, pod
from tooling.render import Render

# seed 004 / DESIGN.md: 100%, 50%, 10%, errors always kept.
SAMPLING_PERCENT = {"dev": 100, "staging": 50, "prod": 10}


def _text(render: Render) -> str:
    alloy = container(render, "StatefulSet", endpoints.ALLOY_NAME)
    return mounted_file(render, "StatefulSet", endpoints.ALLOY_NAME, alloy["args"][1])


def _blocks(render: Render) -> list[Block]:
    return parse(_text(render))


def _component(blocks: list[Block], name: str, label: str | None = None) -> Block:
    found = [b for b in blocks if b.name == name and (label is None or b.label == label)]
    assert len(found) == 1, f"{name} {label}: {len(found)}"
    return found[0]


def test_the_file_parses_and_every_reference_resolves(rendered: Render) -> None:
    """Each reference names a declared component and one of its exports in the deployed Alloy release's
    reference (tests/support/config_reference/alloy-*.yaml; test_alloy_reference.py checks the rest of it)."""
    components = reference("alloy", image_version(rendered.settings.alloy.image))["components"]
    blocks = _blocks(rendered)
    declared = {(b.name, b.label) for b in blocks}
    assert len(declared) == len(blocks), "a component is declared twice"
    for block in blocks:
        for name in (r for value in all_attributes(block) for r in references(value)):
            component, label, export = name.rsplit(".", 2)
            assert (component, label) in declared, f"{block.name} {block.label} refers to undeclared {name}"
            assert export in components[component]["exports"], f"{component} has no export {export}"


def test_the_reader_refuses_unbalanced_text() -> None:
    with pytest.raises(AlloySyntaxError):
        parse('loki.write "x" {\n  endpoint {\n    url = "http://loki"\n  }\n')
    with pytest.raises(AlloySyntaxError):
        parse('loki.write "x" {\n}\n}\n')
    with pytest.raises(AlloySyntaxError):
        parse('loki.write "x" {\n  url = "unterminated\n}\n')


def test_sampling_is_the_environment_share_and_errors_are_always_kept(rendered: Render) -> None:
    sampler = _component(_blocks(rendered), "otelcol.processor.tail_sampling")
    policies = {p.attributes["type"]: p for p in sampler.children("policy")}
    assert set(policies) == {"status_code", "probabilistic"}
    assert policies["status_code"].child("status_code").attributes["status_codes"] == ["ERROR"]
    share = policies["probabilistic"].child("probabilistic").attributes["sampling_percentage"]
    assert share == SAMPLING_PERCENT[rendered.stack]
    assert Decimal(share) / 100 == rendered.settings.tempo.sampling


def test_sampling_follows_an_override(render_stack) -> None:
    sampler = _component(_blocks(render_stack("staging", "tempo.sampling=25%")), "otelcol.processor.tail_sampling")
    share = next(p for p in sampler.children("policy") if p.attributes["type"] == "probabilistic")
    assert share.child("probabilistic").attributes["sampling_percentage"] == 25


def test_spans_of_one_trace_meet_in_one_sampler(rendered: Render) -> None:
    blocks = _blocks(rendered)
    balancer = _component(blocks, "otelcol.exporter.loadbalancing")
    assert balancer.attributes["routing_key"] == "traceID"
    dns = balancer.child("resolver").child("dns").attributes
    service_name, namespace = dns["hostname"].split(".")[:2]
    assert namespace == rendered.settings.namespace
    headless = find(rendered, "Service", service_name)
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == find(rendered, "StatefulSet", endpoints.ALLOY_NAME)["spec"]["selector"]["matchLabels"]
    assert [p["port"] for p in headless["spec"]["ports"]] == [int(dns["port"])] == [SAMPLING_PORT]
    routed = _component(blocks, "otelcol.receiver.otlp", "routed")
    assert routed.child("grpc").attributes["endpoint"] == f"0.0.0.0:{SAMPLING_PORT}"
    # Through the memory limiter to the sampler (see test_tail_sampling_has_a_memory_guard).
    limiter = _component(blocks, "otelcol.processor.memory_limiter")
    assert references(routed.child("output").attributes["traces"]) == [f"otelcol.processor.memory_limiter.{limiter.label}.input"]
    # The sampler and, beside it, the span-metric and service-graph connectors (test_trace_metrics.py).
    assert references(limiter.child("output").attributes["traces"])[0] == "otelcol.processor.tail_sampling.per_environment.input"


def test_applications_reach_otlp_on_4317_and_4318(rendered: Render) -> None:
    receiver = _component(_blocks(rendered), "otelcol.receiver.otlp", "apps")
    assert receiver.child("grpc").attributes["endpoint"] == "0.0.0.0:4317"
    assert receiver.child("http").attributes["endpoint"] == "0.0.0.0:4318"
    ports = {p["name"]: p["port"] for p in find(rendered, "Service", endpoints.ALLOY_SERVICE)["spec"]["ports"]}
    assert ports["otlp-grpc"] == 4317 and ports["otlp-http"] == 4318


def test_traces_go_to_tempo_otlp(rendered: Render) -> None:
    exporter = _component(_blocks(rendered), "otelcol.exporter.otlp", "tempo")
    host, port = exporter.child("client").attributes["endpoint"].rsplit(":", 1)
    service, namespace = host.split(".")[:2]
    assert namespace == rendered.settings.namespace
    assert int(port) in {p["port"] for p in find(rendered, "Service", service)["spec"]["ports"] if p["name"] == "otlp-grpc"}
    tempo_config = mounted_file(rendered, "StatefulSet", endpoints.TEMPO_NAME, "/etc/tempo/tempo.yaml")
    assert f"0.0.0.0:{port}" in tempo_config


def test_logs_go_to_loki_with_the_environment_constant(rendered: Render) -> None:
    write = _component(_blocks(rendered), "loki.write")
    url = write.child("endpoint").attributes["url"]
    assert url == f"http://loki.{rendered.settings.namespace}.svc:3100/loki/api/v1/push"
    assert write.attributes["external_labels"] == {"environment": rendered.settings.environment}


def test_json_parsed_and_only_the_three_stream_labels(rendered: Render) -> None:
    process = _component(_blocks(rendered), "loki.process")
    names = [b.name for b in process.blocks]
    assert names.index("stage.json") < names.index("stage.template") < names.index("stage.labels") < names.index("stage.label_keep")
    assert process.child("stage.json").attributes["expressions"] == {"level": "level"}
    assert process.child("stage.labels").attributes["values"] == {"level": ""}
    kept = set(process.child("stage.label_keep").attributes["values"])
    write = _component(_blocks(rendered), "loki.write")
    stream_labels = kept | set(write.attributes["external_labels"])
    assert stream_labels == set(STREAM_LABELS)
    assert not stream_labels & FORBIDDEN_LABELS


def test_level_values_are_bounded(rendered: Render) -> None:
    template = _component(_blocks(rendered), "loki.process").child("stage.template").attributes["template"]
    for level in LOG_LEVELS:
        assert f'"{level}"' in template
    assert "ToUpper ." in template
    assert template.count("{{") == template.count("}}")
    assert template.endswith(f"{{{{ else }}}}{UNKNOWN_LEVEL}{{{{ end }}}}")


def test_service_comes_from_the_pod_labels(rendered: Render) -> None:
    blocks = _blocks(rendered)
    # Every pod of the cluster is discovered; each replica keeps its share (test_alloy_positions.py).
    assert _component(blocks, "discovery.kubernetes").attributes == {"role": "pod"}
    rule = next(r for r in _component(blocks, "discovery.relabel").children("rule") if r.attributes.get("target_label") == "service")
    assert rule.attributes["source_labels"][:2] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name", "__meta_kubernetes_pod_label_app"]
    source = _component(blocks, "loki.source.kubernetes")
    assert references(source.attributes["targets"]) == ["discovery.relabel.pods.output"]


def test_rbac_reads_pods_and_their_logs_only(rendered: Render) -> None:
    role = find(rendered, "ClusterRole", f"alloy-{rendered.settings.namespace}")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]
    binding = find(rendered, "ClusterRoleBinding", f"alloy-{rendered.settings.namespace}")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": endpoints.ALLOY_NAME, "namespace": rendered.settings.namespace}]
    assert pod(rendered, "StatefulSet", endpoints.ALLOY_NAME)["serviceAccountName"] == endpoints.ALLOY_NAME


def test_probes_limits_and_no_host_access(rendered: Render) -> None:
    alloy = container(rendered, "StatefulSet", endpoints.ALLOY_NAME)
    for probe in ("readinessProbe", "livenessProbe"):
        assert alloy[probe]["httpGet"] == {"path": "/-/ready", "port": "http"}
    assert {"name": "http", "containerPort": 12345, "protocol": "TCP"} in alloy["ports"]
    assert "--server.http.listen-addr=0.0.0.0:12345" in alloy["args"]
    # DESIGN.md: log shipper 0.5 CPU / 256 MiB.
    assert alloy["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    spec = pod(rendered, "StatefulSet", endpoints.ALLOY_NAME)
    assert not any("hostPath" in volume for volume in spec["volumes"])
    assert not spec.get("hostNetwork") and not spec.get("hostPID")
    assert alloy["securityContext"]["runAsNonRoot"] is True


# --- issue 12: level of any line, tail-sampling memory guard, both environment attribute names -----


@pytest.fixture(scope="module")
def stage_runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return go_template.build(tmp_path_factory.mktemp("gotemplate"))


LINES = {
    '{"level": "ERROR", "msg": "x"}': "ERROR",
    '{"level": "warn", "msg": "x"}': "WARNING",
    '{"level": "Info", "msg": "x"}': "INFO",
    '{"level": "trace", "msg": "x"}': UNKNOWN_LEVEL,
    '{"level": 30, "msg": "x"}': UNKNOWN_LEVEL,
    '{"msg": "no level field"}': UNKNOWN_LEVEL,
    '{"level": "", "msg": "empty"}': UNKNOWN_LEVEL,
    "plain text, not JSON": UNKNOWN_LEVEL,
    "": UNKNOWN_LEVEL,
}


def test_every_line_gets_a_bounded_level_label(rendered: Render, stage_runner: Path) -> None:
    process = _component(_blocks(rendered), "loki.process")
    template = process.child("stage.template").attributes
    source = template["source"]
    assert process.child("stage.labels").attributes["values"] == {source: ""}
    cases: list[dict[str, Any]] = [
        {"template": template["template"], "source": source, "extracted": go_template.json_stage(line), "entry": line} for line in LINES
    ]
    results = go_template.run(stage_runner, cases)
    for (line, expected), case, result in zip(LINES.items(), cases, results, strict=True):
        assert result.error is None, f"{line!r}: the template failed, so the stage writes no level: {result.error}"
        labels = go_template.apply_stage(result, case["extracted"], source)
        assert labels.get(source) == expected, f"{line!r}: level {labels.get(source)!r}, expected {expected!r}"


def test_tail_sampling_has_a_memory_guard(rendered: Render) -> None:
    blocks = _blocks(rendered)
    sampler = _component(blocks, "otelcol.processor.tail_sampling")
    limiter = _component(blocks, "otelcol.processor.memory_limiter")
    sampler_input = f"otelcol.processor.tail_sampling.{sampler.label}.input"
    # Nothing reaches the sampler except through the limiter.
    feeding = [b for b in blocks if any(sampler_input in references(v) for v in all_attributes(b))]
    assert [(b.name, b.label) for b in feeding] == [(limiter.name, limiter.label)]
    limit_bytes = _quantity(container(rendered, "StatefulSet", endpoints.ALLOY_NAME)["resources"]["limits"]["memory"])
    limit = _mib(limiter.attributes["limit"])
    spike = _mib(limiter.attributes["spike_limit"])
    assert 0 < spike < limit < limit_bytes
    assert limiter.attributes["check_interval"] == "1s"
    # Bounded below upstream's 50000 and sized to the container: the buffer fits in half of it at 16 KiB a trace.
    traces = sampler.attributes["num_traces"]
    assert isinstance(traces, int) and 0 < traces < 50000
    assert traces * 16 * 1024 <= limit_bytes / 2


def test_the_trace_buffer_follows_the_container(render_stack) -> None:
    small = _component(_blocks(render_stack("dev")), "otelcol.processor.tail_sampling").attributes["num_traces"]
    large = _component(_blocks(render_stack("dev", "alloy.resources={requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 1Gi}}")),
                       "otelcol.processor.tail_sampling").attributes["num_traces"]
    assert large == 4 * small


def _quantity(text: str) -> int:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    return int(text[:-2]) * units[text[-2:]] if text[-2:] in units else int(text)


def _mib(text: str) -> int:
    assert text.endswith("MiB"), text
    return int(text[:-3]) * 1024 * 1024


def test_both_environment_attribute_names_reach_every_consumer(rendered: Render) -> None:
    blocks = _blocks(rendered)
    receiver = _component(blocks, "otelcol.receiver.otlp", "apps")
    transform = _component(blocks, "otelcol.processor.transform", "environment")
    # Every span from the applications passes the transform first.
    assert references(receiver.child("output").attributes["traces"]) == ["otelcol.processor.transform.environment.input"]
    statements = transform.child("trace_statements")
    assert statements.attributes["context"] == "resource"
    assert transform.attributes["error_mode"] == "ignore"
    text = statements.attributes["statements"]
    new, old = "deployment.environment.name", "deployment.environment"
    assert set(ENVIRONMENT_ATTRIBUTES) == {new, old}
    # Whichever one a trace carries, the other is filled from it; neither overwrites a value that is there.
    assert f'set(attributes["{old}"], attributes["{new}"]) where attributes["{old}"] == nil and attributes["{new}"] != nil' in text
    assert f'set(attributes["{new}"], attributes["{old}"]) where attributes["{new}"] == nil and attributes["{old}"] != nil' in text
    # The consumers key on one of the two names, which every trace now carries.
    tempo = mounted_yaml(rendered, "StatefulSet", endpoints.TEMPO_NAME, "/etc/tempo/tempo.yaml")
    for processor in tempo.get("metrics_generator", {}).get("processor", {}).values():
        assert set(processor["dimensions"]) <= set(ENVIRONMENT_ATTRIBUTES) | {"service.name"}
    tempo_datasource = json.loads(rendered.files["grafana/datasource-tempo.json"])
    keys = {t["key"] for t in tempo_datasource["jsonDataEncoded"]["tracesToLogsV2"]["tags"]}
    assert keys & set(ENVIRONMENT_ATTRIBUTES)
