"""Prometheus Operator: its CRDs (server-side applied), Deployment and least-privilege RBAC.

The operator is scoped to the stack's namespace (--namespaces): it reconciles
only this stack's custom resources, so its write access is a Role there.
Cluster-wide it only reads nodes and namespaces; in the kubelet Service's
namespace it may maintain that one Service and its Endpoints.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kit.labels import selector_labels, standard_labels
from components.kit.rbac import cluster_access, namespace_access, rule
from components.kit.workload import ContainerSpec, HttpCheck, Port, Probes, pod_spec, pod_template
from components.metrics.operator_crds import register_crds
from components.settings import Settings
from components.wiring import endpoints

NAME = endpoints.OPERATOR_NAME
# What reconciling the objects it owns takes: read, watch, write, clean up. No bind/escalate.
RECONCILE = ("get", "list", "watch", "create", "update", "patch", "delete")
MONITORING_RESOURCES = (
    "alertmanagers",
    "alertmanagers/finalizers",
    "alertmanagers/status",
    "alertmanagerconfigs",
    "prometheuses",
    "prometheuses/finalizers",
    "prometheuses/status",
    "prometheusagents",
    "prometheusagents/finalizers",
    "prometheusagents/status",
    "thanosrulers",
    "thanosrulers/finalizers",
    "thanosrulers/status",
    "scrapeconfigs",
    "scrapeconfigs/status",
    "servicemonitors",
    "servicemonitors/status",
    "podmonitors",
    "podmonitors/status",
    "probes",
    "probes/status",
    "prometheusrules",
)


# Events (kubectl describe on a Prometheus resource explains a rejected rule or monitor): the
# events.k8s.io API the operator checks for, and the core one its recorder may fall back to.
EVENT_GROUPS = ("events.k8s.io", "")
EVENT_VERBS = ("create", "patch")


def operator_args(settings: Settings) -> tuple[str, ...]:
    config = settings.operator
    reloader = config.config_reloader_resources
    return (
        f"--web.listen-address=:{endpoints.OPERATOR.port}",
        f"--namespaces={settings.namespace}",
        f"--kubelet-service={config.kubelet_service}",
        "--kubelet-endpoints=true",
        "--kubelet-endpointslice=false",
        f"--prometheus-config-reloader={config.config_reloader_image}",
        f"--config-reloader-cpu-request={reloader.requests.cpu}",
        f"--config-reloader-cpu-limit={reloader.limits.cpu}",
        f"--config-reloader-memory-request={reloader.requests.memory}",
        f"--config-reloader-memory-limit={reloader.limits.memory}",
    )


class PrometheusOperator(pulumi.ComponentResource):
    """The operator and its CRDs; ``crds`` is what every custom resource must depend on."""

    crds: list[pulumi.Resource]

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:PrometheusOperator", NAME, None, opts)
        config = settings.operator
        namespace = settings.namespace
        labels = standard_labels(NAME, settings.context, role="operator", image=config.image)
        metadata = {"name": NAME, "namespace": namespace, "labels": labels}
        child = pulumi.ResourceOptions(parent=self)
        self.crds = list(register_crds(settings, self))

        account = k8s.core.v1.ServiceAccount(NAME, metadata=metadata, automount_service_account_token=False, opts=child)
        access = pulumi.ResourceOptions(parent=self, depends_on=[account])
        cluster_access(
            f"{NAME}-{namespace}",
            account=NAME,
            account_namespace=namespace,
            labels=labels,
            rules=[
                rule([""], ["nodes"], ["list", "watch"]),
                rule([""], ["namespaces"], ["get", "list", "watch"]),
                rule(["storage.k8s.io"], ["storageclasses"], ["get"]),
                # The operator asks once, for all namespaces, whether it may create and patch
                # events.k8s.io Events (cmd/operator/main.go, k8s.IsAllowed with no namespace); a
                # namespaced grant answers no, and it falls back to a recorder that emits nothing.
                rule(list(EVENT_GROUPS), ["events"], list(EVENT_VERBS)),
            ],
            opts=access,
        )
        namespace_access(
            NAME,
            namespace=namespace,
            account=NAME,
            account_namespace=namespace,
            labels=labels,
            rules=[
                rule(["monitoring.coreos.com"], MONITORING_RESOURCES, RECONCILE),
                rule(["apps"], ["statefulsets"], RECONCILE),
                rule([""], ["configmaps", "secrets"], RECONCILE),
                rule([""], ["pods"], ["list", "delete"]),
                rule([""], ["services", "services/finalizers"], ["get", "create", "update", "delete"]),
                rule(["networking.k8s.io"], ["ingresses"], ["get", "list", "watch"]),
            ],
            opts=access,
        )
        kubelet_namespace = config.kubelet_service.split("/", 1)[0]
        namespace_access(
            f"{NAME}-{namespace}-kubelet",
            namespace=kubelet_namespace,
            account=NAME,
            account_namespace=namespace,
            labels=labels,
            rules=[rule([""], ["services", "services/finalizers", "endpoints"], ["get", "create", "update", "delete"])],
            opts=access,
        )

        endpoint = endpoints.OPERATOR
        operator = ContainerSpec(
            name=NAME,
            image=config.image,
            resources=config.resources,
            probes=Probes(liveness=HttpCheck(endpoint.healthy_path, endpoint.port_name), readiness=HttpCheck(endpoint.ready_path, endpoint.port_name)),
            ports=(Port(endpoint.port_name, endpoint.port),),
            args=operator_args(settings),
            # The operator's documented setting: trade a little CPU for a smaller heap.
            env=({"name": "GOGC", "value": "30"},),
        )
        k8s.apps.v1.Deployment(
            NAME,
            metadata=metadata,
            spec={
                "replicas": config.replicas,
                "selector": {"matchLabels": selector_labels(NAME, settings.context)},
                "template": pod_template(
                    labels=labels,
                    spec=pod_spec(containers=[operator], service_account_name=NAME, automount_service_account_token=True),
                ),
            },
            # The operator starts watching only once its CRDs are served.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, *self.crds]),
        )
        self.service = k8s.core.v1.Service(
            NAME,
            metadata=metadata,
            spec={
                "selector": selector_labels(NAME, settings.context),
                "ports": [{"name": endpoint.port_name, "port": endpoint.port, "targetPort": endpoint.port_name}],
            },
            opts=child,
        )
        self.register_outputs({})
