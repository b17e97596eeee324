"""Availability settings and builders: disruption budgets and spreading of replicated components."""

from __future__ import annotations

import pytest

from components.availability import NODE_KEY, ZONE_KEY, spread
from components.settings import SettingsError, load_settings
from scripts.stack_config import apply_overrides, read_stack_config

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
    fields = spread(SELECTOR, 3, _settings("prod"))
    term = fields["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term == {"labelSelector": {"matchLabels": SELECTOR}, "topologyKey": NODE_KEY}
    (zone,) = fields["topologySpreadConstraints"]
    assert (zone["topologyKey"], zone["maxSkew"], zone["whenUnsatisfiable"]) == (ZONE_KEY, 1, "ScheduleAnyway")
    assert zone["labelSelector"] == {"matchLabels": SELECTOR}


def test_dev_only_prefers_separate_nodes() -> None:
    fields = spread(SELECTOR, 2, _settings("dev"))
    preferred = fields["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert preferred["podAffinityTerm"]["topologyKey"] == NODE_KEY
    assert "topologySpreadConstraints" not in fields


def test_a_single_replica_gets_no_spreading_rules() -> None:
    assert spread(SELECTOR, 1, _settings("prod")) == {}


def test_spreading_can_be_switched_off() -> None:
    assert spread(SELECTOR, 3, _settings("prod", "availability.nodeSpread=off", "availability.zoneSpread=off")) == {}


def test_zone_spread_can_be_required() -> None:
    fields = spread(SELECTOR, 3, _settings("prod", "availability.zoneSpread=required"))
    assert fields["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"


def test_a_budget_that_lets_every_replica_go_is_refused() -> None:
    message = _error("prod", "availability.maxUnavailable=2")
    assert "observability:availability.maxUnavailable = 2" in message
    assert "prometheus" in message and "from 1 to 1" in message


def test_bad_availability_values_name_the_key_and_the_accepted_form() -> None:
    message = _error("dev", "availability.maxUnavailable=0", "availability.nodeSpread=always")
    assert "availability.maxUnavailable = 0" in message and "at least 1" in message
    assert "availability.nodeSpread = 'always'" in message and "'required', 'preferred' or 'off'" in message


def test_bad_network_values_name_the_key_and_the_accepted_form() -> None:
    message = _error("dev", "network.nodeCidrs=[10.0.0.0/33]", "network.monitoredNamespaces=[Not_A_Namespace]")
    assert "network.nodeCidrs.0 = '10.0.0.0/33'" in message and "CIDR notation" in message
    assert "network.monitoredNamespaces.0 = 'Not_A_Namespace'" in message and "DNS-1123" in message
