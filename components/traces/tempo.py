"""Tempo in monolithic mode: one StatefulSet receiving OTLP from Alloy, blocks on its volume or in a bucket."""

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
from components.settings import Settings
from components.settings.storage_backend import credential_secrets
from components.traces.tempo_config import CONFIG_DIR, CONFIG_FILE, DATA_DIR, tempo_config
from components.wiring import endpoints

NAME = endpoints.TEMPO_SERVICE
TEMPO_UID = 10001  # the image's tempo user


def config_text(settings: Settings) -> str:
    return yaml.safe_dump(tempo_config(settings), sort_keys=False, default_flow_style=False)


class Tempo(pulumi.ComponentResource):
    service: k8s.core.v1.Service

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:traces:Tempo", NAME, None, opts)
        config = settings.tempo
        labels = standard_labels(NAME, settings.context, role="traces-store", image=config.image)
        metadata = {"name": NAME, "namespace": settings.namespace, "labels": labels}
        child = pulumi.ResourceOptions(parent=self)
        selector = selector_labels(NAME, settings.context)
        endpoint = endpoints.TEMPO
        text = config_text(settings)

        storage = config.object_storage
        account_metadata = {**metadata, "annotations": dict(storage.service_account_annotations)} if storage else metadata
        account = k8s.core.v1.ServiceAccount(NAME, metadata=account_metadata, automount_service_account_token=False, opts=child)
        config_map = k8s.core.v1.ConfigMap(f"{NAME}-config", metadata={**metadata, "name": f"{NAME}-config"}, data={CONFIG_FILE: text}, opts=child)
        creds = credentials(storage, credential_secrets(storage), name=f"{NAME}-object-storage", metadata=metadata, parent=self)

        ports = (
            Port(endpoint.port_name, endpoint.port),
            Port("grpc", endpoints.TEMPO_GRPC_PORT),
            Port("otlp-grpc", endpoints.OTLP_GRPC_PORT),
            Port("otlp-http", endpoints.OTLP_HTTP_PORT),
        )
        tempo = ContainerSpec(
            name=NAME,
            image=config.image,
            resources=config.resources,
            # /ready waits for the ingester to replay its WAL.
            probes=Probes.http(endpoint, slow_start=True),
            ports=ports,
            args=(f"-config.file={CONFIG_DIR}/{CONFIG_FILE}", "-target=all"),
            env=creds.env,
            volume_mounts=(
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "data", "mountPath": DATA_DIR},
                *creds.mounts,
            ),
            scratch_dirs=("/tmp",),
            run_as_user=TEMPO_UID,
        )
        service_ports = [{"name": p.name, "port": p.port, "targetPort": p.name} for p in ports]
        headless = k8s.core.v1.Service(
            f"{NAME}-headless",
            metadata={**metadata, "name": f"{NAME}-headless"},
            spec={"clusterIP": "None", "selector": selector, "ports": service_ports},
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
                "selector": {"matchLabels": selector},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "template": pod_template(
                    labels=labels,
                    annotations={"checksum/config": hashlib.sha256(text.encode()).hexdigest()},
                    spec=pod_spec(
                        containers=[tempo],
                        service_account_name=NAME,
                        run_as_user=TEMPO_UID,
                        fs_group=TEMPO_UID,
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
            spec={"selector": selector, "ports": service_ports},
            opts=child,
        )
        self.register_outputs({"service": self.service.metadata["name"]})
