"""Each producer/consumer pair of the data-flow table: what the producer sends fits what the consumer takes.

Both sides are read from the rendered configs (Alloy's config.alloy, tempo.yaml, loki.yaml); a key a config
leaves out counts at the deployed release's default, cited below. A consumer refuses anything larger whole
and only the sender counts the loss (components/wiring/limits.py).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from components.wiring import endpoints, limits
from tests.support.alloy_parser import Block
from tests.support.alloy_render import alloy_blocks
from tests.support.k8s_objects import mounted_yaml
from tooling.render import Render

KIB, MIB, MB = 1024, 1024 * 1024, 1000 * 1000
# Alloy v1.10.1 defaults (docs/sources/reference/components/otelcol/otelcol.receiver.otlp.md,
# loki/loki.write.md, otelcol/otelcol.processor.batch.md: send_batch_max_size 0 = no bound).
ALLOY_GRPC_MAX_RECV = "4MiB"
ALLOY_HTTP_MAX_BODY = "20MiB"
ALLOY_LOKI_BATCH = "1MiB"
# Tempo 2.8.2 defaults: configgrpc's 4 MiB message limit, overrides ingestion burst 20 MB.
TEMPO_GRPC_MAX_RECV_MIB = 4
TEMPO_BURST_BYTES = 20 * MB
_SIZE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>B|KiB|MiB|GiB|KB|MB|GB)?$")
_UNITS = {None: 1, "B": 1, "KiB": KIB, "MiB": MIB, "GiB": 1024 * MIB, "KB": 1000, "MB": MB, "GB": 1000 * MB}


def size(text: str) -> int:
    """Bytes of an Alloy or Loki size string (``8MiB``, ``1024KiB``, ``15MB``)."""
    match = _SIZE.match(text.strip())
    assert match is not None, f"not a size: {text!r}"
    return int(Decimal(match["number"]) * _UNITS[match["unit"]])


def _block(blocks: list[Block], name: str, label: str) -> Block:
    (found,) = [b for b in blocks if b.name == name and b.label == label]
    return found


def _tempo(render: Render) -> dict[str, Any]:
    return mounted_yaml(render, "StatefulSet", endpoints.TEMPO_NAME, "/etc/tempo/tempo.yaml")


def _loki(render: Render) -> dict[str, Any]:
    return mounted_yaml(render, "StatefulSet", endpoints.LOKI_NAME, "/etc/loki/loki.yaml")


def _tempo_limit_bytes(render: Render) -> int:
    """The smaller of Tempo's OTLP gRPC message limit and its ingestion burst, as rendered."""
    tempo = _tempo(render)
    grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]
    burst = tempo.get("overrides", {}).get("defaults", {}).get("ingestion", {}).get("burst_size_bytes", TEMPO_BURST_BYTES)
    return min(int(grpc.get("max_recv_msg_size_mib", TEMPO_GRPC_MAX_RECV_MIB)) * MIB, int(burst))


def test_alloy_s_trace_batch_fits_tempo_s_receiver(rendered: Render) -> None:
    """Alloy's batch (spans) at the span-size bound stays within HEADROOM of Tempo's message and burst limits."""
    batch = _block(alloy_blocks(rendered), "otelcol.processor.batch", "traces").attributes
    most = int(batch.get("send_batch_max_size", 0))
    assert most > 0, "otelcol.processor.batch has no send_batch_max_size: a batch grows without bound (opentelemetry-collector#12219)"
    assert int(batch.get("send_batch_size", 8192)) <= most
    assert most * limits.SPAN_BYTES_BOUND <= _tempo_limit_bytes(rendered) * limits.HEADROOM


def test_the_routed_receiver_takes_what_an_application_request_can_carry(rendered: Render) -> None:
    """The load-balancing hop forwards a part of one application request over gRPC to the routed receiver."""
    blocks = alloy_blocks(rendered)
    apps, routed = _block(blocks, "otelcol.receiver.otlp", "apps"), _block(blocks, "otelcol.receiver.otlp", "routed")
    largest_request = max(
        size(apps.child("grpc").attributes.get("max_recv_msg_size", ALLOY_GRPC_MAX_RECV)),
        size(apps.child("http").attributes.get("max_request_body_size", ALLOY_HTTP_MAX_BODY)),
    )
    taken = size(routed.child("grpc").attributes.get("max_recv_msg_size", ALLOY_GRPC_MAX_RECV))
    assert largest_request <= taken * limits.HEADROOM, f"an application may send {largest_request} bytes; the routed hop takes {taken}"


def _loki_burst_bytes(loki: dict[str, Any]) -> int:
    limits_config = loki["limits_config"]
    # ingestion_burst_size_mb: Loki multiplies by 2^20 (validation/limits.go); per-stream bursts are
    # flagext.ByteSize ("15MB" = 15e6). The smaller of the two is what one push must fit.
    tenant = int(Decimal(str(limits_config["ingestion_burst_size_mb"])) * MIB)
    return min(tenant, size(limits_config["per_stream_rate_limit_burst"]))


SMALL_BURSTS = ("loki.ingestion.rateMb=1", "loki.ingestion.burstMb=1", "loki.ingestion.perStreamRateMb=1", "loki.ingestion.perStreamBurstMb=1")


@pytest.mark.parametrize("overrides", [(), SMALL_BURSTS])
def test_alloy_pushes_to_loki_within_its_bursts(render_stack, overrides: tuple[str, ...]) -> None:
    """Loki refuses a push above its burst whole (429, retried, then dropped): Alloy's batch stays within HEADROOM."""
    for stack in ("dev", "prod"):
        render = render_stack(stack, *overrides)
        write = next(b for b in alloy_blocks(render) if b.name == "loki.write")
        batch = size(write.child("endpoint").attributes.get("batch_size", ALLOY_LOKI_BATCH))
        assert batch <= _loki_burst_bytes(_loki(render)) * limits.HEADROOM, f"{stack} {overrides}: batch {batch}"


def test_a_long_line_is_truncated_not_dropped(rendered: Render) -> None:
    limits_config = _loki(rendered)["limits_config"]
    assert limits_config["max_line_size"] == limits.LOKI_MAX_LINE_BYTES
    assert limits_config["max_line_size_truncate"] is True


def test_the_sizes_parse_as_alloy_and_loki_write_them() -> None:
    assert size("8MiB") == 8 * MIB and size("1024KiB") == MIB and size("15MB") == 15 * MB and size("100") == 100
    with pytest.raises(AssertionError):
        size("fast")
