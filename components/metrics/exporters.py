"""Cluster exporters: node-exporter (one pod per node), kube-state-metrics (read-only RBAC), blackbox-exporter.

Each runs through the shared workload builder (limits, probes, hardened
context); their monitors and the blackbox probes live in components/wiring/monitors.py.
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.kit.labels import selector_labels, standard_labels
from components.kit.rbac import cluster_access, rule
from components.kit.workload import ContainerSpec, HttpCheck, Port, Probes, pod_spec, pod_template
from components.settings import Settings
from components.wiring import endpoints

NODE_EXPORTER = endpoints.NODE_EXPORTER_NAME
KUBE_STATE_METRICS = endpoints.KUBE_STATE_METRICS_NAME
BLACKBOX_EXPORTER = endpoints.BLACKBOX_EXPORTER_NAME
# The blackbox module every health probe uses.
HTTP_MODULE = "http_2xx"
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


def _service(name: str, settings: Settings, labels: dict[str, str], ports: list[endpoints.Endpoint], parent: pulumi.Resource) -> None:
    k8s.core.v1.Service(
        name,
        metadata={"name": name, "namespace": settings.namespace, "labels": labels},
        spec={
            "selector": selector_labels(name, settings.context),
            "ports": [{"name": e.port_name, "port": e.port, "targetPort": e.port_name} for e in ports],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _account(name: str, settings: Settings, labels: dict[str, str], parent: pulumi.Resource) -> k8s.core.v1.ServiceAccount:
    return k8s.core.v1.ServiceAccount(
        name,
        metadata={"name": name, "namespace": settings.namespace, "labels": labels},
        automount_service_account_token=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )


class Exporters(pulumi.ComponentResource):
    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:Exporters", "exporters", None, opts)
        self._node_exporter(settings)
        self._kube_state_metrics(settings)
        self._blackbox_exporter(settings)
        self.register_outputs({})

    def _node_exporter(self, settings: Settings) -> None:
        config = settings.node_exporter
        labels = standard_labels(NODE_EXPORTER, settings.context, role="node-metrics", image=config.image)
        account = _account(NODE_EXPORTER, settings, labels, self)
        endpoint = endpoints.node_exporter(config.port)
        host = {"/host/proc": "/proc", "/host/sys": "/sys", "/host/root": "/"}
        exporter = ContainerSpec(
            name=NODE_EXPORTER,
            image=config.image,
            resources=config.resources,
            probes=Probes.http(endpoint),
            ports=(Port(endpoint.port_name, endpoint.port),),
            args=(
                f"--web.listen-address=:{endpoint.port}",
                "--path.procfs=/host/proc",
                "--path.sysfs=/host/sys",
                "--path.rootfs=/host/root",
                "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run/containerd/.+|var/lib/docker/.+|var/lib/kubelet/.+)($|/)",
            ),
            # The node's own filesystems, read-only; nothing is written to the host.
            volume_mounts=tuple(
                {"name": _volume(path), "mountPath": path, "readOnly": True, **({"mountPropagation": "HostToContainer"} if source == "/" else {})}
                for path, source in host.items()
            ),
        )
        k8s.apps.v1.DaemonSet(
            NODE_EXPORTER,
            metadata={"name": NODE_EXPORTER, "namespace": settings.namespace, "labels": labels},
            spec={
                "selector": {"matchLabels": selector_labels(NODE_EXPORTER, settings.context)},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
                "template": pod_template(
                    labels=labels,
                    spec=pod_spec(
                        containers=[exporter],
                        service_account_name=NODE_EXPORTER,
                        volumes=[{"name": _volume(path), "hostPath": {"path": source}} for path, source in host.items()],
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        _service(NODE_EXPORTER, settings, labels, [endpoint], self)

    def _kube_state_metrics(self, settings: Settings) -> None:
        config = settings.kube_state_metrics
        namespace = settings.namespace
        labels = standard_labels(KUBE_STATE_METRICS, settings.context, role="cluster-state-metrics", image=config.image)
        account = _account(KUBE_STATE_METRICS, settings, labels, self)
        cluster_access(
            f"{KUBE_STATE_METRICS}-{namespace}",
            account=KUBE_STATE_METRICS,
            account_namespace=namespace,
            labels=labels,
            rules=[rule([group], resources, ["list", "watch"]) for group, resources in KSM_API_RESOURCES.items()],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        main, telemetry = endpoints.KUBE_STATE_METRICS, endpoints.KUBE_STATE_METRICS_TELEMETRY
        exporter = ContainerSpec(
            name=KUBE_STATE_METRICS,
            image=config.image,
            resources=config.resources,
            # kube-state-metrics answers /livez on its metrics port and /readyz on its telemetry port.
            probes=Probes(liveness=HttpCheck(main.healthy_path, main.port_name), readiness=HttpCheck(telemetry.ready_path, telemetry.port_name)),
            ports=(Port(main.port_name, main.port), Port(telemetry.port_name, telemetry.port)),
            args=(f"--port={main.port}", f"--telemetry-port={telemetry.port}", f"--resources={','.join(KSM_RESOURCES)}"),
        )
        k8s.apps.v1.Deployment(
            KUBE_STATE_METRICS,
            metadata={"name": KUBE_STATE_METRICS, "namespace": namespace, "labels": labels},
            spec={
                "replicas": config.replicas,
                "selector": {"matchLabels": selector_labels(KUBE_STATE_METRICS, settings.context)},
                "template": pod_template(
                    labels=labels,
                    spec=pod_spec(containers=[exporter], service_account_name=KUBE_STATE_METRICS, automount_service_account_token=True),
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        _service(KUBE_STATE_METRICS, settings, labels, [main, telemetry], self)

    def _blackbox_exporter(self, settings: Settings) -> None:
        config = settings.blackbox_exporter
        labels = standard_labels(BLACKBOX_EXPORTER, settings.context, role="health-prober", image=config.image)
        account = _account(BLACKBOX_EXPORTER, settings, labels, self)
        text = yaml.safe_dump(blackbox_config(), sort_keys=True)
        config_map = k8s.core.v1.ConfigMap(
            BLACKBOX_EXPORTER,
            metadata={"name": BLACKBOX_EXPORTER, "namespace": settings.namespace, "labels": labels},
            data={"blackbox.yaml": text},
            opts=pulumi.ResourceOptions(parent=self),
        )
        endpoint = endpoints.BLACKBOX_EXPORTER
        exporter = ContainerSpec(
            name=BLACKBOX_EXPORTER,
            image=config.image,
            resources=config.resources,
            probes=Probes.http(endpoint),
            ports=(Port(endpoint.port_name, endpoint.port),),
            args=("--config.file=/etc/blackbox/blackbox.yaml", f"--web.listen-address=:{endpoint.port}"),
            volume_mounts=({"name": "config", "mountPath": "/etc/blackbox", "readOnly": True},),
        )
        k8s.apps.v1.Deployment(
            BLACKBOX_EXPORTER,
            metadata={"name": BLACKBOX_EXPORTER, "namespace": settings.namespace, "labels": labels},
            spec={
                "replicas": config.replicas,
                "selector": {"matchLabels": selector_labels(BLACKBOX_EXPORTER, settings.context)},
                "template": pod_template(
                    # A config change rolls the pods: the exporter reads its modules at start.
                    labels=labels,
                    annotations={"checksum/config": hashlib.sha256(text.encode()).hexdigest()},
                    spec=pod_spec(
                        containers=[exporter],
                        service_account_name=BLACKBOX_EXPORTER,
                        volumes=[{"name": "config", "configMap": {"name": BLACKBOX_EXPORTER}}],
                    ),
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, config_map]),
        )
        _service(BLACKBOX_EXPORTER, settings, labels, [endpoint], self)
