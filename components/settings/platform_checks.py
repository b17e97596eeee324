"""Cross-field rules of the platform sections (platform.py): resources, availability and network."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from components.kit.context import HOST_NAMESPACE_SUFFIX
from components.settings.errors import Problem
from components.settings.model import Settings
from components.settings.types import Resources, Workload
from components.settings.units import cpu_cores, quantity_bytes


def request_above_limit_problems(settings: Settings) -> list[Problem]:
    problems = []
    for path, resources in _all_resources(settings, ""):
        for name, parse in (("cpu", cpu_cores), ("memory", quantity_bytes)):
            request = getattr(resources.requests, name)
            limit = getattr(resources.limits, name)
            if parse(request) > parse(limit):
                problems.append(
                    Problem(f"{path}.requests.{name}", request, f"is above {path}.limits.{name} {limit}; accepted form: a request at most its limit")
                )
    return problems


def _all_resources(model: BaseModel, path: str) -> Iterator[tuple[str, Resources]]:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{path}.{field.alias or name}".lstrip(".")
        if isinstance(value, Resources):
            yield key, value
        elif isinstance(value, BaseModel):
            yield from _all_resources(value, key)


def disruption_budget_problems(settings: Settings) -> list[Problem]:
    # A budget that lets every replica go at once protects nothing.
    budget = settings.availability.max_unavailable
    replicated = sorted(
        (field.alias or name, value.replicas)
        for name, field in type(settings).model_fields.items()
        if isinstance(value := getattr(settings, name), Workload) and value.replicas > 1
    )
    return [
        Problem(
            "availability.maxUnavailable",
            budget,
            f"lets all {replicas} replicas of {key} go at once; accepted form: a whole number from 1 to {replicas - 1} (below {key}.replicas)",
        )
        for key, replicas in replicated
        if budget >= replicas
    ]


def single_replica_problems(key: str, replicas: int, why: str) -> list[Problem]:
    """A refusal of ``replicas`` above one for a component that cannot run more than one (``why`` says why)."""
    if replicas == 1:
        return []
    return [Problem(key, replicas, f"accepted form: 1 ({why})")]


def network_problems(settings: Settings) -> list[Problem]:
    # Under default deny, an empty list closes a flow the stack cannot work without.
    network = settings.network
    if not network.policies:
        return []
    needed = [
        ("apiServerCidrs", network.api_server_cidrs, True, "the operator, kube-state-metrics, Alloy and Prometheus could not reach the Kubernetes API"),
        ("nodeCidrs", network.node_cidrs, True, "Prometheus could not scrape the kubelet, cAdvisor and node-exporter"),
        (
            "receiverCidrs",
            network.receiver_cidrs,
            bool(settings.alerting.slack or settings.alerting.email or settings.alerting.paging),
            "Alertmanager could not reach its receivers (Slack, PagerDuty, e-mail)",
        ),
        (
            "objectStorageCidrs",
            network.object_storage_cidrs,
            settings.loki.object_storage is not None or settings.tempo.object_storage is not None,
            "Loki and Tempo could not reach their bucket",
        ),
    ]
    problems = [
        Problem(
            f"network.{key}", list(cidrs), f"is empty, so under the default-deny policies {why}; accepted form: a list of at least one CIDR (e.g. [10.0.0.0/8])"
        )
        for key, cidrs, used, why in needed
        if used and not cidrs
    ]
    if not network.dns_namespaces and not network.dns_cidrs:
        problems.append(Problem(
            "network.dnsNamespaces", [], "is empty and so is network.dnsCidrs, so under the default-deny policies no pod of the stack could "
            "resolve a name; accepted form: a list of the namespaces of the cluster's DNS pods (e.g. [kube-system]), or resolver CIDRs in "
            "network.dnsCidrs"
        ))
    if not network.dns_ports:
        problems.append(Problem(
            "network.dnsPorts", [], "is empty, so under the default-deny policies no pod of the stack could resolve a name; accepted form: "
            "a list of at least one port, the DNS pods' own (e.g. [53], or [5353] on OpenShift)"
        ))
    if not network.api_server_ports:
        problems.append(Problem(
            "network.apiServerPorts", [], "is empty, so under the default-deny policies the operator, kube-state-metrics, Alloy and Prometheus "
            "could not reach the Kubernetes API; accepted form: a list of at least one port (e.g. [443, 6443])"
        ))
    return problems


def readiness_wait_problems(settings: Settings) -> list[Problem]:
    # Without the waits `pulumi up` reports success for workloads that never became ready.
    if settings.environment == "prod" and settings.kubernetes.skip_readiness_waits:
        return [
            Problem(
                "kubernetes.skipReadinessWaits",
                True,
                "is for a control plane without nodes (the deploy test) and would let a prod deploy succeed with pods that never "
                "became ready; accepted form: false (leave it unset) in prod",
            )
        ]
    return []


def host_namespace_problems(settings: Settings) -> list[Problem]:
    # The stack also makes <namespace>-host (components/namespace.py); a namespace name is at most 63 characters.
    longest = 63 - len(HOST_NAMESPACE_SUFFIX)
    if len(settings.namespace) > longest:
        return [
            Problem(
                "namespace",
                settings.namespace,
                f"is {len(settings.namespace)} characters; accepted form: at most {longest}, since the stack also makes "
                f"the namespace {settings.namespace}{HOST_NAMESPACE_SUFFIX} for node-exporter",
            )
        ]
    return []
