"""A restarted collector does not re-send, when its read positions are on storage that outlives the pod
(issue 22, kind 1: state that must outlive a pod kept on pod-lifetime storage; grafana/alloy#876).

What runs here is not Alloy (its module is not served, so it cannot be built): it is the OpenTelemetry
Collector at the release Alloy v1.10.1 wraps (`make tools`: otelcol-alloy, contrib v0.128.0), whose filelog
receiver keeps its read offsets in the file_storage extension's directory. That pair is the collector's
counterpart of loki.source.kubernetes' positions file under Alloy's --storage.path, and with
``start_at: beginning`` it reads a file it holds no offset for from its start, as loki.source.kubernetes
v1.10.1 asks for a container's whole log when it holds no position. So these tests show the kind's
semantics on a real collector, a checkpoint on storage that is kept or lost with the pod, not Alloy's code.

A log file of LINES lines is read and delivered over OTLP/HTTP to a sink in the test; the collector stops
(as a pod is replaced), APPENDED lines are written meanwhile, and a new collector starts:

(a) on the storage directory the first one used (the rendered StatefulSet's claim, kept across pods): it
    delivers exactly the appended lines, none of the first LINES again;
(b) on a fresh directory (what an emptyDir gives a new pod): it delivers every line again.

Which of the two is the stack's case is read from the render: the volume mounted at Alloy's --storage.path.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from components.wiring import endpoints
from tests.support.k8s_objects import manifests
from tests.support.otelcol import LOOPBACK, Collector, collector_config, ports, running, total
from tooling.local_cluster import wait_for
from tooling.render import Render

PROGRAM = "otelcol-alloy"
LINES = 200
APPENDED = 30
# Short polls so a test takes seconds; the semantics (offsets kept per file) do not depend on them.
POLL_INTERVAL = "100ms"
# The collector's own counters of log records (v0.128.0, its default Prometheus names).
ACCEPTED = "otelcol_receiver_accepted_log_records_total"
SENT = "otelcol_exporter_sent_log_records_total"
WORKLOADS = ("StatefulSet", "DaemonSet", "Deployment")


def storage_outlives_the_pod(objects: list[dict[str, Any]], name: str = endpoints.ALLOY_NAME) -> bool:
    """Whether the volume at workload ``name``'s --storage.path outlives its pod: True for a StatefulSet's
    claim template or a PersistentVolumeClaim volume, False for any other pod volume (emptyDir).

    ``objects``: a render's manifests. AssertionError when the workload, flag or mount is missing."""
    [workload] = [m for m in objects if m["kind"] in WORKLOADS and m["metadata"]["name"] == name]
    spec = workload["spec"]["template"]["spec"]
    [alloy] = [c for c in spec["containers"] if c["name"] == name]
    [path] = [a.split("=", 1)[1] for a in alloy["args"] if a.startswith("--storage.path=")]
    mounts = [m for m in alloy["volumeMounts"] if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")]
    assert mounts, f"{workload['kind']}/{name}: nothing mounted at --storage.path={path}: the positions are in the container's own filesystem"
    volume = max(mounts, key=lambda m: len(m["mountPath"]))["name"]
    if volume in {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}:
        return True
    [source] = [v for v in spec.get("volumes", []) if v["name"] == volume]
    return "persistentVolumeClaim" in source


class _Sink:
    """An OTLP/HTTP (JSON) logs endpoint on loopback: the bodies of the log records it received, in order."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's handler name
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    sink.bodies += [
                        record["body"]["stringValue"]
                        for resource in request.get("resourceLogs", [])
                        for scope in resource.get("scopeLogs", [])
                        for record in scope.get("logRecords", [])
                    ]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/v1/logs"

    @contextmanager
    def serving(self) -> Iterator[_Sink]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def _config(log: Path, storage: Path, sink: _Sink) -> dict[str, Any]:
    """filelog (from the beginning, offsets in file_storage at ``storage``) -> otlphttp (JSON) to ``sink``."""
    [own] = ports(1)
    config = collector_config(
        {"filelog": {"include": [str(log)], "start_at": "beginning", "storage": "file_storage", "poll_interval": POLL_INTERVAL}},
        {"logs": {"receivers": ["filelog"], "exporters": ["otlphttp"]}},
        telemetry_port=own,
        exporters={"otlphttp": {"logs_endpoint": sink.url, "encoding": "json", "compression": "none"}},
        extensions={"file_storage": {"directory": str(storage)}},
    )
    config["service"]["extensions"] = ["file_storage"]
    return config


def _write(log: Path, first: int, count: int) -> list[str]:
    lines = [json.dumps({"level": "info", "msg": "request served", "n": n}) for n in range(first, first + count)]
    with log.open("a", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)
    return lines


def _run(log: Path, storage: Path, sink: _Sink, directory: Path) -> list[str]:
    """Run a collector on ``storage`` until it has read the whole of ``log`` and delivered every record it
    read; the bodies delivered in that run."""
    storage.mkdir(parents=True, exist_ok=True)
    before = len(sink.bodies)
    last = log.read_text(encoding="utf-8").splitlines()[-1]

    def settled(collector: Collector) -> bool:
        own = collector.own_metrics()
        delivered = sink.bodies[before:]
        return last in delivered and total(own, ACCEPTED) == total(own, SENT) == len(delivered)

    with running(_config(log, storage, sink), directory, PROGRAM) as collector:
        assert wait_for(lambda: settled(collector), 30, 0.2), (
            f"{PROGRAM} read {total(collector.own_metrics(), ACCEPTED)} records, sent {total(collector.own_metrics(), SENT)}, "
            f"the sink got {len(sink.bodies) - before}:\n{collector.log.read_text()[-2000:]}"
        )
    return sink.bodies[before:]


def _restart(tmp_path: Path, *, keep_storage: bool) -> tuple[list[str], list[str], list[str], list[str]]:
    """(the first lines, the lines appended while stopped, what the first run delivered, what the second did)."""
    log = tmp_path / "container.log"
    first = _write(log, 0, LINES)
    with _Sink().serving() as sink:
        before = _run(log, tmp_path / "storage-pod-1", sink, tmp_path / "pod-1")
        appended = _write(log, LINES, APPENDED)
        after = _run(log, tmp_path / ("storage-pod-1" if keep_storage else "storage-pod-2"), sink, tmp_path / "pod-2")
    return first, appended, before, after


def test_the_rendered_storage_outlives_the_pod_so_a_restart_sends_only_new_lines(prod_render: Render, tmp_path: Path) -> None:
    """(a), the render's case: the storage directory is kept exactly when the rendered --storage.path is on
    a claim; the new collector then delivers the appended lines and none of the earlier ones."""
    keep = storage_outlives_the_pod(manifests(prod_render))
    first, appended, before, after = _restart(tmp_path, keep_storage=keep)
    assert sorted(before) == sorted(first)
    resent = sorted(set(after) & set(first))
    assert not resent, f"{len(resent)} of {LINES} lines sent again after a restart (storage kept: {keep})"
    assert sorted(after) == sorted(appended)


def test_storage_lost_with_the_pod_sends_every_line_again(tmp_path: Path) -> None:
    """(b), what an emptyDir gives a new pod: no offset, so the whole file is read and delivered again."""
    first, appended, before, after = _restart(tmp_path, keep_storage=False)
    assert sorted(before) == sorted(first)
    assert sorted(after) == sorted(first + appended)


def test_the_storage_check_tells_a_claim_from_an_emptydir(prod_render: Render) -> None:
    """The reading the first test relies on, on the render and on the same workload with the emptyDir the
    stack had before issue 22 (a DaemonSet with the path on an emptyDir)."""
    objects = manifests(prod_render)
    assert storage_outlives_the_pod(objects)
    [statefulset] = [m for m in objects if m["kind"] == "StatefulSet" and m["metadata"]["name"] == endpoints.ALLOY_NAME]
    spec = json.loads(json.dumps(statefulset["spec"]))
    claims = [t["metadata"]["name"] for t in spec.pop("volumeClaimTemplates")]
    spec["template"]["spec"]["volumes"] += [{"name": name, "emptyDir": {}} for name in claims]
    daemonset = {"kind": "DaemonSet", "metadata": statefulset["metadata"], "spec": spec}
    assert not storage_outlives_the_pod([daemonset])
