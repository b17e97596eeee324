"""The stack's cluster: an explicit Kubernetes provider, and a refusal before any change when the
cluster it reaches is not the one the stack belongs to.

Identity is the UID of the ``kube-system`` namespace (set by the API server when the cluster is
made, the same for every user and context, new when a cluster is rebuilt); a kubeconfig context
name is only a local alias and can point anywhere. The check reads that namespace through a
probe provider, and every custom resource of the stack (the stack's provider included) depends
on the result: when it fails, the engine is handed no resource to change.

The stack's provider pins ``clusterIdentifier`` to the same UID. pulumi-kubernetes
(provider/pkg/provider/provider.go, DiffConfig) otherwise plans a replacement of every resource
when the kubeconfig's active cluster entry changes (a rotated credential or a new API endpoint of
the same cluster); with the identifier set and unchanged it plans none, and adding it to an
existing stack plans none either.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.kit.context import StackContext
from components.kit.volumes import SKIP_AWAIT
from components.settings.errors import NAMESPACE
from components.settings.platform import KubernetesSettings

# The Kubernetes minor versions the stack supports: every rendered object is checked against each
# (scripts/api_check.py), and Pod Security levels are pinned to the oldest (components/namespace.py).
SUPPORTED_KUBERNETES = ("1.33", "1.34", "1.35", "1.36", "1.37")
IDENTITY_NAMESPACE = "kube-system"
PROBE = "cluster-identity"
PROVIDER = "cluster"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
CONTEXT_KEY = f"{NAMESPACE}:kubernetes.context"
CLUSTER_ID_KEY = f"{NAMESPACE}:kubernetes.clusterId"


class WrongClusterError(pulumi.RunError):
    """The cluster reached is not (or is not known to be) the stack's; shown without a traceback."""


def _where(config: KubernetesSettings) -> str:
    context = config.context
    return f"kubeconfig context '{context}'" if context else "the kubeconfig's current context"


def identity_problem(config: KubernetesSettings, stack: str, reached: str | None) -> str | None:
    """Why the cluster whose kube-system UID is ``reached`` must not be deployed to by ``stack``; None when it is the stack's."""
    expected = config.cluster_id
    if reached is not None and reached == expected:
        return None
    where = _where(config)
    record = f"pulumi config set --path kubernetes.clusterId {reached} --stack {stack}"
    if expected is None:
        return (
            f"refusing to deploy stack '{stack}': {CLUSTER_ID_KEY} is not set, so nothing says which cluster "
            f"the stack belongs to. The cluster reached through {where} has kube-system UID {reached}. "
            f"If that is the {stack} cluster, record it: {record}. Nothing was changed."
        )
    if reached is None:
        return f"refusing to deploy stack '{stack}': the cluster reached through {where} did not report a kube-system UID. Nothing was changed."
    return (
        f"refusing to deploy stack '{stack}': it belongs to the cluster whose kube-system UID is {expected} "
        f"({CLUSTER_ID_KEY}), but {where} reaches the cluster {reached}. Nothing was changed. "
        f"Fix: point {CONTEXT_KEY} at the {stack} cluster (pulumi config set --path kubernetes.context NAME --stack {stack}; "
        f"kubectl config get-contexts lists them) or fix that context in your kubeconfig. Only if {reached} really is "
        f"the {stack} cluster (it was rebuilt) record it: {record}."
    )


def _verified(config: KubernetesSettings, stack: str, metadata: Any, kube_system: pulumi.Resource) -> pulumi.Resource:
    reached = getattr(metadata, "uid", None) if metadata is not None else None
    problem = identity_problem(config, stack, reached)
    if problem is not None:
        raise WrongClusterError(problem)
    return kube_system


def with_skip_await(metadata: Any) -> Any:
    """``metadata`` (a dict, an input type, an Output or None) with the skip-await annotation added."""
    if isinstance(metadata, pulumi.Output):
        return metadata.apply(with_skip_await)
    if metadata is None:
        return {"annotations": {SKIP_AWAIT: "true"}}
    if isinstance(metadata, dict):
        annotations = metadata.get("annotations")
        merged = pulumi.Output.from_input(annotations or {}).apply(lambda found: {**(found or {}), SKIP_AWAIT: "true"})
        return {**metadata, "annotations": merged if isinstance(annotations, pulumi.Output) else {**(annotations or {}), SKIP_AWAIT: "true"}}
    annotations = metadata.annotations
    metadata.annotations = with_skip_await({"annotations": annotations})["annotations"]
    return metadata


class KubeconfigError(pulumi.RunError):
    """No file of $KUBECONFIG defines the stack's context; shown without a traceback."""


def _names(document: dict[str, Any], section: str) -> set[Any]:
    return {entry.get("name") for entry in document.get(section) or [] if isinstance(entry, dict)}


def kubeconfig_file(context: str | None, kubeconfig: str | None) -> str | None:
    """The file of a multi-file $KUBECONFIG that holds ``context`` (None: the current context) with its cluster
    and user, for the providers; None when $KUBECONFIG is unset, names one file, or holds a kubeconfig document
    itself (the providers then read it as they always do).

    pulumi-kubernetes takes its ``kubeconfig`` input as one path or one document (provider/pkg/provider/
    util.go, parseKubeconfigString), and its Python SDK fills that input from $KUBECONFIG: a list such as
    ``a:b`` failed with "failed to parse kubeconfig data" (seen by the deploy test). As with kubectl, the first
    file that names the context is the one; it must also name the context's cluster and user (a context split
    across files is refused, naming the fix). Errors name paths only, never a file's content."""
    value = kubeconfig or ""
    if "\n" in value or value.lstrip().startswith(("{", "apiVersion")):
        return None
    files = [path for path in value.split(os.pathsep) if path]
    if len(files) < 2:
        return None
    for path in files:
        try:
            document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(document, dict):
            continue
        name = context or document.get("current-context")
        entry = next((e.get("context") or {} for e in document.get("contexts") or [] if isinstance(e, dict) and e.get("name") == name), None)
        if not name or entry is None:
            continue
        if entry.get("cluster") in _names(document, "clusters") and entry.get("user") in _names(document, "users"):
            return path
        raise KubeconfigError(
            f"{path} (in KUBECONFIG) defines context '{name}' but not its cluster and user in the same file; the providers "
            "read one file: merge them (kubectl config view --flatten > FILE) and point KUBECONFIG at FILE"
        )
    wanted = f"context '{context}'" if context else "a current context"
    shown = ", ".join(path for path in files if Path(path).exists()) or "no existing file"
    raise KubeconfigError(f"no file of KUBECONFIG ({shown}) defines {wanted}; set {CONTEXT_KEY} to a context one of them defines")


def use_stack_cluster(config: KubernetesSettings, context: StackContext) -> k8s.Provider:
    """Register the identity check and the stack's provider; every custom resource registered after
    this call waits for the check, and every Kubernetes resource uses that provider."""
    kubeconfig = kubeconfig_file(config.context, os.environ.get("KUBECONFIG"))
    probe = k8s.Provider(PROBE, context=config.context, kubeconfig=kubeconfig)
    kube_system = k8s.core.v1.Namespace.get(PROBE, IDENTITY_NAMESPACE, opts=pulumi.ResourceOptions(provider=probe))
    verified: pulumi.Output[pulumi.Resource] = kube_system.metadata.apply(lambda metadata: _verified(config, context.stack, metadata, kube_system))
    provider_holder: list[k8s.Provider] = []

    def on_cluster(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not isinstance(args.resource, pulumi.CustomResource):
            return None
        extra = pulumi.ResourceOptions(depends_on=[verified])
        props = args.props
        if args.type_.startswith("kubernetes:") and provider_holder:
            extra.provider = provider_holder[0]
            if config.skip_readiness_waits:
                props = {**props, "metadata": with_skip_await(props.get("metadata"))}
        return pulumi.ResourceTransformationResult(props, pulumi.ResourceOptions.merge(args.opts, extra))

    pulumi.runtime.register_stack_transformation(on_cluster)
    provider = k8s.Provider(
        PROVIDER,
        context=config.context,
        kubeconfig=kubeconfig,
        cluster_identifier=config.cluster_id,
        # pulumi-kubernetes replaces a ConfigMap or Secret whose data changed unless told they are mutable
        # (provider.go, Configure): a new retention or Loki limit then planned replacements, not the in-place
        # updates reviewers expect (seen by the deploy test). Pods that read a config roll through its checksum;
        # a Secret read as environment variables reaches running pods at their next restart, as it did when the
        # replacement kept the Secret's name.
        enable_config_map_mutable=True,
        enable_secret_mutable=True,
    )
    provider_holder.append(provider)
    return provider
