"""Grafana Alloy: a StatefulSet whose replicas share the cluster's pod logs, shipping them to Loki, and
sample OTLP traces into Tempo.

Logs are read through the Kubernetes API (pods/log), not from the node's
/var/log, so Alloy needs neither a hostPath nor root: it runs under the same
hardened context as every other container. Where each replica stopped reading
(its storage path) is on that replica's own claim, so a restart or a rollout
resumes there instead of sending every container's whole log again
(grafana/alloy#876); a DaemonSet could only keep it on an emptyDir (hostPath
is refused by the namespace's Pod Security level).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kit.availability import disruption_budget, spread
from components.kit.config_file import config_checksum, config_map, config_volume
from components.kit.context import StackContext
from components.kit.objects import ComponentMeta, service, service_account
from components.kit.protection import stateful_options
from components.kit.volumes import STATEFULSET_TEMPLATES, claim_spec, replica_claims
from components.kit.workload import NOBODY, ContainerSpec, Port, Probes, pod_spec, pod_template
from components.logs.alloy_config import CONFIG, DATA_DIR, HEADLESS_SERVICE, POD_NAME_ENV, SAMPLING_PORT, STATEFULSET
from components.settings.logs import AlloySettings
from components.wiring import endpoints

NAME = STATEFULSET
# A high UID (not the image's 473) so it maps to no user on the node; Alloy needs only its
# config (read-only) and its storage path (its own claim; fsGroup makes it writable).
ALLOY_UID = NOBODY
# Each replica's claim: <DATA_VOLUME>-alloy-<ordinal>, mounted at the storage path.
DATA_VOLUME = "data"
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

    def __init__(
        self, section: AlloySettings, context: StackContext, config: str, *, storage_key: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """``config`` is Alloy's pipeline (components/logs/alloy_config.py: Loki's and Tempo's addresses, Tempo's sampling,
        each replica's share of the log targets); ``storage_key`` is the config key of ``section.storage``."""
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
            # The pipeline keeps the log targets whose share names this pod (alloy_config.replica_share_rules).
            env=({"name": POD_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},),
            # The storage path (log read positions) on the replica's claim; only /tmp is scratch.
            volume_mounts=(CONFIG.mount(), {"name": DATA_VOLUME, "mountPath": DATA_DIR}),
            scratch_dirs=("/tmp",),
            run_as_user=ALLOY_UID,
        )
        # Resolves to every ready Alloy pod: the load-balancing exporter's backends, and the pods' DNS names.
        headless = service(meta, (OTLP_ROUTED,), self, name=HEADLESS_SERVICE, headless=True)
        # Each replica's claim is the stack's own, so a larger size grows it in place (docs/data-safety.md).
        claims = replica_claims(
            context, section.storage, storage_key,
            template=DATA_VOLUME, statefulset=NAME, replicas=section.replicas, labels=meta.selector, parent=self
        )
        k8s.apps.v1.StatefulSet(
            NAME,
            metadata=meta.metadata(),
            spec={
                "replicas": section.replicas,
                "serviceName": HEADLESS_SERVICE,
                # Replicas hold disjoint shares: none waits for another to start or stop.
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": dict(meta.selector)},
                # The positions outlive the StatefulSet: a delete and re-create resumes where it stopped.
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
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
                        extra=spread(meta.selector, section.replicas, context),
                    ),
                ),
                "volumeClaimTemplates": [{"metadata": {"name": DATA_VOLUME, "labels": dict(meta.selector)}, "spec": claim_spec(section.storage)}],
            },
            opts=stateful_options(context, self, depends_on=[binding, files, headless, *claims], ignore_changes=[STATEFULSET_TEMPLATES]),
        )
        disruption_budget(NAME, context, replicas=section.replicas, selector=meta.selector, labels=meta.labels, parent=self)
        # What applications send OTLP to.
        self.service = service(meta, (OTLP_GRPC, OTLP_HTTP, HTTP), self)
        self.register_outputs({"service": self.service.metadata["name"]})
