"""Grafana Alloy: one pod per node shipping that node's pod logs to Loki and sampling OTLP traces into Tempo.

Logs are read through the Kubernetes API (pods/log), not from the node's
/var/log, so Alloy needs neither a hostPath nor root: it runs under the same
hardened context as every other container.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kit.config_file import config_checksum, config_map, config_volume
from components.kit.context import StackContext
from components.kit.objects import ComponentMeta, service, service_account
from components.kit.workload import NOBODY, ContainerSpec, Port, Probes, pod_spec, pod_template
from components.logs.alloy_config import CONFIG, DATA_DIR, HEADLESS_SERVICE, NODE_NAME_ENV, SAMPLING_PORT
from components.settings.logs import AlloySettings
from components.wiring import endpoints

NAME = endpoints.ALLOY_SERVICE
# A high UID (not the image's 473) so it maps to no user on the node; Alloy needs only its
# config (read-only) and its storage path (an emptyDir).
ALLOY_UID = NOBODY
# Read-only access to pods and their logs: discovery and tailing, nothing else.
RBAC_RULES = [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]
HTTP = Port.of(endpoints.ALLOY)
OTLP_GRPC = Port("otlp-grpc", endpoints.OTLP_GRPC_PORT)
OTLP_HTTP = Port("otlp-http", endpoints.OTLP_HTTP_PORT)
# Spans routed by trace ID from every Alloy: each trace reaches the one pod that samples it.
OTLP_ROUTED = Port("otlp-routed", SAMPLING_PORT)


def cluster_role_name(namespace: str) -> str:
    # Cluster-scoped: the namespace keeps two stacks on one cluster apart.
    return f"{NAME}-{namespace}"


class Alloy(pulumi.ComponentResource):
    service: k8s.core.v1.Service

    def __init__(self, section: AlloySettings, context: StackContext, config: str, opts: pulumi.ResourceOptions | None = None) -> None:
        """``config`` is Alloy's pipeline (components/logs/alloy_config.py: Loki's and Tempo's addresses, Tempo's sampling)."""
        super().__init__("observability:logs:Alloy", NAME, None, opts)
        meta = ComponentMeta.of(NAME, context, role="telemetry-collector", image=section.image)
        labels = dict(meta.labels)
        endpoint = endpoints.ALLOY

        account = service_account(meta, self)
        role_name = cluster_role_name(context.namespace)
        role = k8s.rbac.v1.ClusterRole(NAME, metadata={"name": role_name, "labels": labels}, rules=RBAC_RULES, opts=pulumi.ResourceOptions(parent=self))
        binding = k8s.rbac.v1.ClusterRoleBinding(
            NAME,
            metadata={"name": role_name, "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
            subjects=[{"kind": "ServiceAccount", "name": NAME, "namespace": context.namespace}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )
        files = config_map(meta, CONFIG, config, self)
        alloy = ContainerSpec(
            name=NAME,
            image=section.image,
            resources=section.resources,
            probes=Probes.http(endpoint),
            ports=(HTTP, OTLP_GRPC, OTLP_HTTP, OTLP_ROUTED),
            args=(
                "run",
                CONFIG.path,
                f"--server.http.listen-addr=0.0.0.0:{endpoint.port}",
                f"--storage.path={DATA_DIR}",
                "--disable-reporting",
            ),
            env=({"name": NODE_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},),
            volume_mounts=(CONFIG.mount(),),
            # Log positions and sampling state; a restart on the same node keeps them.
            scratch_dirs=(DATA_DIR, "/tmp"),
            run_as_user=ALLOY_UID,
        )
        k8s.apps.v1.DaemonSet(
            NAME,
            metadata=meta.metadata(),
            spec={
                "selector": {"matchLabels": dict(meta.selector)},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": pod_template(
                    labels=labels,
                    annotations=config_checksum(config),
                    spec=pod_spec(
                        containers=[alloy],
                        service_account_name=NAME,
                        # Discovery and pods/log go through the API server.
                        automount_service_account_token=True,
                        run_as_user=ALLOY_UID,
                        fs_group=ALLOY_UID,
                        volumes=[config_volume(meta)],
                        # Logs of every node, control-plane nodes included.
                        extra={"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]},
                    ),
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[binding, files]),
        )
        # Resolves to every ready Alloy pod: the load-balancing exporter's backends.
        service(meta, (OTLP_ROUTED,), self, name=HEADLESS_SERVICE, headless=True)
        # What applications send OTLP to.
        self.service = service(meta, (OTLP_GRPC, OTLP_HTTP, HTTP), self)
        self.register_outputs({"service": self.service.metadata["name"]})
