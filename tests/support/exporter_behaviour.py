"""How the exporters the stack scrapes label and stamp their series: the other side of every scrape setting.

Written from each exporter's documentation and exposition at the deployed version; the scrape tests hold
the operator-generated config (tooling/operator_config.py) against it, and the rules and panels that read
these labels against both.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.wiring import endpoints, scrape_jobs


@dataclass(frozen=True)
class Behaviour:
    """``own_labels``: labels the exporter puts on its series that a scrape's target labels may also carry (a
    clash the scrape resolves: the target's win and the series' move to ``exported_<name>`` unless honor_labels);
    ``explicit_timestamps``: whether samples carry the exporter's own timestamp."""

    own_labels: frozenset[str]
    explicit_timestamps: bool
    why: str


BEHAVIOUR = {
    endpoints.KUBE_STATE_METRICS_NAME: Behaviour(
        frozenset({"namespace", "pod", "container", "service", "node"}), False,
        "kube-state-metrics v2.16.0 labels each series with the object it describes (kube_pod_container_resource_limits: "
        "namespace, pod, container, node; kube_service_*: namespace, service); no timestamps since v2.0",
    ),
    scrape_jobs.CADVISOR: Behaviour(
        frozenset({"namespace", "pod", "container"}), True,
        "the kubelet's /metrics/cadvisor labels container_* with the container's namespace, pod and container and stamps "
        "each sample with the time cAdvisor collected it (kube-prometheus#695)",
    ),
    endpoints.KUBELET_NAME: Behaviour(
        frozenset({"namespace"}), False,
        "kubelet_volume_stats_* carry the namespace and persistentvolumeclaim of the volume",
    ),
    endpoints.PUSHGATEWAY_NAME: Behaviour(
        frozenset({"job", "instance"}), False,
        "pushed series carry the job and instance of their grouping key (Pushgateway README, 'About the job and instance labels')",
    ),
}
