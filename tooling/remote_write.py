"""A Prometheus remote-write (1.0) client, as Tempo's metrics generator sends: samples with exemplars.

The protocol (Prometheus "Remote write specification" 1.0): an HTTP POST of a
``prometheus.WriteRequest`` protobuf message, compressed with snappy's block
format, with the headers below. The messages are declared here from the
specification's field numbers and built with the protobuf runtime; snappy is
cramjam's. Only what a sender of samples and exemplars needs is declared:

    WriteRequest { repeated TimeSeries timeseries = 1; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }      // milliseconds
    Exemplar     { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import cramjam
import httpx
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "prometheus"
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "observability-stack-tests",
}
# Tempo's metrics generator names the exemplar's trace ID label traceID.
TRACE_ID_LABEL = "traceID"

_LABEL = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_T = descriptor_pb2.FieldDescriptorProto


@dataclass(frozen=True)
class Exemplar:
    labels: Mapping[str, str]
    value: float
    timestamp_ms: int


@dataclass(frozen=True)
class Series:
    """One series: its labels (``__name__`` included), samples as (timestamp ms, value), and exemplars."""

    labels: Mapping[str, str]
    samples: Sequence[tuple[int, float]]
    exemplars: Sequence[Exemplar] = field(default_factory=tuple)


def _message(name: str, fields: Sequence[tuple[str, int, int, int, str | None]]) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name)
    for field_name, number, kind, label, type_name in fields:
        entry = message.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name is not None:
            entry.type_name = f".{PACKAGE}.{type_name}"
    return message


@cache
def _classes() -> dict[str, Any]:
    """The message classes, built once from descriptors written from the specification."""
    proto = descriptor_pb2.FileDescriptorProto(name="observability_remote_write.proto", package=PACKAGE, syntax="proto3")
    proto.message_type.extend([
        _message("Label", [("name", 1, _T.TYPE_STRING, _OPTIONAL, None), ("value", 2, _T.TYPE_STRING, _OPTIONAL, None)]),
        _message("Sample", [("value", 1, _T.TYPE_DOUBLE, _OPTIONAL, None), ("timestamp", 2, _T.TYPE_INT64, _OPTIONAL, None)]),
        _message("Exemplar", [
            ("labels", 1, _T.TYPE_MESSAGE, _LABEL, "Label"),
            ("value", 2, _T.TYPE_DOUBLE, _OPTIONAL, None),
            ("timestamp", 3, _T.TYPE_INT64, _OPTIONAL, None),
        ]),
        _message("TimeSeries", [
            ("labels", 1, _T.TYPE_MESSAGE, _LABEL, "Label"),
            ("samples", 2, _T.TYPE_MESSAGE, _LABEL, "Sample"),
            ("exemplars", 3, _T.TYPE_MESSAGE, _LABEL, "Exemplar"),
        ]),
        _message("WriteRequest", [("timeseries", 1, _T.TYPE_MESSAGE, _LABEL, "TimeSeries")]),
    ])
    pool = descriptor_pool.DescriptorPool()
    file = pool.AddSerializedFile(proto.SerializeToString())  # type: ignore[no-untyped-call]  # untyped in types-protobuf
    return {name: message_factory.GetMessageClass(file.message_types_by_name[name]) for name in ("WriteRequest", "TimeSeries")}


def write_request(series: Sequence[Series]) -> bytes:
    """The serialized WriteRequest. Labels are sorted by name, as the specification requires."""
    request = _classes()["WriteRequest"]()
    for item in series:
        entry = request.timeseries.add()
        for name, value in sorted(item.labels.items()):
            entry.labels.add(name=name, value=value)
        for timestamp, number in item.samples:
            entry.samples.add(value=number, timestamp=timestamp)
        for exemplar in item.exemplars:
            added = entry.exemplars.add(value=exemplar.value, timestamp=exemplar.timestamp_ms)
            for name, value in sorted(exemplar.labels.items()):
                added.labels.add(name=name, value=value)
    data: bytes = request.SerializeToString()
    return data


def decode_request(body: bytes) -> Any:
    """The WriteRequest message in a snappy-compressed body (for tests of the encoding)."""
    request = _classes()["WriteRequest"]()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return request


def push(url: str, series: Sequence[Series], timeout: float = 10.0) -> httpx.Response:
    """POST the series to a remote-write receiver (``.../api/v1/write``); the response as it came (2xx: accepted)."""
    body = bytes(cramjam.snappy.compress_raw(write_request(series)))
    return httpx.post(url, content=body, headers=HEADERS, timeout=timeout)
