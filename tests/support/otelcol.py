"""The OpenTelemetry Collectors that `make tools` builds (tools/versions.yaml: otelcol, otelcol-alloy), run on
loopback by tests.

It stands in for Alloy's trace pipeline (Alloy wraps the same upstream components; its own module cannot be
built here): a test writes a collector config mirroring what the rendered Alloy config does, sends spans
over OTLP/HTTP (JSON), and reads Prometheus text from the collector's prometheus exporter and from its own
telemetry (``otelcol_*`` counters, the names Alloy's otelcol components export too), and match a sample
against the selectors of a stack-delivery alert (:func:`read_by`).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from components.paths import RULES_DIR
from tests.support.tools import tool
from tooling.local_cluster import free_port, wait_for

LOOPBACK = "127.0.0.1"
SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3
STATUS_ERROR = 2
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')
_SELECTOR = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<matchers>[^}]*)\}")
_MATCHER = re.compile(r'(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"')
# Labels Alloy's scrape and component registry add; a collector run here has neither.
_ALLOY_LABELS = {"job", "component_id", "component_path"}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_text(text: str) -> list[Sample]:
    """Samples of a Prometheus text exposition (comments skipped)."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        labels = {m["key"]: m["value"] for m in _LABEL.finditer(match["labels"] or "")}
        samples.append(Sample(match["name"], labels, float(match["value"])))
    return samples


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def scrape(port: int) -> list[Sample]:
    response = httpx.get(f"http://{LOOPBACK}:{port}/metrics", timeout=10)
    response.raise_for_status()
    return parse_text(response.text)


def span(trace_id: str, span_id: str, *, error: bool = False, payload_bytes: int = 0, name: str = "GET /cart",
         kind: int = SPAN_KIND_SERVER, parent: str = "") -> dict[str, Any]:
    """One OTLP/JSON span of ``kind`` (a server span unless told), a child of span ``parent`` when given;
    ``payload_bytes`` of attribute value make it that much larger."""
    now = time.time_ns()
    attributes = [{"key": "payload", "value": {"stringValue": "x" * payload_bytes}}] if payload_bytes else []
    return {
        "traceId": trace_id, "spanId": span_id, **({"parentSpanId": parent} if parent else {}), "name": name, "kind": kind,
        "startTimeUnixNano": str(now - 5_000_000), "endTimeUnixNano": str(now),
        "status": {"code": STATUS_ERROR} if error else {},
        "attributes": attributes,
    }


def post_spans(port: int, spans: list[dict[str, Any]], service: str = "checkout", environment: str = "prod") -> int:
    """POST ``spans`` as one OTLP/HTTP JSON request; the HTTP status."""
    resource = {"attributes": [
        {"key": "service.name", "value": {"stringValue": service}},
        {"key": "deployment.environment", "value": {"stringValue": environment}},
    ]}
    body = json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}).encode()
    return httpx.post(f"http://{LOOPBACK}:{port}/v1/traces", content=body, headers={"Content-Type": "application/json"}, timeout=60).status_code


# Alloy v1.10.1 exports its otelcol components' instruments with the unit and type suffixes of
# go.opentelemetry.io/otel/exporters/prometheus (otelcol_exporter_send_failed_spans_total,
# http_server_request_duration_seconds_count); the collector's reader writes the same names with these options.
ALLOY_NAMING = {"without_units": False, "without_type_suffix": False}


def alert_rule(name: str) -> dict[str, Any]:
    """The stack-delivery alert ``name`` of rules/observability-stack.yaml."""
    groups = yaml.safe_load((RULES_DIR / "observability-stack.yaml").read_text(encoding="utf-8"))["groups"]
    (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == name]
    return dict(rule)


def read_by(alert: str, sample: Sample) -> bool:
    """Whether a selector of ``alert``'s expression selects ``sample`` (its name and every label matcher but
    those of Alloy's own scrape and registry)."""
    expr = alert_rule(alert)["expr"]
    for selector in _SELECTOR.finditer(expr):
        if selector["name"] != sample.name:
            continue
        ok = True
        for m in _MATCHER.finditer(selector["matchers"]):
            if m["label"] in _ALLOY_LABELS:
                continue
            value = sample.labels.get(m["label"], "")
            pattern = m["value"].replace("\\\\", "\\")
            ok &= {"=": value == pattern, "!=": value != pattern,
                   "=~": re.fullmatch(pattern, value) is not None, "!~": re.fullmatch(pattern, value) is None}[m["op"]]
        if ok:
            return True
    return False


def telemetry(port: int, *, alloy_names: bool = False) -> dict[str, Any]:
    """The collector's own metrics, served as Prometheus text on ``port`` (under Alloy's names with ``alloy_names``)."""
    exporter: dict[str, Any] = {"host": LOOPBACK, "port": port, **(ALLOY_NAMING if alloy_names else {})}
    return {"metrics": {"level": "detailed", "readers": [{"pull": {"exporter": {"prometheus": exporter}}}]}}


@dataclass
class Collector:
    """A running collector: its config, its telemetry port, its log file."""

    config: Mapping[str, Any]
    telemetry_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def own_metrics(self) -> list[Sample]:
        return scrape(self.telemetry_port)


def collector_config(receivers: Mapping[str, Any], pipelines: Mapping[str, Any], *, telemetry_port: int, alloy_names: bool = False,
                     **sections: Mapping[str, Any]) -> dict[str, Any]:
    """A collector config: ``sections`` are processors, exporters, connectors (each a mapping)."""
    return {"receivers": dict(receivers), **{k: dict(v) for k, v in sections.items()},
            "service": {"telemetry": telemetry(telemetry_port, alloy_names=alloy_names), "pipelines": dict(pipelines)}}


@contextmanager
def running(config: Mapping[str, Any], directory: Path, program: str = "otelcol") -> Iterator[Collector]:
    """Start the built collector ``program`` (tools/versions.yaml) with ``config`` (its telemetry port taken from
    the config) and stop it after."""
    binary = tool(program)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    port = int(config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"])
    collector = Collector(config, port, directory / "collector.log")
    with collector.log.open("wb") as log:
        collector.process = subprocess.Popen([binary, "--config", f"file:{path}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            def up() -> bool:
                if collector.process is not None and collector.process.poll() is not None:
                    raise AssertionError(f"{program} exited {collector.process.returncode}:\n{collector.log.read_text()[-3000:]}")
                try:
                    return bool(collector.own_metrics() is not None)
                except httpx.HTTPError:
                    return False

            assert wait_for(up, 60, 0.2), f"{program} did not serve its telemetry on {port}:\n{collector.log.read_text()[-3000:]}"
            yield collector
        finally:
            collector.process.terminate()
            try:
                collector.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                collector.process.kill()
                collector.process.wait()


def ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports."""
    found: list[int] = []
    while len(found) < count:
        port = free_port()
        if port not in found:
            found.append(port)
    return found
