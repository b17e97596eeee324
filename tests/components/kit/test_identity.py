"""Identity: a ServiceAccount per component, an API token only where the API is called, least-privilege RBAC."""

from __future__ import annotations

from typing import Any

from components.kit.labels import NAME_LABEL
from components.wiring.flows import API_CLIENTS
from tests.support.workload_rules import pod_specs
from tooling.render import Render

OPERATOR_KINDS = ("Prometheus", "Alertmanager")
# Verbs that let an account grant itself more than it has.
ESCALATING_VERBS = {"escalate", "bind", "impersonate", "*"}


def _accounts(render: Render) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in render.manifests() if m["kind"] == "ServiceAccount"}


def _workloads(render: Render) -> list[tuple[str, str, dict[str, Any]]]:
    """(component, kind/name, pod spec or operator resource spec) of everything that runs pods."""
    found = []
    for manifest in render.manifests():
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if manifest["kind"] in OPERATOR_KINDS:
            found.append((manifest["kind"].lower(), where, manifest["spec"]))
        for spec in pod_specs(manifest):
            labels = manifest["spec"]["template"]["metadata"]["labels"]
            found.append((labels.get(NAME_LABEL, where), where, spec))
    return found


def test_every_workload_runs_under_its_own_service_account(rendered: Render) -> None:
    accounts = _accounts(rendered)
    owners: dict[str, str] = {}
    for component, where, spec in _workloads(rendered):
        account = spec.get("serviceAccountName")
        assert account and account != "default", f"{where} runs as the namespace's default account"
        assert account in accounts, f"{where} uses {account}, which the stack does not create"
        assert owners.setdefault(account, component) == component, f"{account} is shared by {owners[account]} and {component}"


def test_an_api_token_is_mounted_only_where_the_api_is_called(rendered: Render) -> None:
    for component, where, spec in _workloads(rendered):
        mounts = spec.get("automountServiceAccountToken")
        if component in API_CLIENTS:
            continue
        assert mounts is False, f"{where} ({component}) mounts an API token it does not need"
    for name, account in _accounts(rendered).items():
        assert account.get("automountServiceAccountToken") is False, f"ServiceAccount {name} mounts its token by default"


def test_rbac_grants_no_escalation_and_no_wildcards(rendered: Render) -> None:
    for manifest in rendered.manifests():
        if manifest["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in manifest.get("rules") or []:
            where = f"{manifest['kind']}/{manifest['metadata']['name']}"
            assert not ESCALATING_VERBS & set(rule.get("verbs", [])), f"{where} grants {rule['verbs']}"
            assert "*" not in rule.get("resources", []), f"{where} grants every resource"
            if "secrets" in rule.get("resources", []) and manifest["kind"] == "ClusterRole":
                assert set(rule["verbs"]) <= {"get", "list", "watch"}, f"{where} may change Secrets cluster-wide"
