"""Run the Pulumi program under mocks and record every resource it registers.

The mock monitor echoes inputs back as outputs (there is no cluster), and
records what `pulumi preview` would show: type, name, parent, options, inputs.

Offline, the CRDs' schemas (megabytes) are held back from the SDK's wire path: a stack
transformation swaps each CustomResourceDefinition's ``spec`` for a short reference and the
monitor records the program's own spec object again. Serializing those schemas to protobuf and
back only to echo them was most of a render's run time; ``hold_back_crd_schemas=False`` takes
the full path, and tests/tooling/test_render.py proves both write the same files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from components.settings import Settings
from components.settings.pulumi_config import settings_from_pulumi
from program import build as build_program

PROJECT = "observability"


@dataclass(frozen=True)
class Registered:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    protect: bool
    retain_on_delete: bool
    provider: str  # "<provider urn>::<id>" of an explicit provider, else ""
    inputs: dict[str, Any]  # secrets still wrapped, see is_secret()
    dependencies: tuple[str, ...] = ()  # URNs it waits for (depends_on and inputs from other resources)
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


# Outputs a provider computes rather than echoes (a generated password has no input to echo).
COMPUTED_OUTPUTS: dict[str, dict[str, Any]] = {
    "random:index/randomPassword:RandomPassword": {"result": "generated-by-the-provider"},
}
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
STACK = "pulumi:pulumi:Stack"


# What the cluster already holds: (type, id) -> the state a read (Resource.get) finds; (type, name) ->
# the state of an object the program registers, over its inputs (a field the program ignores
# changes to keeps its live value).
LiveObjects = dict[tuple[str, str], dict[str, Any]]


def cluster_with_uid(uid: str | None) -> LiveObjects:
    """A cluster whose kube-system namespace has ``uid`` (the identity components/cluster.py checks)."""
    return {("kubernetes:core/v1:Namespace", "kube-system"): {"metadata": {"name": "kube-system", "uid": uid}}}


class _EchoMocks(pulumi_mocks.Mocks):
    def __init__(self, live: LiveObjects | None = None) -> None:
        self.live = live or {}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        if args.resource_id and (args.typ, args.resource_id) in self.live:
            return args.resource_id, self.live[(args.typ, args.resource_id)]
        state = {**dict(args.inputs), **COMPUTED_OUTPUTS.get(args.typ, {})}
        for key, value in self.live.get((args.typ, args.name), {}).items():
            state[key] = {**state[key], **value} if isinstance(value, dict) and isinstance(state.get(key), dict) else value
        return f"{args.name}-id", state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


class _HeldBack:
    """CRD schemas kept out of the wire path: the transformation parks each spec, the monitor takes it back."""

    def __init__(self) -> None:
        self.specs: dict[str, Any] = {}

    def transformation(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != CRD or "spec" not in args.props:
            return None
        reference = f"held-back-crd-spec:{args.name}"
        self.specs[reference] = args.props["spec"]
        return pulumi.ResourceTransformationResult({**args.props, "spec": reference}, args.opts)

    def restore(self, inputs: dict[str, Any]) -> dict[str, Any]:
        reference = inputs.get("spec")
        if isinstance(reference, str) and reference in self.specs:
            return {**inputs, "spec": self.specs.pop(reference)}
        return inputs


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor's RegisterResource, leaner: inputs deserialized once, outputs echoed as the request's own struct."""

    def __init__(self, mocks: pulumi_mocks.Mocks, held_back: _HeldBack | None = None) -> None:
        super().__init__(mocks)
        self.records: list[Registered] = []
        self.held_back = held_back

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        # Deserializing a resource reference needs an event loop on this (executor) thread.
        _ensure_event_loop()  # type: ignore[no-untyped-call]
        inputs = rpc.deserialize_properties(request.object)
        if self.held_back is not None and request.type == CRD:
            inputs = self.held_back.restore(inputs)
        args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=pulumi_mocks._resolve_callbacks(request.transforms),
        )
        id_, state = self.mocks.new_resource(args)
        id_ = id_ or ""
        # A plain echo goes back as the very struct the SDK sent; only a computed or live state is serialized.
        outputs = request.object if state == inputs else _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        self.records.append(
            Registered(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=bool(request.custom),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                provider=request.provider,
                inputs=inputs,
                dependencies=tuple(sorted(request.dependencies)),
                ignore_changes=tuple(request.ignoreChanges),
                replace_on_changes=tuple(request.replaceOnChanges),
            )
        )
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=outputs)


@contextlib.contextmanager
def _without_source_positions() -> Iterator[None]:
    """The SDK walks the Python stack (reading source lines) for every resource to tell the engine where it was
    declared; a mocked run records no positions, so it gets an empty trace. Fails loudly if the SDK renames the hook."""
    original = runtime_resource._get_stack_trace
    runtime_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        runtime_resource._get_stack_trace = original


@dataclass(frozen=True)
class Program:
    settings: Settings
    records: list[Registered]
    outputs: dict[str, Any]  # stack outputs (pulumi.export) as the engine receives them; secrets still wrapped


def run_program(
    stack: str, config: dict[str, str], secret_keys: set[str], build: Callable[[Settings], None] = build_program
) -> tuple[Settings, list[Registered]]:
    """Validate settings, then ``build`` (default: the whole stack) under mocks; raises SettingsError before any registration."""
    program = run_program_with_outputs(stack, config, secret_keys, build)
    return program.settings, program.records


def run_program_with_outputs(
    stack: str,
    config: dict[str, str],
    secret_keys: set[str],
    build: Callable[[Settings], None] = build_program,
    live: LiveObjects | None = None,
    *,
    hold_back_crd_schemas: bool = True,
) -> Program:
    """``run_program``, also returning the stack outputs. ``live``: what the cluster already holds;
    its kube-system namespace is the cluster the stack names (observability:kubernetes.clusterId) unless given.

    ``hold_back_crd_schemas``: keep CRD specs out of the SDK's serialization (see the module docstring);
    the records are the same either way, only the CRD resources' own output properties differ.
    """
    mocks = _EchoMocks(live)
    held_back = _HeldBack() if hold_back_crd_schemas else None
    monitor = _RecordingMonitor(mocks, held_back)
    pulumi.runtime.set_all_config(config, sorted(secret_keys))
    # A fresh root per run, so several renders in one process do not share a Stack.
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    settings = settings_from_pulumi()
    mocks.live = {**cluster_with_uid(settings.kubernetes.cluster_id), **(live or {})}

    exported: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        if held_back is not None:
            pulumi.runtime.register_stack_transformation(held_back.transformation)
        build(settings)
        exported.update(getattr(runtime_settings.get_root_resource(), "outputs", {}))

    with _without_source_positions():
        program()
    # Serialized the way the engine receives them, so a secret output stays marked secret.
    outputs = rpc.deserialize_properties(_sync_await(rpc.serialize_properties(exported, {})))
    return Program(settings, sorted(monitor.records, key=lambda r: r.urn), dict(outputs))
