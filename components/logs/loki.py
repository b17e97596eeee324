"""Loki in monolithic mode: one StatefulSet whose volume holds index, chunks and the compactor's state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.kit.context import StackContext
from components.kit.stateful_store import StatefulStore, StoreFacts
from components.kit.workload import Port
from components.logs.loki_config import CONFIG, DATA_DIR
from components.settings.logs import LokiSettings
from components.settings.secrets import credential_secrets
from components.wiring import endpoints

NAME = endpoints.LOKI_SERVICE
LOKI_UID = 10001  # the image's loki user
HTTP = Port.of(endpoints.LOKI)
STORE = StoreFacts(
    name=NAME,
    role="logs-store",
    # /ready turns 200 once the ingester joined its ring; allow for WAL replay on start.
    endpoint=endpoints.LOKI,
    ports=(HTTP, Port("grpc", endpoints.LOKI_GRPC_PORT)),
    headless_ports=(HTTP,),
    config=CONFIG,
    data_dir=DATA_DIR,
    run_as_user=LOKI_UID,
    # Pods start one at a time, each ready before the next (Kubernetes' default, stated).
    pod_management_policy="OrderedReady",
)


class Loki(StatefulStore):
    def __init__(
        self, section: LokiSettings, context: StackContext, config: Mapping[str, Any], *, storage_key: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """``config`` is Loki's config document (components/logs/loki_config.py), ``storage_key`` the volume's settings key."""
        secrets = credential_secrets(section.object_storage)
        super().__init__("observability:logs:Loki", STORE, section, context, config, storage_key=storage_key, secrets=secrets, opts=opts)
