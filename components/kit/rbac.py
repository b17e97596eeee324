"""Roles and their bindings to one ServiceAccount: the shape every component's RBAC takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

Rule = Mapping[str, Any]


def rule(groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str]) -> dict[str, Any]:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


def cluster_access(
    name: str, *, account: str, account_namespace: str, rules: Sequence[Rule], labels: Mapping[str, str], opts: pulumi.ResourceOptions
) -> None:
    """A ClusterRole bound to the account; ``name`` must be unique in the cluster (include the namespace)."""
    metadata = {"name": name, "labels": dict(labels)}
    role = k8s.rbac.v1.ClusterRole(name, metadata=metadata, rules=[dict(r) for r in rules], opts=opts)
    k8s.rbac.v1.ClusterRoleBinding(
        name,
        metadata=metadata,
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        subjects=[{"kind": "ServiceAccount", "name": account, "namespace": account_namespace}],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])),
    )


def namespace_access(
    name: str, *, namespace: str, account: str, account_namespace: str, rules: Sequence[Rule], labels: Mapping[str, str], opts: pulumi.ResourceOptions
) -> None:
    """A Role in ``namespace`` bound to the account (which may live in another namespace)."""
    metadata = {"name": name, "namespace": namespace, "labels": dict(labels)}
    resource_name = f"{name}@{namespace}"
    role = k8s.rbac.v1.Role(resource_name, metadata=metadata, rules=[dict(r) for r in rules], opts=opts)
    k8s.rbac.v1.RoleBinding(
        resource_name,
        metadata=metadata,
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        subjects=[{"kind": "ServiceAccount", "name": account, "namespace": account_namespace}],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])),
    )
