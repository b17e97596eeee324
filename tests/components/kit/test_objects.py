"""The shared object helpers: metadata, config files and the single-binary store's config text."""

from __future__ import annotations

from dataclasses import dataclass

from components.kit.config_file import CONFIG_CHECKSUM, ConfigFile, config_checksum
from components.kit.context import SpreadMode, StackContext
from components.kit.objects import ComponentMeta, service_ports
from components.kit.stateful_store import config_text
from components.kit.workload import Port
from components.wiring import endpoints


@dataclass(frozen=True)
class _Availability:
    max_unavailable: int = 1
    node_spread: SpreadMode = "off"
    zone_spread: SpreadMode = "off"


CONTEXT = StackContext("dev", "dev", "observability-dev", False, _Availability())


def test_metadata_names_labels_and_keeps_given_annotations_even_empty() -> None:
    meta = ComponentMeta.of("loki", CONTEXT, role="logs-store", image="grafana/loki:3.5.3")
    assert meta.selector == {"app.kubernetes.io/name": "loki", "app.kubernetes.io/instance": "loki-dev"}
    assert meta.labels["app.kubernetes.io/version"] == "3.5.3"
    assert meta.metadata() == {"name": "loki", "namespace": "observability-dev", "labels": dict(meta.labels)}
    assert meta.metadata("loki-config")["name"] == "loki-config"
    # A bucket with workload identity but no annotation still writes the (empty) annotations.
    assert meta.metadata(annotations={})["annotations"] == {}


def test_service_ports_publish_each_port_under_its_name() -> None:
    assert service_ports([Port.of(endpoints.LOKI), Port("grpc", 9095)]) == [
        {"name": "http", "port": 3100, "targetPort": "http"},
        {"name": "grpc", "port": 9095, "targetPort": "grpc"},
    ]


def test_config_file_path_mount_and_checksum() -> None:
    file = ConfigFile("/etc/loki", "loki.yaml")
    assert file.path == "/etc/loki/loki.yaml"
    assert file.mount() == {"name": "config", "mountPath": "/etc/loki", "readOnly": True}
    assert config_checksum("a") != config_checksum("b")
    assert list(config_checksum("a")) == [CONFIG_CHECKSUM]


def test_store_config_text_keeps_the_generators_key_order() -> None:
    assert config_text({"server": {"port": 1}, "auth_enabled": False}) == "server:\n  port: 1\nauth_enabled: false\n"
