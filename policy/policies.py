"""CrossGuard wrappers around the checks in ``checks.py``: one policy per rule,
all mandatory, so `pulumi preview --policy-pack policy` fails on a violation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy import checks

Check = Callable[[checks.Resource], list[str]]
P = TypeVar("P", ResourceValidationPolicy, StackValidationPolicy)


def to_resource(resource: ResourceValidationArgs | PolicyResource) -> checks.Resource:
    """What the checks read of a resource, from the one a resource policy validates or one of a stack's."""
    return checks.Resource(
        type=resource.resource_type, props=resource.props, urn=resource.urn, protect=bool(resource.opts.protect)
    )


def _report(messages: Iterable[str], report_violation: ReportViolation) -> None:
    for message in messages:
        report_violation(message, None)


def _validator(check: Check) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        _report(check(to_resource(args)), report_violation)

    return validate


def _mandatory(policy: type[P], name: str, description: str, validate: Callable[[Any, ReportViolation], None], **options: Any) -> P:
    """A policy of the pack; every one is mandatory, so a violation fails the preview."""
    return policy(name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY, **options)


def _resource_policy(name: str, description: str, check: Check) -> ResourceValidationPolicy:
    return _mandatory(ResourceValidationPolicy, name, description, _validator(check))


def _validate_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    stacks = args.get_config().get("protectedStacks", list(checks.DEFAULT_PROTECTED_STACKS))
    _report(checks.stateful_protected(to_resource(args), stacks), report_violation)


def _validate_retention_configs(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    _report(checks.retention_configs_present([to_resource(r) for r in args.resources]), report_violation)


POLICIES: Sequence[Policy] = [
    _resource_policy(
        "container-resource-limits",
        "Every container (and a Prometheus/Alertmanager spec) sets CPU and memory limits.",
        checks.containers_have_limits,
    ),
    _resource_policy(
        "container-probes",
        "Every long-running container has a liveness and a readiness probe.",
        checks.containers_have_probes,
    ),
    _resource_policy(
        "image-pinned",
        "No untagged images and no `latest` tag: pin a version tag or a digest.",
        checks.images_pinned,
    ),
    _resource_policy(
        "prometheus-retention",
        "Prometheus custom resources set spec.retention.",
        checks.prometheus_retention,
    ),
    _resource_policy(
        "loki-retention",
        "Loki configs set limits_config.retention_period and enable compactor retention.",
        checks.loki_retention,
    ),
    _resource_policy(
        "tempo-retention",
        "Tempo configs set compactor.compaction.block_retention.",
        checks.tempo_retention,
    ),
    _mandatory(
        StackValidationPolicy,
        "retention-config-present",
        "A running Loki or Tempo has its config (and so its retention) in a ConfigMap or Secret.",
        _validate_retention_configs,
    ),
    _resource_policy(
        "no-credentials-in-configmaps",
        "ConfigMaps hold no passwords, tokens, webhook URLs or private keys.",
        checks.no_credentials_in_configmaps,
    ),
    _mandatory(
        ResourceValidationPolicy,
        "prod-stateful-protected",
        "In protected stacks (prod), StatefulSets, PVCs and Prometheus/Alertmanager are protected.",
        _validate_protected,
        config_schema=PolicyConfigSchema(
            properties={
                "protectedStacks": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": list(checks.DEFAULT_PROTECTED_STACKS),
                }
            }
        ),
    ),
]
