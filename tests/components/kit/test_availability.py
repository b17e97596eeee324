"""Availability settings and builders: disruption budgets and spreading of replicated components."""

from __future__ import annotations

import pytest

from components.kit.availability import NODE_KEY, ZONE_KEY, spread
from components.settings.errors import SettingsError
from components.settings.loader import load_settings
from tooling.stack_config import apply_overrides, read_stack_config

SELECTOR = {"app.kubernetes.io/name": "alertmanager"}


def _settings(stack: str, *overrides: str):
    config = read_stack_config(stack)
    apply_overrides(config, overrides)
    return load_settings(config.engine_form(), stack, config.secret_keys)


def _error(stack: str, *overrides: str) -> str:
    with pytest.raises(SettingsError) as error:
        _settings(stack, *overrides)
    return str(error.value)


def test_prod_keeps_replicas_on_separate_nodes_and_spreads_zones() -> None:
    fields = spread(SELECTOR, 3, _settings("prod").context)
    term = fields["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term == {"labelSelector": {"matchLabels": SELECTOR}, "topologyKey": NODE_KEY}
    (zone,) = fields["topologySpreadConstraints"]
    assert (zone["topologyKey"], zone["maxSkew"], zone["whenUnsatisfiable"]) == (ZONE_KEY, 1, "ScheduleAnyway")
    assert zone["labelSelector"] == {"matchLabels": SELECTOR}


def test_dev_only_prefers_separate_nodes() -> None:
    fields = spread(SELECTOR, 2, _settings("dev").context)
    preferred = fields["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert preferred["podAffinityTerm"]["topologyKey"] == NODE_KEY
    assert "topologySpreadConstraints" not in fields


def test_a_single_replica_gets_no_spreading_rules() -> None:
    assert spread(SELECTOR, 1, _settings("prod").context) == {}


def test_spreading_can_be_switched_off() -> None:
    assert spread(SELECTOR, 3, _settings("prod", "availability.nodeSpread=off", "availability.zoneSpread=off").context) == {}


def test_zone_spread_can_be_required() -> None:
    fields = spread(SELECTOR, 3, _settings("prod", "availability.zoneSpread=required").context)
    assert fields["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"


def test_a_budget_that_lets_every_replica_go_is_refused() -> None:
    message = _error("prod", "availability.maxUnavailable=2")
    assert "observability:availability.maxUnavailable = 2" in message
    assert "prometheus" in message and "from 1 to 1" in message


def test_bad_availability_values_name_the_key_and_the_accepted_form() -> None:
    message = _error("dev", "availability.maxUnavailable=0", "availability.nodeSpread=always")
    assert "availability.maxUnavailable = 0" in message and "a whole number from 1 to" in message
    assert "availability.nodeSpread = 'always'" in message and "'required', 'preferred' or 'off'" in message


def test_bad_network_values_name_the_key_and_the_accepted_form() -> None:
    message = _error("dev", "network.nodeCidrs=[10.0.0.0/33]", "network.monitoredNamespaces=[Not_A_Namespace]")
    assert "network.nodeCidrs.0 = '10.0.0.0/33'" in message and "CIDR notation" in message
    assert "network.monitoredNamespaces.0 = 'Not_A_Namespace'" in message and "DNS-1123" in message


def _pod_labels(manifest: dict):
    """Labels of the pods a workload runs; for the operator's resources, the labels the operator sets."""
    kind = manifest["kind"]
    if kind in ("Prometheus", "Alertmanager"):
        extra = (manifest["spec"].get("podMetadata") or {}).get("labels") or {}
        name = manifest["metadata"]["name"]
        # The operator's own labels win over podMetadata's (its selector is built from them).
        own = {"app.kubernetes.io/name": kind.lower(), "app.kubernetes.io/instance": name, "app.kubernetes.io/managed-by": "prometheus-operator"}
        own |= {"prometheus": name, "operator.prometheus.io/name": name} if kind == "Prometheus" else {"alertmanager": name}
        return {**extra, **own}
    if kind in ("Deployment", "StatefulSet"):
        return manifest["spec"]["template"]["metadata"]["labels"]
    return None


def _spread_fields(manifest: dict):
    if manifest["kind"] in ("Prometheus", "Alertmanager"):
        return manifest["spec"]
    return manifest["spec"]["template"]["spec"]


def test_every_replicated_component_of_prod_has_a_budget_and_is_spread(render_stack) -> None:
    render = render_stack("prod")
    manifests = render.manifests()
    budgets = [m for m in manifests if m["kind"] == "PodDisruptionBudget"]
    replicated = [m for m in manifests if _pod_labels(m) is not None and (m["spec"].get("replicas") or 1) > 1]
    # DESIGN.md: highly available Prometheus and Alertmanager in prod.
    assert {"Prometheus", "Alertmanager"} <= {m["kind"] for m in replicated}
    for manifest in replicated:
        labels = _pod_labels(manifest)
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        matching = [b for b in budgets if all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items())]
        assert len(matching) == 1, f"{where}: {len(matching)} disruption budgets select its pods"
        assert matching[0]["spec"]["maxUnavailable"] == render.settings.availability.max_unavailable
        fields = _spread_fields(manifest)
        anti = fields["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert all(labels.get(k) == v for k, v in anti[0]["labelSelector"]["matchLabels"].items()), where
        assert fields["topologySpreadConstraints"][0]["topologyKey"] == ZONE_KEY, where
    # A budget selects pods of something the stack runs, never nothing.
    for budget in budgets:
        selector = budget["spec"]["selector"]["matchLabels"]
        assert any(all((_pod_labels(m) or {}).get(k) == v for k, v in selector.items()) for m in manifests), budget["metadata"]["name"]
