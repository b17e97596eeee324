"""Roles bound to a component's ServiceAccount: the shape every component's RBAC takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kit.objects import ComponentMeta, service_account

Rule = Mapping[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
# Each role kind and the kind that binds it.
_ROLE_TYPES: dict[str, tuple[Any, Any]] = {
    "ClusterRole": (k8s.rbac.v1.ClusterRole, k8s.rbac.v1.ClusterRoleBinding),
    "Role": (k8s.rbac.v1.Role, k8s.rbac.v1.RoleBinding),
}


def rule(groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str]) -> dict[str, Any]:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


@dataclass(frozen=True)
class Account:
    """A component's ServiceAccount ``resource``, named after ``meta``; grants to it are registered under
    ``parent``, after the account, and carry the component's labels."""

    meta: ComponentMeta
    resource: k8s.core.v1.ServiceAccount
    parent: pulumi.Resource


def account(meta: ComponentMeta, parent: pulumi.Resource) -> Account:
    """Register the component's ServiceAccount (components/kit/objects.py: no API token unless a pod asks)."""
    return Account(meta, service_account(meta, parent), parent)


def _bound_role(kind: str, resource_name: str, metadata: Mapping[str, Any], account: Account, rules: Sequence[Rule]) -> None:
    """A Role or ClusterRole (``kind``) and its binding of the same name to the account."""
    role_type, binding_type = _ROLE_TYPES[kind]
    opts = pulumi.ResourceOptions(parent=account.parent, depends_on=[account.resource])
    role = role_type(resource_name, metadata=dict(metadata), rules=[dict(r) for r in rules], opts=opts)
    binding_type(
        resource_name,
        metadata=dict(metadata),
        role_ref={"apiGroup": RBAC_GROUP, "kind": kind, "name": metadata["name"]},
        subjects=[{"kind": "ServiceAccount", "name": account.meta.name, "namespace": account.meta.namespace}],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])),
    )


def cluster_access(account: Account, *, rules: Sequence[Rule]) -> None:
    """A ClusterRole bound to the account, named <account>-<its namespace> so that each stack's is unique in the cluster."""
    meta = account.meta
    name = f"{meta.name}-{meta.namespace}"
    _bound_role("ClusterRole", name, {"name": name, "labels": dict(meta.labels)}, account, rules)


def namespace_access(name: str, *, namespace: str, account: Account, rules: Sequence[Rule]) -> None:
    """A Role ``name`` in ``namespace`` (which may be another than the account's) bound to the account."""
    metadata = {"name": name, "namespace": namespace, "labels": dict(account.meta.labels)}
    # Roles of one name may stand in several namespaces: the resource name carries the namespace.
    _bound_role("Role", f"{name}@{namespace}", metadata, account, rules)
