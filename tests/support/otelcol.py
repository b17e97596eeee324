"""The OpenTelemetry Collector that `make tools` builds (tools/versions.yaml: otelcol), run on loopback by tests.

It stands in for Alloy's trace pipeline (Alloy wraps the same upstream components; its own module cannot be
built here): a test writes a collector config mirroring what the rendered Alloy config does, sends spans
over OTLP/HTTP (JSON), and reads Prometheus text from the collector's prometheus exporter and from its own
telemetry (``otelcol_*`` counters, the names Alloy's otelcol components export too).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.tools import tool
from tooling.local_cluster import free_port, wait_for

LOOPBACK = "127.0.0.1"
SPAN_KIND_SERVER = 2
STATUS_ERROR = 2
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


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
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=10) as response:
        return parse_text(response.read().decode())


def span(trace_id: str, span_id: str, *, error: bool = False, payload_bytes: int = 0, name: str = "GET /cart") -> dict[str, Any]:
    """One OTLP/JSON server span; ``payload_bytes`` of attribute value make it that much larger."""
    now = time.time_ns()
    attributes = [{"key": "payload", "value": {"stringValue": "x" * payload_bytes}}] if payload_bytes else []
    return {
        "traceId": trace_id, "spanId": span_id, "name": name, "kind": SPAN_KIND_SERVER,
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
    request = urllib.request.Request(f"http://{LOOPBACK}:{port}/v1/traces", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


# Alloy v1.10.1 exports its otelcol components' instruments with the unit and type suffixes of
# go.opentelemetry.io/otel/exporters/prometheus (otelcol_exporter_send_failed_spans_total,
# http_server_request_duration_seconds_count); the collector's reader writes the same names with these options.
ALLOY_NAMING = {"without_units": False, "without_type_suffix": False}


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
def running(config: Mapping[str, Any], directory: Path) -> Iterator[Collector]:
    """Start the built collector with ``config`` (its telemetry port taken from the config) and stop it after."""
    binary = tool("otelcol")
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
                    raise AssertionError(f"otelcol exited {collector.process.returncode}:\n{collector.log.read_text()[-3000:]}")
                try:
                    return bool(collector.own_metrics() is not None)
                except OSError:
                    return False

            assert wait_for(up, 60, 0.2), f"otelcol did not serve its telemetry on {port}:\n{collector.log.read_text()[-3000:]}"
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
