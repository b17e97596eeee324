"""Pushgateway: batch jobs push here; pushed metrics persist on a volume across restarts."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kit import volumes
from components.kit.availability import disruption_budget, spread
from components.kit.context import StackContext
from components.kit.labels import selector_labels, standard_labels
from components.kit.rbac import service_account
from components.kit.serving import deployment, service, serving_container
from components.kit.workload import pod_spec
from components.settings.metrics import PushgatewaySettings
from components.settings.units import go_duration
from components.wiring import endpoints

NAME = "pushgateway"
DATA_DIR = "/data"
PERSISTENCE_FILE = f"{DATA_DIR}/pushgateway.state"
CLAIM = f"{NAME}-data"


class Pushgateway(pulumi.ComponentResource):
    """The stack's Pushgateway; ``storage_key`` is the config key of ``config.storage``."""

    service: k8s.core.v1.Service

    def __init__(self, config: PushgatewaySettings, context: StackContext, *, storage_key: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:Pushgateway", NAME, None, opts)
        labels = standard_labels(NAME, context, role="metrics-push", image=config.image)
        metadata = {"name": NAME, "namespace": context.namespace, "labels": labels}
        selector = selector_labels(NAME, context)

        account = service_account(NAME, metadata=metadata, parent=self)
        claim = volumes.claim(CLAIM, context, config.storage, storage_key, labels=labels, parent=self)
        endpoint = endpoints.PUSHGATEWAY
        gateway = serving_container(
            NAME,
            config,
            endpoint,
            args=(
                f"--web.listen-address=:{endpoint.port}",
                f"--persistence.file={PERSISTENCE_FILE}",
                # A Go duration flag (time.ParseDuration): no d, w or y.
                f"--persistence.interval={go_duration(config.persistence_interval)}",
            ),
            volume_mounts=({"name": "data", "mountPath": DATA_DIR},),
        )
        deployment(
            NAME,
            metadata=metadata,
            replicas=config.replicas,
            # One writer per persistence file: the old pod lets go of the volume first.
            strategy={"type": "Recreate"},
            selector=selector,
            pod=pod_spec(
                containers=[gateway],
                service_account_name=NAME,
                volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": CLAIM}}],
                extra=spread(selector, config.replicas, context),
            ),
            depends_on=[account.resource, claim],
            parent=self,
        )
        # Settings hold the Pushgateway at one replica; the budget appears if that ever changes.
        disruption_budget(NAME, context, replicas=config.replicas, selector=selector, labels=labels, parent=self)
        self.service = service(NAME, metadata=metadata, selector=selector, endpoints=[endpoint], parent=self)
        self.register_outputs({"service": self.service.metadata["name"]})
