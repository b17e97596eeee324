"""A component's ServiceAccount, and Roles bound to it: the shape every component's identity and RBAC take."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

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
    """A component's ServiceAccount ``resource`` (``name`` in ``namespace``); its grants are registered under
    ``parent``, after the account, and carry ``labels``."""

    resource: k8s.core.v1.ServiceAccount
    name: str
    namespace: str
    labels: Mapping[str, str]
    parent: pulumi.Resource


def service_account(name: str, *, metadata: Mapping[str, Any], parent: pulumi.Resource) -> Account:
    """The account ``name`` (namespace and labels from ``metadata``). It mounts no API token: a pod that calls
    the Kubernetes API asks for one in its own spec (automountServiceAccountToken)."""
    resource = k8s.core.v1.ServiceAccount(
        name, metadata={**metadata, "name": name}, automount_service_account_token=False, opts=pulumi.ResourceOptions(parent=parent)
    )
    return Account(resource, name, metadata["namespace"], metadata["labels"], parent)


def _bound_role(kind: str, resource_name: str, metadata: Mapping[str, Any], account: Account, rules: Sequence[Rule]) -> None:
    """A Role or ClusterRole (``kind``) and its binding of the same name to the account."""
    role_type, binding_type = _ROLE_TYPES[kind]
    opts = pulumi.ResourceOptions(parent=account.parent, depends_on=[account.resource])
    role = role_type(resource_name, metadata=dict(metadata), rules=[dict(r) for r in rules], opts=opts)
    binding_type(
        resource_name,
        metadata=dict(metadata),
        role_ref={"apiGroup": RBAC_GROUP, "kind": kind, "name": metadata["name"]},
        subjects=[{"kind": "ServiceAccount", "name": account.name, "namespace": account.namespace}],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])),
    )


def cluster_access(account: Account, *, rules: Sequence[Rule]) -> None:
    """A ClusterRole bound to the account, named <account>-<its namespace> so that each stack's is unique in the cluster."""
    name = f"{account.name}-{account.namespace}"
    _bound_role("ClusterRole", name, {"name": name, "labels": dict(account.labels)}, account, rules)


def namespace_access(name: str, *, namespace: str, account: Account, rules: Sequence[Rule]) -> None:
    """A Role ``name`` in ``namespace`` (which may be another than the account's) bound to the account."""
    metadata = {"name": name, "namespace": namespace, "labels": dict(account.labels)}
    # Roles of one name may stand in several namespaces: the resource name carries the namespace.
    _bound_role("Role", f"{name}@{namespace}", metadata, account, rules)
