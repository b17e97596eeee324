"""Loki in monolithic mode: one StatefulSet whose volume holds index, chunks and the compactor's state."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.kit.labels import selector_labels, standard_labels
from components.kit.object_storage import credentials
from components.kit.protection import stateful_options
from components.kit.volumes import STATEFULSET_TEMPLATES, claim_spec, replica_claims
from components.kit.workload import ContainerSpec, Port, Probes, pod_spec, pod_template
from components.logs.loki_config import CONFIG_DIR, CONFIG_FILE, DATA_DIR, loki_config
from components.settings import Settings
from components.settings.storage_backend import credential_secrets
from components.wiring import endpoints

NAME = endpoints.LOKI_SERVICE
LOKI_UID = 10001  # the image's loki user


def config_text(settings: Settings) -> str:
    return yaml.safe_dump(loki_config(settings), sort_keys=False, default_flow_style=False)


class Loki(pulumi.ComponentResource):
    service: k8s.core.v1.Service

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:logs:Loki", NAME, None, opts)
        config = settings.loki
        labels = standard_labels(NAME, settings.context, role="logs-store", image=config.image)
        metadata = {"name": NAME, "namespace": settings.namespace, "labels": labels}
        child = pulumi.ResourceOptions(parent=self)
        selector = selector_labels(NAME, settings.context)
        endpoint = endpoints.LOKI
        text = config_text(settings)

        storage = config.object_storage
        account_metadata = {**metadata, "annotations": dict(storage.service_account_annotations)} if storage else metadata
        account = k8s.core.v1.ServiceAccount(NAME, metadata=account_metadata, automount_service_account_token=False, opts=child)
        config_map = k8s.core.v1.ConfigMap(f"{NAME}-config", metadata={**metadata, "name": f"{NAME}-config"}, data={CONFIG_FILE: text}, opts=child)
        creds = credentials(storage, credential_secrets(storage), name=f"{NAME}-object-storage", metadata=metadata, parent=self)

        loki = ContainerSpec(
            name=NAME,
            image=config.image,
            resources=config.resources,
            # /ready turns 200 once the ingester joined its ring; allow for WAL replay on start.
            probes=Probes.http(endpoint, slow_start=True),
            ports=(Port(endpoint.port_name, endpoint.port), Port("grpc", endpoints.LOKI_GRPC_PORT)),
            args=(f"-config.file={CONFIG_DIR}/{CONFIG_FILE}", "-target=all"),
            env=creds.env,
            volume_mounts=(
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "data", "mountPath": DATA_DIR},
                *creds.mounts,
            ),
            scratch_dirs=("/tmp",),
            run_as_user=LOKI_UID,
        )
        headless = k8s.core.v1.Service(
            f"{NAME}-headless",
            metadata={**metadata, "name": f"{NAME}-headless"},
            spec={
                "clusterIP": "None",
                "selector": selector,
                "ports": [{"name": endpoint.port_name, "port": endpoint.port, "targetPort": endpoint.port_name}],
            },
            opts=child,
        )
        # Each replica's claim is the stack's own, so a larger size grows it in place (docs/data-safety.md).
        claims = replica_claims(
            settings.context, config.storage, settings.storage_key(config.storage),
            template="data", statefulset=NAME, replicas=config.replicas, labels=selector, parent=self
        )
        k8s.apps.v1.StatefulSet(
            NAME,
            metadata=metadata,
            spec={
                "replicas": config.replicas,
                "serviceName": f"{NAME}-headless",
                "podManagementPolicy": "OrderedReady",
                "selector": {"matchLabels": selector},
                # The volume outlives the StatefulSet: logs survive a delete and re-create.
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "template": pod_template(
                    labels=labels,
                    # A changed config rolls the pod; Loki reads its file only at start.
                    annotations={"checksum/config": hashlib.sha256(text.encode()).hexdigest()},
                    spec=pod_spec(
                        containers=[loki],
                        service_account_name=NAME,
                        run_as_user=LOKI_UID,
                        fs_group=LOKI_UID,
                        volumes=[{"name": "config", "configMap": {"name": f"{NAME}-config"}}, *creds.volumes],
                        extra={"terminationGracePeriodSeconds": 300},
                    ),
                ),
                "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": selector}, "spec": claim_spec(config.storage)}],
            },
            opts=stateful_options(
                settings.context, self, depends_on=[account, config_map, headless, *claims], ignore_changes=[STATEFULSET_TEMPLATES]
            ),
        )
        self.service = k8s.core.v1.Service(
            NAME,
            metadata=metadata,
            spec={
                "selector": selector,
                "ports": [
                    {"name": endpoint.port_name, "port": endpoint.port, "targetPort": endpoint.port_name},
                    {"name": "grpc", "port": endpoints.LOKI_GRPC_PORT, "targetPort": "grpc"},
                ],
            },
            opts=child,
        )
        self.register_outputs({"service": self.service.metadata["name"]})
