"""Every kind of bad input a tired operator types: refused with key, value and accepted form, never a
traceback, never a secret echoed, and every valid form the receiving programs accept taken as is.

Values are checked where they land: rendered custom resources against the vendored CRD schemas,
durations against the real promtool, the Pushgateway flag against the real binary.
"""

from __future__ import annotations

import functools
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import scripts.render as render_script
import tooling.render as render_library
from components import paths
from components.settings.errors import SettingsError
from components.settings.loader import load_settings
from components.settings.units import duration_ms
from scripts.render import main
from tests.conftest import RenderStack
from tests.support.k8s_objects import container, find
from tests.support.tools import tool
from tooling.localstack import Component, http_get, wait_until
from tooling.render import Render
from tooling.stack_config import OverrideError, StackFileError, apply_overrides, read_stack_config

CRDS = paths.CRD_ROOT / "prometheus-operator-v0.85.0"
# Words of the validation library and of Python that an operator never wrote.
RAW_WORDS = re.compile(r"Input should|tuple|dict\b|pydantic|Settings\b|model_|\bNone\b|valid string|type=|For further information")


def _problems(stack: str, *overrides: str, config: dict[str, Any] | None = None, secrets: frozenset[str] = frozenset()) -> str:
    values = read_stack_config(stack)
    apply_overrides(values, overrides)
    with pytest.raises(SettingsError) as error:
        load_settings({**values.engine_form(), **(config or {})}, stack, values.secret_keys | secrets)
    text = str(error.value)
    _plain(text)
    return text


def _plain(text: str) -> None:
    """Every problem line says what is accepted, in the operator's words."""
    for line in text.splitlines()[1:]:
        assert "accepted" in line, line
        assert not RAW_WORDS.search(line), line


def _line(text: str, key: str) -> str:
    line = next((line for line in text.splitlines() if f"{key} = " in line), None)
    assert line is not None, text
    return line


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def no_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal must come before the Pulumi program runs (so it takes no time and no memory)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the program ran on input that should have been refused")

    monkeypatch.setattr(render_library, "run_program_with_outputs", refuse)


# 1. Crashes become refusals, before the program runs.


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("prometheus.replicas=99999999999", "observability:prometheus.replicas"),
        ("alertmanager.replicas=1e400", "observability:alertmanager.replicas"),
        ("tempo.sampling=.nan", "observability:tempo.sampling"),
        ("tempo.sampling=.inf", "observability:tempo.sampling"),
        ("loki.ingestion.rateMb=.nan", "observability:loki.ingestion.rateMb"),
        ("prometheus.scrapeLimits.sampleLimit=99999999999999999999", "observability:prometheus.scrapeLimits.sampleLimit"),
        ("prometheus.retention=[7d", "prometheus.retention"),
        ("prometheus.retention={7d", "prometheus.retention"),
        ("prometheus=7d", "observability:prometheus"),
        ("prometheus.storage=[1, 2]", "observability:prometheus.storage"),
    ],
)
def test_a_crashing_value_is_refused_with_exit_2(assignment: str, key: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, no_program: None) -> None:
    code, output = _run(capsys, "--stack", "dev", "--out", str(tmp_path / "out"), "--set", assignment)
    assert code == 2, output
    assert key in output and "accepted form" in output and "Traceback" not in output


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("config:\n  observability:prometheus: {retention: 7d\n", "line 3"),
        ("config: [observability:environment, dev]\n", "'config' is not a mapping"),
        ("- just\n- a list\n", "not a mapping"),
        ("config:\n  observability:environment: dev\n  observability:environment: prod\n", "given twice (first on line 2)"),
        ("config:\n  observability:prometheus:\n    retention: 7d\n    retention: 30d\n", "given twice"),
        ("config:\n  observability:alerting:\n    slack: {channel: #ops}\n", "line"),
    ],
)
def test_a_broken_stack_file_is_refused_with_exit_2(
    text: str, words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_program: None
) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    with pytest.raises(StackFileError, match=re.escape(words)):
        read_stack_config("dev", tmp_path)
    monkeypatch.setattr(render_script, "read_stack_config", functools.partial(read_stack_config, root=tmp_path))
    code, output = _run(capsys, "--stack", "dev", "--out", str(tmp_path / "out"))
    assert code == 2 and "Pulumi.dev.yaml" in output and "accepted form" in output and "Traceback" not in output


def test_out_pointing_at_a_file_is_refused_with_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, no_program: None) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    code, output = _run(capsys, "--stack", "dev", "--out", str(target))
    assert code == 2 and "is a file" in output and target.read_text() == "keep me"


# 2. Each value valid where it lands.


@pytest.fixture(scope="module")
def typed(render_stack: RenderStack) -> Render:
    return render_stack(
        "dev",
        "alertmanager.retention=5d",
        "pushgateway.persistenceInterval=1d",
        "prometheus.retention=2w",
        "prometheus.retentionSize=4GiB",
        "prometheus.scrapeInterval=1m",
        "prometheus.evaluationInterval=1m",
    )


@functools.cache  # parsed once (the files are hundreds of kilobytes); shared, so read it without changing it
def _crd_schema(plural: str) -> dict[str, Any]:
    crd = yaml.load((CRDS / f"monitoring.coreos.com_{plural}.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@pytest.mark.parametrize(("kind", "name", "plural"), [("Alertmanager", "alertmanager", "alertmanagers"), ("Prometheus", "prometheus", "prometheuses")])
def test_custom_resources_match_their_crd_schema(typed: Render, kind: str, name: str, plural: str) -> None:
    errors = [error.message for error in jsonschema.Draft7Validator(_crd_schema(plural)).iter_errors(find(typed, kind, name))]
    assert not errors


def test_durations_are_converted_faithfully_for_go_programs(typed: Render) -> None:
    assert find(typed, "Alertmanager", "alertmanager")["spec"]["retention"] == "120h"
    assert "--persistence.interval=24h" in container(typed, "Deployment", "pushgateway")["args"]
    prometheus = find(typed, "Prometheus", "prometheus")["spec"]
    assert (prometheus["retention"], prometheus["retentionSize"]) == ("2w", "4GiB")


def test_the_real_pushgateway_takes_the_rendered_interval(typed: Render, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    interval = next(a for a in container(typed, "Deployment", "pushgateway")["args"] if a.startswith("--persistence.interval="))
    argv = [tool("pushgateway"), f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={tmp_path / 'metrics'}", interval]
    gateway = Component("pushgateway", argv, port, tmp_path / "log")
    gateway.start()
    try:
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/-/ready") is not None, 20, "the Pushgateway with the rendered interval")
    finally:
        gateway.stop()


@pytest.mark.parametrize("value", ["15s", "1h30m", "7d", "292y", "106751d", "293y", "106752d", "300y", "9999999999999y"])
def test_duration_bounds_match_prometheus(value: str, tmp_path: Path) -> None:
    """The settings accept a duration exactly when the real Prometheus config parser does."""
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": value, "evaluation_interval": value, "scrape_timeout": "10s"}}))
    promtool = subprocess.run([tool("promtool"), "check", "config", str(config)], capture_output=True, text=True, check=False)
    try:
        duration_ms(value)
        ours = True
    except ValueError:
        ours = False
    assert ours == (promtool.returncode == 0), promtool.stdout + promtool.stderr


# 3. Values accepted that should not be.


@pytest.mark.parametrize(
    ("stack", "overrides", "key", "words"),
    [
        ("dev", ["prometheus.retention=７d"], "prometheus.retention", "accepted form"),
        ("dev", ["prometheus.storage.size=５Gi"], "prometheus.storage.size", "Kubernetes quantity"),
        ("dev", ["alertmanager.replicas=２"], "alertmanager.replicas", "whole number"),
        ("dev", ["loki.ingestion.rateMb=３"], "loki.ingestion.rateMb", "number"),
        ("dev", ["tempo.sampling=５0%"], "tempo.sampling", "percentage"),
        ("dev", ["prometheus.storage.size=0"], "prometheus.storage.size", "above zero"),
        ("dev", ["loki.storage.size=0Gi"], "loki.storage.size", "above zero"),
        ("dev", ["prometheus.resources.limits.cpu=0"], "prometheus.resources.limits.cpu", "above zero"),
        ("dev", ["prometheus.retentionSize=0GB"], "prometheus.retentionSize", "above zero"),
        ("dev", ["tempo.retention=500ms"], "tempo.retention", "at least 1h"),
        ("dev", ["tempo.retention=59m"], "tempo.retention", "at least 1h"),
        ("dev", ["namespace=null"], "namespace", "cannot be null"),
        ("dev", ["namespace=~"], "namespace", "cannot be null"),
        ("dev", ["prometheus.storage.storageClass=Fast_SSD"], "prometheus.storage.storageClass", "DNS-1123 subdomain"),
        ("dev", ["grafana.storage.storageClass=-ssd"], "grafana.storage.storageClass", "DNS-1123 subdomain"),
        ("dev", ["namespace=kube-system"], "namespace", "cluster's own components"),
        ("dev", ["namespace=default"], "namespace", "not one of default"),
        ("prod", ["environment=dev"], "environment", "environmentOverride: prod"),
        ("staging", ["environment=prod"], "environment", "says staging"),
        ("prod", ["environment=dev", "environmentOverride=staging"], "environmentOverride", "this stack's name 'prod'"),
        ("dev", ["prometheus.resources.limits.cpu=0.0005"], "prometheus.resources.limits.cpu", "millicore"),
        ("dev", ["prometheus.resources.limits.memory=0.5"], "prometheus.resources.limits.memory", "whole number of bytes"),
        ("dev", ["alerting.slack.channel=#ops"], "alerting.slack.channel", "must be quoted"),
        ("dev", ["prometheus.retention=300y"], "prometheus.retention", "292 years"),
    ],
)
def test_a_value_the_stack_cannot_use_is_refused(stack: str, overrides: list[str], key: str, words: str) -> None:
    assert words in _line(_problems(stack, *overrides), f"observability:{key}")


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        ("grafana.ingress.tlsSecretName=Grafana_TLS", "grafana.ingress.tlsSecretName", "'Grafana_TLS'"),
        ("grafana.ingress.className=Nginx Public", "grafana.ingress.className", "Kubernetes object name"),
        ("loki.objectStorage={backend: s3, bucket: logs, region: EU West}", "loki.objectStorage.region", "cloud region"),
        (
            "tempo.objectStorage={backend: gcs, bucket: traces, credentials: workloadIdentity, serviceAccountAnnotations: {'bad key!': x}}",
            "tempo.objectStorage.serviceAccountAnnotations.bad key!",
            "annotation key",
        ),
    ],
)
def test_object_names_follow_kubernetes_rules(override: str, key: str, words: str) -> None:
    assert words in _line(_problems("dev", override), f"observability:{key}")


def test_object_names_kubernetes_accepts_are_taken() -> None:
    config = read_stack_config("dev")
    apply_overrides(config, ["grafana.ingress={enabled: true, host: grafana.example.com, className: nginx.public, tlsSecretName: grafana.example.com-tls}"])
    load_settings(config.engine_form(), "dev", config.secret_keys)


def test_retention_is_written_exactly_in_the_go_form() -> None:
    from components.settings.units import hours

    assert [hours(value) for value in ("72h", "3d", "90m", "1h500ms")] == ["72h", "72h", "1h30m", "1h500ms"]


def test_an_explicit_named_override_runs_a_stack_as_another_environment() -> None:
    config = read_stack_config("prod")
    apply_overrides(config, ["environment=staging", "environmentOverride=prod", "alerting.paging=false"])
    settings = load_settings(config.engine_form(), "prod", config.secret_keys)
    assert settings.environment == "staging" and settings.environment_override == "prod"


@pytest.mark.parametrize("namespace", ["observabilty", "obsrvability", "kubernets", "my-project"])
def test_an_unknown_config_namespace_is_refused(namespace: str) -> None:
    line = _line(_problems("dev", config={f"{namespace}:prometheus": '{"retention": "3d"}'}), f"{namespace}:prometheus")
    assert "unknown config namespace" in line and "observability" in line


def test_provider_namespaces_are_accepted() -> None:
    load_settings({"observability:environment": "dev", "kubernetes:context": "kind", "grafana:url": "x", "pulumi:disable-default-providers": "[]"}, "dev")


# 4. Combinations that make the stack useless.


def test_a_scrape_interval_longer_than_the_rule_windows_is_refused() -> None:
    text = _problems("dev", "prometheus.scrapeInterval=10m", "prometheus.evaluationInterval=10m")
    for key in ("prometheus.scrapeInterval", "prometheus.evaluationInterval"):
        lines = [line for line in text.splitlines() if f"observability:{key} = " in line]
        assert any(("can never fire" in line and "at most 2m30s" in line) or "at most 150s" in line for line in lines), text


def test_staging_and_prod_need_a_receiver() -> None:
    staging = _problems("staging", "alerting.slack=null", "alerting.email=null")
    assert "notifies nobody" in _line(staging, "observability:alerting")
    prod = _problems("prod", "alerting.slack=null", "alerting.email=null", "alerting.paging=false")
    assert "notifies nobody" in _line(prod, "observability:alerting")
    load_settings({"observability:alerting": '{"slack": null}'}, "dev")  # dev pages nobody by design


@pytest.mark.parametrize("key", ["apiServerCidrs", "nodeCidrs", "receiverCidrs"])
def test_an_empty_cidr_list_under_default_deny_is_refused(key: str) -> None:
    assert "default-deny" in _line(_problems("staging", f"network.{key}=[]"), f"observability:network.{key}")
    config = read_stack_config("staging")
    apply_overrides(config, [f"network.{key}=[]", "network.policies=false"])
    load_settings(config.engine_form(), "staging", config.secret_keys)


# 5. Messages say what is accepted, in the operator's words.


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        ("alerting.groupBy=alertname", "alerting.groupBy", "a list, each entry"),
        ("alerting.groupBy=[1 bad]", "alerting.groupBy.0", "label name"),
        ("prometheus.walCompression=maybe", "prometheus.walCompression", "true or false"),
        ("prometheus=7d", "prometheus", "a section (mapping) with the keys"),
        ("prometheus.image=null", "prometheus.image", "cannot be null"),
        ("alerting.email={to: a@b.org}", "alerting.email.from", "is required but not set"),
        ("availability.nodeSpread=sometimes", "availability.nodeSpread", "one of"),
        ("alloy.serviceLabels=[]", "alloy.serviceLabels", "at least 1"),
        ("alloy.replicas=0", "alloy.replicas", "a whole number from 1 to 10"),
        ("alloy.replicas=two", "alloy.replicas", "a whole number from 1 to 10"),
        ("alloy.storage.size=0", "alloy.storage.size", "above zero"),
        ("alloy.storage=null", "alloy.storage", "cannot be null"),
        ("loki.objectStorage=s3", "loki.objectStorage", "or null to leave it unset"),
        ("serviceExporters.targets=[{name: x}]", "serviceExporters.targets.0.kind", "one of mongodb, rabbitmq, qdrant"),
        ("cluster=[a]", "cluster", "not text"),
        ("network.dnsCidrs=[node-local-dns]", "network.dnsCidrs.0", "CIDR notation"),
        ("network.dnsCidrs=169.254.20.10/32", "network.dnsCidrs", "a list, each entry"),
        ("network.dnsPorts=[0]", "network.dnsPorts.0", "a whole number from 1 to 65535"),
        ("network.dnsPorts=5353", "network.dnsPorts", "a list, each entry"),
        ("network.dnsPorts=[]", "network.dnsPorts", "at least one port"),
        ("network.dnsNamespaces=[OpenShift_DNS]", "network.dnsNamespaces.0", "accepted form"),
        ("network.dnsNamespaces=openshift-dns", "network.dnsNamespaces", "a list, each entry"),
        ("network.dnsNamespaces=[]", "network.dnsNamespaces", "namespaces of the cluster's DNS pods"),
        ("network.dnsNamespace=x", "network", "network.dnsNamespace ('x') and network.dnsNamespaces (['y']) are both set"),
        ("network.ingressCidrs=[ingress-nginx]", "network.ingressCidrs.0", "CIDR notation"),
        ("network.apiServerPorts=[70000]", "network.apiServerPorts.0", "a whole number from 1 to 65535"),
        ("network.apiServerPorts=[]", "network.apiServerPorts", "at least one port"),
    ],
)
def test_every_refusal_names_the_accepted_form(override: str, key: str, words: str) -> None:
    extra = ("network.dnsNamespaces=[y]",) if override.startswith("network.dnsNamespace=") else ()
    assert words in _line(_problems("dev", override, *extra), f"observability:{key}")


def test_the_earlier_single_dns_namespace_key_keeps_its_meaning(render_stack) -> None:
    """network.dnsNamespace (before issue 22) is read as dnsNamespaces: [its value]."""
    rendered = render_stack("dev", "network.dnsNamespace=openshift-dns")
    assert rendered.settings.network.dns_namespaces == ("openshift-dns",)


# 6. Secrets are masked, whatever the key.

HOOK = "https://hooks.slack.com/" + "services/T0000/B0000/s3cr3tHookValue42"  # assembled so no secret pattern sits in the repository
TOKEN = "glsa_abcdefghijklmnopqrstuvwxyz0123456789_deadbeef"


@pytest.mark.parametrize(
    "override",
    [
        f"alerting.slackWebhookURL={HOOK}",
        f"alerting.slack.webhook={HOOK}",
        f"slackWebhookURL={HOOK}",
        f"alerting.email.smtpPassword={TOKEN}",
        f"alerting.email.authPassword={TOKEN}",
        f"grafana.external.token={TOKEN}",
        f"cluster={TOKEN}",
        f"alerting.slack.channel={HOOK}",
        f"grafana.external.url=https://admin:{TOKEN}@grafana.example.com",
        f"alerting.slack={{channel: '#ops', webhookUrl: '{HOOK}'}}",
        f"smtpPassword={TOKEN}",
    ],
)
def test_a_secret_is_never_echoed(override: str) -> None:
    text = _problems("dev", override)
    assert HOOK not in text and TOKEN not in text and "s3cr3tHookValue42" not in text


def test_an_ordinary_long_value_is_still_shown() -> None:
    image = "registry.k8s.io/kube-state-metrics/kube-state-metrics:latest"
    assert image in _line(_problems("dev", f"kubeStateMetrics.image={image}"), "observability:kubeStateMetrics.image")


def test_a_broken_override_never_echoes_a_secret() -> None:
    config = read_stack_config("dev")
    with pytest.raises(OverrideError) as error:
        apply_overrides(config, [f"alerting.email.smtpPassword=[{TOKEN}"])
    assert TOKEN not in str(error.value)


# 7. Every problem at once, cross-field ones included.


def test_field_and_cross_field_problems_are_reported_together() -> None:
    text = _problems(
        "staging",
        "prometheus.retention=soon",
        "prometheus.scrapeInterval=10m",
        "alerting.slack=null",
        "alerting.email=null",
        "network.apiServerCidrs=[]",
        "namespace=kube-system",
    )
    for key in ("prometheus.retention", "prometheus.scrapeInterval", "alerting", "network.apiServerCidrs", "namespace"):
        _line(text, f"observability:{key}")
    assert "5 problem(s)" in text


def test_a_cross_field_check_about_a_refused_field_is_not_reported_twice() -> None:
    text = _problems("dev", "prometheus.storage.size=huge")
    assert "1 problem(s)" in text, text


# 8. Every form the receiving programs accept is accepted.


@pytest.mark.parametrize("size", ["4GiB", "4GB", "4096MiB", "4096MB", "3.5GiB", "0.003TiB", "4194304KiB", "4294967296B"])
def test_every_byte_size_prometheus_and_the_crd_accept_is_taken(size: str) -> None:
    settings = load_settings({"observability:environment": "dev", "observability:prometheus": f'{{"retentionSize": "{size}"}}'}, "dev")
    pattern = _crd_schema("prometheuses")["properties"]["spec"]["properties"]["retentionSize"]["pattern"]
    assert settings.prometheus.retention_size == size and re.search(pattern, size)


@pytest.mark.parametrize(("field", "value"), [("storage.size", "50e9"), ("storage.size", "50G"), ("storage.size", "45.5Gi"), ("resources.limits.cpu", "1.5")])
def test_every_quantity_form_kubernetes_accepts_is_taken(field: str, value: str) -> None:
    section, *rest = field.split(".")
    nested: Any = value
    for part in reversed(rest):
        nested = {part: nested}
    import json

    load_settings({"observability:environment": "dev", "observability:prometheus": json.dumps({section: nested})}, "dev")


def test_group_wait_may_be_zero_as_alertmanager_allows(render_stack: RenderStack, tmp_path: Path) -> None:
    render = render_stack("dev", "alerting.groupWait=0s")
    config = tmp_path / "alertmanager.yml"
    config.write_text(render.files["alertmanager.yaml"])
    assert yaml.safe_load(render.files["alertmanager.yaml"])["route"]["group_wait"] == "0s"
    result = subprocess.run([tool("amtool"), "check-config", str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # Alertmanager itself refuses a zero group_interval or repeat_interval.
    for key in ("groupInterval", "repeatInterval"):
        assert "longer than zero" in _line(_problems("dev", f"alerting.{key}=0s"), f"observability:alerting.{key}")


def test_an_evaluation_interval_longer_than_the_onsets_hold_is_refused() -> None:
    """Issue 23: a cause's onset alert (components/rules/causes.py) holds ONSET_HOLD after it stops, bridging the
    moment between its rule group's evaluation and its cause's; a longer evaluation interval could open a gap."""
    line = _line(_problems("dev", "prometheus.evaluationInterval=2m"), "observability:prometheus.evaluationInterval")
    assert "onset alert holds" in line and "at most 1m" in line, line
