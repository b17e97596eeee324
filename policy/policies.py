"""CrossGuard wrappers around the checks in ``checks.py``: one policy per rule,
all mandatory, so `pulumi preview --policy-pack policy` fails on a violation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy import checks

Check = Callable[[checks.Resource], list[str]]


def to_resource(args: ResourceValidationArgs) -> checks.Resource:
    return checks.Resource(
        type=args.resource_type, props=args.props, urn=args.urn, protect=bool(args.opts.protect)
    )


def _validator(check: Check) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(to_resource(args)):
            report_violation(message, None)

    return validate


def _resource_policy(name: str, description: str, check: Check) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=_validator(check),
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _validate_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    stacks = args.get_config().get("protectedStacks", list(checks.DEFAULT_PROTECTED_STACKS))
    for message in checks.stateful_protected(to_resource(args), stacks):
        report_violation(message, None)


def _validate_retention_configs(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = [
        checks.Resource(type=r.resource_type, props=r.props, urn=r.urn, protect=bool(r.opts.protect))
        for r in args.resources
    ]
    for message in checks.retention_configs_present(resources):
        report_violation(message, None)


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
    StackValidationPolicy(
        name="retention-config-present",
        description="A running Loki or Tempo has its config (and so its retention) in a ConfigMap or Secret.",
        validate=_validate_retention_configs,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    _resource_policy(
        "no-credentials-in-configmaps",
        "ConfigMaps hold no passwords, tokens, webhook URLs or private keys.",
        checks.no_credentials_in_configmaps,
    ),
    ResourceValidationPolicy(
        name="prod-stateful-protected",
        description="In protected stacks (prod), StatefulSets, PVCs and Prometheus/Alertmanager are protected.",
        validate=_validate_protected,
        enforcement_level=EnforcementLevel.MANDATORY,
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
