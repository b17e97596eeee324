"""Builds every component of one stack, in dependency order."""

from __future__ import annotations

import pulumi

from components.alertmanager import Alertmanager
from components.namespace import stack_namespace
from components.operator import PrometheusOperator
from components.prometheus import Prometheus
from components.pushgateway import Pushgateway
from components.settings import Settings


def build_stack(settings: Settings) -> None:
    namespace = stack_namespace(settings)
    in_namespace = pulumi.ResourceOptions(depends_on=[namespace])
    # Custom resources (Prometheus, Alertmanager, rules, monitors) wait for the CRDs this stack installs.
    crds: list[pulumi.Resource] = []
    if settings.operator.install:
        crds = PrometheusOperator(settings, in_namespace).crds
    Pushgateway(settings, in_namespace)
    alertmanager = Alertmanager(settings, crds=crds, opts=in_namespace)
    Prometheus(settings, alertmanager_service=alertmanager.service_name, crds=crds, opts=in_namespace)
    pulumi.export("environment", settings.environment)
    pulumi.export("namespace", settings.namespace)
