"""Tempo in monolithic mode: one StatefulSet receiving OTLP from Alloy, blocks on its volume or in a bucket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.kit.context import StackContext
from components.kit.stateful_store import StatefulStore, StoreFacts
from components.kit.workload import Port
from components.settings.secrets import credential_secrets
from components.settings.traces import TempoSettings
from components.traces.tempo_config import CONFIG, DATA_DIR
from components.wiring import endpoints

NAME = endpoints.TEMPO_SERVICE
TEMPO_UID = 10001  # the image's tempo user
PORTS = (
    Port.of(endpoints.TEMPO),
    Port("grpc", endpoints.TEMPO_GRPC_PORT),
    Port("otlp-grpc", endpoints.OTLP_GRPC_PORT),
    Port("otlp-http", endpoints.OTLP_HTTP_PORT),
)
STORE = StoreFacts(
    name=NAME,
    role="traces-store",
    # /ready waits for the ingester to replay its WAL.
    endpoint=endpoints.TEMPO,
    ports=PORTS,
    headless_ports=PORTS,
    config=CONFIG,
    data_dir=DATA_DIR,
    run_as_user=TEMPO_UID,
)


class Tempo(StatefulStore):
    def __init__(
        self, section: TempoSettings, context: StackContext, config: Mapping[str, Any], *, storage_key: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """``config`` is Tempo's config document (components/traces/tempo_config.py), ``storage_key`` the volume's settings key."""
        secrets = credential_secrets(section.object_storage)
        super().__init__("observability:traces:Tempo", STORE, section, context, config, storage_key=storage_key, secrets=secrets, opts=opts)
