"""The operator's generated scrapes on the real Prometheus 3.5 (``make tools``), against kube-state-metrics-like and
cAdvisor-like targets (issue 22, kind 4).

Each scrape is the operator-generated config of the prod render (``operator-config``) with only its
Kubernetes discovery replaced by a loopback target carrying the discovery labels of the rendered pod or the
kubelet's endpoint (tests/support/scrape_harness.py): relabelling, honour settings, timestamps and metric
drops are the operator's. Time is compressed on the copies only: a 1s scrape and evaluation interval,
and the alert's ``for`` set to 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from components.kit.labels import NAME_LABEL
from components.wiring import endpoints, scrape_jobs
from tests.support.scrape_harness import Exposition, LocalPrometheus, discovered_endpoint, discovered_pod
from tooling import operator_config
from tooling.render import Render

INTERVAL = "1s"
# The container the memory alert is about, as both exporters describe it.
WORKLOAD = {"namespace": "copilot", "pod": "parsing-0", "container": "parsing"}
LIMIT_BYTES = 1000
WORKING_SET_BYTES = 950  # 95% of the limit: over MemoryExhaustion's 90%


@pytest.fixture(scope="module")
def prod(render_stack: Callable[..., Render]) -> Render:
    return render_stack("prod")


@pytest.fixture(scope="module")
def generated(prod: Render, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return operator_config.of_render(prod.files, tmp_path_factory.mktemp("operator-config"))


def labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(pairs.items())) + "}"


def ksm_text() -> str:
    return (
        "# TYPE kube_pod_container_resource_limits gauge\n"
        f"kube_pod_container_resource_limits{labels({**WORKLOAD, 'node': 'node-a', 'resource': 'memory', 'unit': 'byte'})} {LIMIT_BYTES}\n"
    )


def cadvisor_text(containers: list[dict[str, str]]) -> str:
    """cAdvisor as the kubelet serves it: every sample stamped with the time it was collected (milliseconds)."""
    now = int(time.time() * 1000)
    lines = ["# TYPE container_memory_working_set_bytes gauge"]
    for container in containers:
        own = {**container, "id": f"/kubepods/{container['pod']}/{container['container']}", "image": "parsing:1", "name": container["container"]}
        lines.append(f"container_memory_working_set_bytes{labels(own)} {WORKING_SET_BYTES} {now}")
    return "\n".join(lines) + "\n"


def scrape_of(generated: dict[str, Any], prod: Render, job: str, port: str | None = None) -> dict[str, Any]:
    """The generated scrape whose targets get ``job`` (on the pod port named ``port``, where a monitor has several)."""

    def on_port(scrape: dict[str, Any]) -> bool:
        return port is None or {"target_label": "endpoint", "replacement": port} in scrape["relabel_configs"]

    found = [s for s in generated["scrape_configs"] if operator_config.job_label(s) == job and on_port(s)]
    assert len(found) == 1, [s["job_name"] for s in found]
    scrape: dict[str, Any] = found[0]
    return scrape


def kubelet_discovery(prod: Render, node: str) -> dict[str, str]:
    namespace, service = prod.settings.operator.kubelet_service.split("/", 1)
    return discovered_endpoint(namespace, service, {NAME_LABEL: endpoints.KUBELET_NAME}, "https-metrics", node)


def global_section(generated: dict[str, Any]) -> dict[str, Any]:
    return {**operator_config.global_config(generated), "scrape_interval": INTERVAL, "evaluation_interval": INTERVAL}


def memory_rule(prod: Render) -> dict[str, Any]:
    """The rendered MemoryExhaustion rule, ``for`` 0."""
    for path, text in prod.files.items():
        if path.startswith("rules/"):
            for group in yaml.safe_load(text)["groups"]:
                for rule in group["rules"]:
                    if rule.get("alert") == "MemoryExhaustion":
                        return {"groups": [{"name": "memory", "interval": INTERVAL, "rules": [{**rule, "for": "0s"}]}]}
    raise AssertionError("no MemoryExhaustion rule in the render")


@pytest.fixture
def exporters() -> Iterator[tuple[Exposition, Exposition, list[dict[str, str]]]]:
    containers = [dict(WORKLOAD)]
    ksm, cadvisor = Exposition(ksm_text), Exposition(lambda: cadvisor_text(containers))
    yield ksm, cadvisor, containers
    ksm.close()
    cadvisor.close()


def test_memory_exhaustion_fires_on_series_labelled_as_the_generated_scrapes_label_them(
    prod: Render, generated: dict[str, Any], exporters: tuple[Exposition, Exposition, list[dict[str, str]]]
) -> None:
    """kube-state-metrics and cAdvisor both describe copilot/parsing-0/parsing; through the operator's scrapes the
    join of MemoryExhaustion must still see one container (with honorLabels false on kube-state-metrics its
    namespace/pod/container are the exporter pod's, and the alert never fires)."""
    ksm, cadvisor, _ = exporters
    ksm_pod = discovered_pod(prod, "Deployment", endpoints.KUBE_STATE_METRICS_NAME, endpoints.KUBE_STATE_METRICS.port_name, "kube-state-metrics-7d9c-x2k4q")
    config = {
        "global": global_section(generated),
        "scrape_configs": [
            operator_config.localised(scrape_of(generated, prod, endpoints.KUBE_STATE_METRICS_NAME, endpoints.KUBE_STATE_METRICS.port_name),
                                      ksm.address, ksm_pod),
            operator_config.localised(scrape_of(generated, prod, scrape_jobs.CADVISOR), cadvisor.address, kubelet_discovery(prod, "node-a")),
        ],
    }
    with LocalPrometheus(config, memory_rule(prod)) as prometheus:
        prometheus.wait_for(lambda: len(prometheus.query("kube_pod_container_resource_limits")) == 1
                            and len(prometheus.query("container_memory_working_set_bytes")) == 1, 30, "both targets scraped")
        limits = prometheus.query("kube_pod_container_resource_limits")[0]["metric"]

        def firing() -> bool:
            return any(a["labels"]["alertname"] == "MemoryExhaustion" and a["state"] == "firing" for a in prometheus.alerts())

        try:
            prometheus.wait_for(firing, 20, "MemoryExhaustion firing")
        except AssertionError as error:
            raise AssertionError(f"MemoryExhaustion never fired; kube-state-metrics' series as scraped: {limits}") from error
        (alert,) = [a for a in prometheus.alerts() if a["labels"]["alertname"] == "MemoryExhaustion"]
        assert {k: alert["labels"].get(k) for k in WORKLOAD} == WORKLOAD
        assert not any(k.startswith("exported_") for k in limits), limits


def test_a_gone_containers_cadvisor_series_go_stale_at_once_and_linger_without_the_setting(
    prod: Render, generated: dict[str, Any], exporters: tuple[Exposition, Exposition, list[dict[str, str]]]
) -> None:
    """cAdvisor's series carry their own timestamps. With the generated scrape (track_timestamps_staleness) a
    container that leaves the exposition is gone from an instant query within a few scrapes; the same scrape
    without it (Prometheus's default, the previous render) keeps answering with the last sample for the
    5-minute lookback (kube-prometheus#695)."""
    _, cadvisor, containers = exporters
    rendered = scrape_of(generated, prod, scrape_jobs.CADVISOR)
    assert rendered.get("track_timestamps_staleness") is True
    untracked = {k: v for k, v in rendered.items() if k != "track_timestamps_staleness"}
    untracked["job_name"] = rendered["job_name"] + "-untracked"
    untracked["relabel_configs"] = [*rendered["relabel_configs"], {"target_label": "job", "replacement": "cadvisor-untracked"}]
    discovery = kubelet_discovery(prod, "node-a")
    config = {
        "global": global_section(generated),
        "scrape_configs": [operator_config.localised(rendered, cadvisor.address, discovery), operator_config.localised(untracked, cadvisor.address, discovery)],
    }
    selector = 'container_memory_working_set_bytes{{job="{job}", pod="parsing-0"}}'
    with LocalPrometheus(config) as prometheus:
        both = ("cadvisor", "cadvisor-untracked")
        prometheus.wait_for(lambda: all(prometheus.query(selector.format(job=j)) for j in both), 30, "both scrapes see the container")
        containers.clear()  # the container is gone (OOM-killed and replaced, or deleted)
        gone_at = time.monotonic()
        prometheus.wait_for(lambda: not prometheus.query(selector.format(job="cadvisor")), 15, "the tracked series going stale")
        seconds = time.monotonic() - gone_at
        time.sleep(5)
        assert prometheus.query(selector.format(job="cadvisor")) == []
        lingering = prometheus.query(selector.format(job="cadvisor-untracked"))
        assert lingering, "without track_timestamps_staleness the series should linger for the lookback"
        assert seconds < 10
