"""Pushgateway: batch jobs push here; pushed metrics persist on a volume across restarts."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kit import volumes
from components.kit.availability import disruption_budget, spread
from components.kit.context import StackContext
from components.kit.objects import ComponentMeta, service
from components.kit.rbac import account
from components.kit.serving import deployment, serving_container
from components.kit.workload import Port, pod_spec
from components.settings.metrics import PushgatewaySettings
from components.settings.units import go_duration
from components.wiring import endpoints

NAME = endpoints.PUSHGATEWAY_NAME
DATA_DIR = "/data"
PERSISTENCE_FILE = f"{DATA_DIR}/pushgateway.state"
CLAIM = f"{NAME}-data"


class Pushgateway(pulumi.ComponentResource):
    """The stack's Pushgateway; ``storage_key`` is the config key of ``config.storage``."""

    service: k8s.core.v1.Service

    def __init__(self, config: PushgatewaySettings, context: StackContext, *, storage_key: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:metrics:Pushgateway", NAME, None, opts)
        meta = ComponentMeta.of(NAME, context, role="metrics-push", image=config.image)
        gateway_account = account(meta, self)
        claim = volumes.claim(CLAIM, context, config.storage, storage_key, labels=meta.labels, parent=self)
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
            meta,
            replicas=config.replicas,
            # One writer per persistence file: the old pod lets go of the volume first.
            strategy={"type": "Recreate"},
            pod=pod_spec(
                containers=[gateway],
                service_account_name=NAME,
                volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": CLAIM}}],
                extra=spread(meta.selector, config.replicas, context),
            ),
            depends_on=[gateway_account.resource, claim],
            parent=self,
        )
        # Settings hold the Pushgateway at one replica; the budget appears if that ever changes.
        disruption_budget(NAME, context, replicas=config.replicas, selector=meta.selector, labels=meta.labels, parent=self)
        self.service = service(meta, [Port.of(endpoint)], self)
        self.register_outputs({"service": self.service.metadata["name"]})
