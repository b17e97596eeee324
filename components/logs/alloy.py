"""Grafana Alloy: one pod per node shipping that node's pod logs to Loki and sampling OTLP traces into Tempo.

Logs are read through the Kubernetes API (pods/log), not from the node's
/var/log, so Alloy needs neither a hostPath nor root: it runs under the same
hardened context as every other container.
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s

from components.kit.labels import selector_labels, standard_labels
from components.kit.workload import NOBODY, ContainerSpec, Port, Probes, pod_spec, pod_template
from components.logs.alloy_config import CONFIG_DIR, CONFIG_FILE, DATA_DIR, HEADLESS_SERVICE, NODE_NAME_ENV, SAMPLING_PORT, alloy_config
from components.settings import Settings
from components.wiring import endpoints

NAME = endpoints.ALLOY_SERVICE
# A high UID (not the image's 473) so it maps to no user on the node; Alloy needs only its
# config (read-only) and its storage path (an emptyDir).
ALLOY_UID = NOBODY
# Read-only access to pods and their logs: discovery and tailing, nothing else.
RBAC_RULES = [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]


def cluster_role_name(settings: Settings) -> str:
    # Cluster-scoped: the namespace keeps two stacks on one cluster apart.
    return f"{NAME}-{settings.namespace}"


class Alloy(pulumi.ComponentResource):
    service: k8s.core.v1.Service

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:logs:Alloy", NAME, None, opts)
        config = settings.alloy
        labels = standard_labels(NAME, settings.context, role="telemetry-collector", image=config.image)
        metadata = {"name": NAME, "namespace": settings.namespace, "labels": labels}
        child = pulumi.ResourceOptions(parent=self)
        selector = selector_labels(NAME, settings.context)
        endpoint = endpoints.ALLOY
        text = alloy_config(settings)

        account = k8s.core.v1.ServiceAccount(NAME, metadata=metadata, automount_service_account_token=False, opts=child)
        role_name = cluster_role_name(settings)
        role = k8s.rbac.v1.ClusterRole(NAME, metadata={"name": role_name, "labels": labels}, rules=RBAC_RULES, opts=child)
        binding = k8s.rbac.v1.ClusterRoleBinding(
            NAME,
            metadata={"name": role_name, "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
            subjects=[{"kind": "ServiceAccount", "name": NAME, "namespace": settings.namespace}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )
        config_map = k8s.core.v1.ConfigMap(f"{NAME}-config", metadata={**metadata, "name": f"{NAME}-config"}, data={CONFIG_FILE: text}, opts=child)

        ports = (
            Port(endpoint.port_name, endpoint.port),
            Port("otlp-grpc", endpoints.OTLP_GRPC_PORT),
            Port("otlp-http", endpoints.OTLP_HTTP_PORT),
            Port("otlp-routed", SAMPLING_PORT),
        )
        alloy = ContainerSpec(
            name=NAME,
            image=config.image,
            resources=config.resources,
            probes=Probes.http(endpoint),
            ports=ports,
            args=(
                "run",
                f"{CONFIG_DIR}/{CONFIG_FILE}",
                f"--server.http.listen-addr=0.0.0.0:{endpoint.port}",
                f"--storage.path={DATA_DIR}",
                "--disable-reporting",
            ),
            env=({"name": NODE_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},),
            volume_mounts=({"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},),
            # Log positions and sampling state; a restart on the same node keeps them.
            scratch_dirs=(DATA_DIR, "/tmp"),
            run_as_user=ALLOY_UID,
        )
        k8s.apps.v1.DaemonSet(
            NAME,
            metadata=metadata,
            spec={
                "selector": {"matchLabels": selector},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": pod_template(
                    labels=labels,
                    annotations={"checksum/config": hashlib.sha256(text.encode()).hexdigest()},
                    spec=pod_spec(
                        containers=[alloy],
                        service_account_name=NAME,
                        # Discovery and pods/log go through the API server.
                        automount_service_account_token=True,
                        run_as_user=ALLOY_UID,
                        fs_group=ALLOY_UID,
                        volumes=[{"name": "config", "configMap": {"name": f"{NAME}-config"}}],
                        # Logs of every node, control-plane nodes included.
                        extra={"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]},
                    ),
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[binding, config_map]),
        )
        # Resolves to every ready Alloy pod: the load-balancing exporter's backends.
        k8s.core.v1.Service(
            HEADLESS_SERVICE,
            metadata={**metadata, "name": HEADLESS_SERVICE},
            spec={"clusterIP": "None", "selector": selector, "ports": [{"name": "otlp-routed", "port": SAMPLING_PORT, "targetPort": "otlp-routed"}]},
            opts=child,
        )
        # What applications send OTLP to.
        self.service = k8s.core.v1.Service(
            NAME,
            metadata=metadata,
            spec={
                "selector": selector,
                "ports": [
                    {"name": "otlp-grpc", "port": endpoints.OTLP_GRPC_PORT, "targetPort": "otlp-grpc"},
                    {"name": "otlp-http", "port": endpoints.OTLP_HTTP_PORT, "targetPort": "otlp-http"},
                    {"name": endpoint.port_name, "port": endpoint.port, "targetPort": endpoint.port_name},
                ],
            },
            opts=child,
        )
        self.register_outputs({"service": self.service.metadata["name"]})
