"""Prometheus Operator: its CRDs (server-side applied), Deployment and least-privilege RBAC.

The operator is scoped to the stack's namespace (--namespaces): it reconciles
only this stack's custom resources, so its write access is a Role there.
Cluster-wide it only reads nodes and namespaces; in the kubelet Service's
namespace it may maintain that one Service and its Endpoints.
"""

from __future__ import annotations

import pulumi

from components.kit.context import StackContext
from components.kit.objects import ComponentMeta, service
from components.kit.operated import MONITORING_GROUP
from components.kit.rbac import account, cluster_access, namespace_access, rule
from components.kit.serving import deployment, serving_container
from components.kit.workload import Port, pod_spec
from components.metrics.operator_crds import register_crds
from components.settings.metrics import OperatorSettings
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


def kubelet_namespace(kubelet_service: str) -> str:
    """The namespace of the kubelet Service the operator maintains (``kubelet_service`` is namespace/name)."""
    return kubelet_service.split("/", 1)[0]


def operator_args(config: OperatorSettings, namespace: str) -> tuple[str, ...]:
    """The operator's command line: it reconciles ``namespace`` alone."""
    reloader = config.config_reloader_resources
    return (
        f"--web.listen-address=:{endpoints.OPERATOR.port}",
        f"--namespaces={namespace}",
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

    def __init__(self, config: OperatorSettings, context: StackContext, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:PrometheusOperator", NAME, None, opts)
        namespace = context.namespace
        meta = ComponentMeta.of(NAME, context, role="operator", image=config.image)
        self.crds = list(register_crds(config.image, context, self))

        operator_account = account(meta, self)
        cluster_access(
            operator_account,
            rules=[
                rule([""], ["nodes"], ["list", "watch"]),
                rule([""], ["namespaces"], ["get", "list", "watch"]),
                rule(["storage.k8s.io"], ["storageclasses"], ["get"]),
                # The operator asks once, for all namespaces, whether it may create and patch
                # events.k8s.io Events (cmd/operator/main.go, k8s.IsAllowed with no namespace); a
                # namespaced grant answers no, and it falls back to a recorder that emits nothing.
                rule(list(EVENT_GROUPS), ["events"], list(EVENT_VERBS)),
            ],
        )
        namespace_access(
            NAME,
            namespace=namespace,
            account=operator_account,
            rules=[
                rule([MONITORING_GROUP], MONITORING_RESOURCES, RECONCILE),
                rule(["apps"], ["statefulsets"], RECONCILE),
                rule([""], ["configmaps", "secrets"], RECONCILE),
                rule([""], ["pods"], ["list", "delete"]),
                rule([""], ["services", "services/finalizers"], ["get", "create", "update", "delete"]),
                rule(["networking.k8s.io"], ["ingresses"], ["get", "list", "watch"]),
            ],
        )
        namespace_access(
            f"{NAME}-{namespace}-kubelet",
            namespace=kubelet_namespace(config.kubelet_service),
            account=operator_account,
            rules=[rule([""], ["services", "services/finalizers", "endpoints"], ["get", "create", "update", "delete"])],
        )

        endpoint = endpoints.OPERATOR
        operator = serving_container(
            NAME,
            config,
            endpoint,
            args=operator_args(config, namespace),
            # The operator's documented setting: trade a little CPU for a smaller heap.
            env=({"name": "GOGC", "value": "30"},),
        )
        deployment(
            meta,
            replicas=config.replicas,
            pod=pod_spec(containers=[operator], service_account_name=NAME, automount_service_account_token=True),
            # The operator starts watching only once its CRDs are served.
            depends_on=[operator_account.resource, *self.crds],
            parent=self,
        )
        self.service = service(meta, [Port.of(endpoint)], self)
        self.register_outputs({})
