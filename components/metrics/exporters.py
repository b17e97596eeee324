"""Cluster exporters: node-exporter (one pod per node), kube-state-metrics (read-only RBAC), blackbox-exporter.

Each runs through the shared workload builder (limits, probes, hardened
context); their monitors and the blackbox probes live in components/wiring/monitors.py.
"""

from __future__ import annotations

from dataclasses import replace

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.kit import config_file
from components.kit.config_file import ConfigFile, config_checksum
from components.kit.context import StackContext
from components.kit.objects import ComponentMeta, service
from components.kit.rbac import Account, account, cluster_access, rule
from components.kit.serving import deployment, serving_container
from components.kit.workload import ContainerSpec, HttpCheck, Port, Probes, pod_spec, pod_template
from components.metrics import cardinality
from components.settings.metrics import ExporterSettings, NodeExporterSettings
from components.wiring import endpoints

NODE_EXPORTER = endpoints.NODE_EXPORTER_NAME
KUBE_STATE_METRICS = endpoints.KUBE_STATE_METRICS_NAME
BLACKBOX_EXPORTER = endpoints.BLACKBOX_EXPORTER_NAME
# The blackbox module every health probe uses.
HTTP_MODULE = "http_2xx"
BLACKBOX_CONFIG = ConfigFile("/etc/blackbox", "blackbox.yaml")
# What kube-state-metrics reports on. Secrets and configmaps are left out: it never needs to read them.
KSM_RESOURCES = (
    "cronjobs",
    "daemonsets",
    "deployments",
    "endpoints",
    "horizontalpodautoscalers",
    "jobs",
    "namespaces",
    "nodes",
    "persistentvolumeclaims",
    "persistentvolumes",
    "poddisruptionbudgets",
    "pods",
    "replicasets",
    "resourcequotas",
    "services",
    "statefulsets",
    "storageclasses",
)
KSM_API_RESOURCES = {
    "": ("endpoints", "namespaces", "nodes", "persistentvolumeclaims", "persistentvolumes", "pods", "resourcequotas", "services"),
    "apps": ("daemonsets", "deployments", "replicasets", "statefulsets"),
    "batch": ("cronjobs", "jobs"),
    "autoscaling": ("horizontalpodautoscalers",),
    "policy": ("poddisruptionbudgets",),
    "storage.k8s.io": ("storageclasses",),
}


def blackbox_config() -> dict[str, object]:
    return {
        "modules": {
            HTTP_MODULE: {
                "prober": "http",
                "timeout": "5s",
                "http": {"valid_status_codes": [], "method": "GET", "preferred_ip_protocol": "ip4", "follow_redirects": True},
            }
        }
    }


def _volume(path: str) -> str:
    return path.strip("/").replace("/", "-")


class Exporters(pulumi.ComponentResource):
    """node-exporter, kube-state-metrics and blackbox-exporter, each from its own settings section."""

    def __init__(
        self,
        context: StackContext,
        *,
        node_exporter: NodeExporterSettings,
        kube_state_metrics: ExporterSettings,
        blackbox_exporter: ExporterSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("observability:metrics:Exporters", "exporters", None, opts)
        self.context = context
        self._node_exporter(node_exporter)
        self._kube_state_metrics(kube_state_metrics)
        self._blackbox_exporter(blackbox_exporter)
        self.register_outputs({})

    def _identity(self, name: str, config: ExporterSettings, role: str, context: StackContext | None = None) -> tuple[ComponentMeta, Account]:
        """The exporter's names and labels, and its ServiceAccount."""
        meta = ComponentMeta.of(name, context or self.context, role=role, image=config.image)
        return meta, account(meta, self)

    def _node_exporter(self, config: NodeExporterSettings) -> None:
        # In the stack's privileged namespace: host namespaces and files (components/namespace.py).
        host = replace(self.context, namespace=self.context.host_namespace)
        meta, exporter_account = self._identity(NODE_EXPORTER, config, "node-metrics", host)
        endpoint = endpoints.node_exporter(config.port)
        mounts = {"/host/proc": "/proc", "/host/sys": "/sys", "/host/root": "/"}
        exporter = serving_container(
            NODE_EXPORTER,
            config,
            endpoint,
            args=(
                f"--web.listen-address=:{endpoint.port}",
                "--path.procfs=/host/proc",
                "--path.sysfs=/host/sys",
                "--path.rootfs=/host/root",
                # No series per pod (components/metrics/cardinality.py): neither its network interface, seen from
                # the host network, nor its volumes. Flags of node_exporter v1.9.1 (`node_exporter --help`).
                f"--collector.filesystem.mount-points-exclude={cardinality.NODE_MOUNT_POINTS_EXCLUDE}",
                f"--collector.netclass.ignored-devices={cardinality.POD_INTERFACES}",
                f"--collector.netdev.device-exclude={cardinality.POD_INTERFACES}",
                # The ARP collector counts neighbour entries per device: one node_arp_entries per pod interface.
                f"--collector.arp.device-exclude={cardinality.POD_INTERFACES}",
            ),
            # The node's own filesystems, read-only; nothing is written to the host.
            volume_mounts=tuple(
                {"name": _volume(path), "mountPath": path, "readOnly": True, **({"mountPropagation": "HostToContainer"} if source == "/" else {})}
                for path, source in mounts.items()
            ),
        )
        k8s.apps.v1.DaemonSet(
            NODE_EXPORTER,
            metadata=meta.metadata(),
            spec={
                "selector": {"matchLabels": dict(meta.selector)},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
                "template": pod_template(
                    labels=meta.labels,
                    spec=pod_spec(
                        containers=[exporter],
                        service_account_name=NODE_EXPORTER,
                        volumes=[{"name": _volume(path), "hostPath": {"path": source}} for path, source in mounts.items()],
                        extra={
                            # Every node, tainted ones included: a node without metrics is invisible.
                            "tolerations": [{"operator": "Exists"}],
                            "nodeSelector": {"kubernetes.io/os": "linux"},
                            # The node's network interfaces and processes, not the pod's; Prometheus
                            # scrapes it at the node's address (components/wiring/network_policies.py).
                            "hostNetwork": True,
                            "hostPID": True,
                            "dnsPolicy": "ClusterFirstWithHostNet",
                        },
                    ),
                ),
            },
            # Deleted before its replacement is made (a move to another namespace is a replacement): the new pods
            # listen on the same host port, and would never schedule beside the old ones.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[exporter_account.resource], delete_before_replace=True),
        )
        service(meta, exporter.ports, self)

    def _kube_state_metrics(self, config: ExporterSettings) -> None:
        meta, exporter_account = self._identity(KUBE_STATE_METRICS, config, "cluster-state-metrics")
        cluster_access(exporter_account, rules=[rule([group], resources, ["list", "watch"]) for group, resources in KSM_API_RESOURCES.items()])
        main, telemetry = endpoints.KUBE_STATE_METRICS, endpoints.KUBE_STATE_METRICS_TELEMETRY
        exporter = ContainerSpec(
            name=KUBE_STATE_METRICS,
            image=config.image,
            resources=config.resources,
            # kube-state-metrics answers /livez on its metrics port and /readyz on its telemetry port.
            probes=Probes(liveness=HttpCheck(main.healthy_path, main.port_name), readiness=HttpCheck(telemetry.ready_path, telemetry.port_name)),
            ports=(Port.of(main), Port.of(telemetry)),
            args=(f"--port={main.port}", f"--telemetry-port={telemetry.port}", f"--resources={','.join(KSM_RESOURCES)}"),
        )
        deployment(
            meta,
            replicas=config.replicas,
            pod=pod_spec(containers=[exporter], service_account_name=KUBE_STATE_METRICS, automount_service_account_token=True),
            depends_on=[exporter_account.resource],
            parent=self,
        )
        service(meta, exporter.ports, self)

    def _blackbox_exporter(self, config: ExporterSettings) -> None:
        meta, exporter_account = self._identity(BLACKBOX_EXPORTER, config, "health-prober")
        text = yaml.safe_dump(blackbox_config(), sort_keys=True)
        config_map = k8s.core.v1.ConfigMap(
            BLACKBOX_EXPORTER,
            metadata=meta.metadata(),
            data={BLACKBOX_CONFIG.name: text},
            opts=pulumi.ResourceOptions(parent=self),
        )
        endpoint = endpoints.BLACKBOX_EXPORTER
        exporter = serving_container(
            BLACKBOX_EXPORTER,
            config,
            endpoint,
            args=(f"--config.file={BLACKBOX_CONFIG.path}", f"--web.listen-address=:{endpoint.port}"),
            volume_mounts=(BLACKBOX_CONFIG.mount(),),
        )
        deployment(
            meta,
            replicas=config.replicas,
            pod=pod_spec(
                containers=[exporter],
                service_account_name=BLACKBOX_EXPORTER,
                # The ConfigMap is named after the exporter (not <component>-config: its name predates that convention).
                volumes=[{"name": config_file.VOLUME, "configMap": {"name": BLACKBOX_EXPORTER}}],
            ),
            # A config change rolls the pods: the exporter reads its modules at start.
            annotations=config_checksum(text),
            depends_on=[exporter_account.resource, config_map],
            parent=self,
        )
        service(meta, exporter.ports, self)
