"""Run the Pulumi program under mocks and record every resource it registers.

The mock monitor echoes inputs back as outputs (there is no cluster), and
records what `pulumi preview` would show: type, name, parent, options, inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.sync_await import _sync_await

from components.settings import Settings
from components.settings.pulumi_config import settings_from_pulumi
from components.stack import build_stack

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


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.records.append(
                Registered(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=bool(request.custom),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    provider=request.provider,
                    inputs=rpc.deserialize_properties(request.object),
                    dependencies=tuple(sorted(request.dependencies)),
                    ignore_changes=tuple(request.ignoreChanges),
                    replace_on_changes=tuple(request.replaceOnChanges),
                )
            )
        return response


@dataclass(frozen=True)
class Program:
    settings: Settings
    records: list[Registered]
    outputs: dict[str, Any]  # stack outputs (pulumi.export) as the engine receives them; secrets still wrapped


def run_program(
    stack: str, config: dict[str, str], secret_keys: set[str], build: Callable[[Settings], None] = build_stack
) -> tuple[Settings, list[Registered]]:
    """Validate settings, then ``build`` (default: the whole stack) under mocks; raises SettingsError before any registration."""
    program = run_program_with_outputs(stack, config, secret_keys, build)
    return program.settings, program.records


def run_program_with_outputs(
    stack: str,
    config: dict[str, str],
    secret_keys: set[str],
    build: Callable[[Settings], None] = build_stack,
    live: LiveObjects | None = None,
) -> Program:
    """``run_program``, also returning the stack outputs. ``live``: what the cluster already holds;
    its kube-system namespace is the cluster the stack names (observability:kubernetes.clusterId) unless given."""
    mocks = _EchoMocks(live)
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_all_config(config, sorted(secret_keys))
    # A fresh root per run, so several renders in one process do not share a Stack.
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    settings = settings_from_pulumi()
    mocks.live = {**cluster_with_uid(settings.kubernetes.cluster_id), **(live or {})}

    exported: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        build(settings)
        exported.update(getattr(runtime_settings.get_root_resource(), "outputs", {}))

    program()
    # Serialized the way the engine receives them, so a secret output stays marked secret.
    outputs = rpc.deserialize_properties(_sync_await(rpc.serialize_properties(exported, {})))
    return Program(settings, sorted(monitor.records, key=lambda r: r.urn), dict(outputs))
