"""Pushgateway: batch jobs push here; pushed metrics persist on a volume across restarts."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kit import volumes
from components.kit.availability import disruption_budget, spread
from components.kit.labels import selector_labels, standard_labels
from components.kit.workload import ContainerSpec, Port, Probes, pod_spec, pod_template
from components.settings import Settings
from components.settings.units import go_duration
from components.wiring import endpoints

NAME = endpoints.PUSHGATEWAY_NAME
DATA_DIR = "/data"
PERSISTENCE_FILE = f"{DATA_DIR}/pushgateway.state"


class Pushgateway(pulumi.ComponentResource):
    service: k8s.core.v1.Service

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:Pushgateway", NAME, None, opts)
        config = settings.pushgateway
        labels = standard_labels(NAME, settings.context, role="metrics-push", image=config.image)
        metadata = {"name": NAME, "namespace": settings.namespace, "labels": labels}
        child = pulumi.ResourceOptions(parent=self)

        account = k8s.core.v1.ServiceAccount(
            NAME, metadata=metadata, automount_service_account_token=False, opts=child
        )
        claim = volumes.claim(f"{NAME}-data", settings.context, config.storage, settings.storage_key(config.storage), labels=labels, parent=self)
        endpoint = endpoints.PUSHGATEWAY
        gateway = ContainerSpec(
            name=NAME,
            image=config.image,
            resources=config.resources,
            probes=Probes.http(endpoint),
            ports=(Port(endpoint.port_name, endpoint.port),),
            args=(
                f"--web.listen-address=:{endpoint.port}",
                f"--persistence.file={PERSISTENCE_FILE}",
                # A Go duration flag (time.ParseDuration): no d, w or y.
                f"--persistence.interval={go_duration(config.persistence_interval)}",
            ),
            volume_mounts=({"name": "data", "mountPath": DATA_DIR},),
        )
        k8s.apps.v1.Deployment(
            NAME,
            metadata=metadata,
            spec={
                "replicas": config.replicas,
                # One writer per persistence file: the old pod lets go of the volume first.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector_labels(NAME, settings.context)},
                "template": pod_template(
                    labels=labels,
                    spec=pod_spec(
                        containers=[gateway],
                        service_account_name=NAME,
                        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": f"{NAME}-data"}}],
                        extra=spread(selector_labels(NAME, settings.context), config.replicas, settings.context),
                    ),
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, claim]),
        )
        # Settings hold the Pushgateway at one replica; the budget appears if that ever changes.
        disruption_budget(NAME, settings.context, replicas=config.replicas, selector=selector_labels(NAME, settings.context), labels=labels, parent=self)
        self.service = k8s.core.v1.Service(
            NAME,
            metadata=metadata,
            spec={
                "selector": selector_labels(NAME, settings.context),
                "ports": [{"name": endpoint.port_name, "port": endpoint.port, "targetPort": endpoint.port_name}],
            },
            opts=child,
        )
        self.register_outputs({"service": self.service.metadata["name"]})
