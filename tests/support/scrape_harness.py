"""Run the operator's generated scrape configs on the real Prometheus against small local exporters.

``Exposition`` serves exposition text a test changes while Prometheus scrapes it; ``discovered_pod`` and
``discovered_endpoint`` give the ``__meta_kubernetes_*`` labels Kubernetes discovery would give a rendered
pod or the kubelet's endpoint, so the operator's relabelling (tooling/operator_config.py ``localised``)
runs on them as in the cluster; ``LocalPrometheus`` runs build/tools/bin/prometheus (``make tools``) on a
config made of those scrapes.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tests.support.tools import tool
from tooling.localstack import HOST, Component, http_get, wait_until
from tooling.render import Render


class Exposition:
    """An HTTP server on loopback answering every GET with ``text()`` (Prometheus text format 0.0.4)."""

    def __init__(self, text: Callable[[], str]) -> None:
        self.text = text
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def discovered_pod(render: Render, kind: str, name: str, port_name: str, pod_name: str) -> dict[str, str]:
    """The pod-role discovery labels of a pod of the rendered workload ``kind``/``name`` on its port ``port_name``."""
    (workload,) = [m for m in render.manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    template = workload["spec"]["template"]
    labels: dict[str, str] = {
        "__meta_kubernetes_namespace": workload["metadata"]["namespace"],
        "__meta_kubernetes_pod_name": pod_name,
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_ready": "true",
    }
    for key, value in template["metadata"]["labels"].items():
        safe = "".join(c if c.isalnum() else "_" for c in key)
        labels[f"__meta_kubernetes_pod_label_{safe}"] = value
        labels[f"__meta_kubernetes_pod_labelpresent_{safe}"] = "true"
    for container in template["spec"]["containers"]:
        for port in container.get("ports") or []:
            if port.get("name") == port_name:
                labels["__meta_kubernetes_pod_container_name"] = container["name"]
                labels["__meta_kubernetes_pod_container_port_name"] = port_name
                labels["__meta_kubernetes_pod_container_port_number"] = str(port["containerPort"])
                return labels
    raise AssertionError(f"{kind}/{name} has no container port named {port_name}")


def discovered_endpoint(namespace: str, service: str, service_labels: Mapping[str, str], port_name: str, node: str) -> dict[str, str]:
    """The endpoints-role discovery labels of a node's address behind ``service`` (the kubelet's Service)."""
    labels = {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_service_name": service,
        "__meta_kubernetes_endpoint_port_name": port_name,
        "__meta_kubernetes_endpoint_ready": "true",
        "__meta_kubernetes_endpoint_address_target_kind": "Node",
        "__meta_kubernetes_endpoint_address_target_name": node,
    }
    for key, value in service_labels.items():
        safe = "".join(c if c.isalnum() else "_" for c in key)
        labels[f"__meta_kubernetes_service_label_{safe}"] = value
        labels[f"__meta_kubernetes_service_labelpresent_{safe}"] = "true"
    return labels


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class LocalPrometheus:
    """The real Prometheus on loopback with ``config`` (and ``rules``, a rule file's spec, when given)."""

    def __init__(self, config: dict[str, Any], rules: dict[str, Any] | None = None, flags: tuple[str, ...] = ()) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="scrape-harness-"))
        if rules is not None:
            (self.workdir / "rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
            config = {**config, "rule_files": [str(self.workdir / "rules.yaml")]}
        (self.workdir / "prometheus.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self.port = free_port()
        self.component = Component(
            "prometheus",
            [tool("prometheus"), f"--config.file={self.workdir / 'prometheus.yaml'}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address={HOST}:{self.port}", *flags],
            self.port,
            self.workdir / "prometheus.log",
        )

    def __enter__(self) -> LocalPrometheus:
        self.component.start()
        try:
            wait_until(lambda: b"Ready" in http_get(f"http://{HOST}:{self.port}/-/ready"), 30, "Prometheus ready")
        except Exception as error:
            self.component.stop()
            raise AssertionError(f"Prometheus did not start: {self.component.tail()}") from error
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.component.stop()

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        body = json.loads(http_get(f"http://{HOST}:{self.port}/api/v1/{path}?{query}"))
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant query's series at the current time: [{"metric": {...}, "value": [t, "v"]}, ...]."""
        result: list[dict[str, Any]] = self.api("query", query=promql, time=f"{time.time():.3f}")["result"]
        return result

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            wait_until(check, timeout, what)
        except Exception as error:
            raise AssertionError(f"{what}: not within {timeout:g}s. Prometheus log:\n{self.component.tail()}") from error

    def alerts(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return found
