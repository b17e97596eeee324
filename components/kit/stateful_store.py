"""A single-binary store (Loki, Tempo in monolithic mode): one StatefulSet whose volume holds its data.

What such a store is, whichever signal it keeps: one YAML config file in a ConfigMap whose checksum
rolls the pods, an optional bucket whose credentials reach the pod from a Secret, one claim per replica
made by the stack (so a larger size grows it in place, docs/data-safety.md), a headless Service naming
the pods and a Service for its clients. The store's module states only what tells it apart (:class:`StoreFacts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.kit.config_file import ConfigFile, config_checksum, config_map, config_volume
from components.kit.context import HttpEndpoint, StackContext, StoreSection
from components.kit.object_storage import Credentials, credentials
from components.kit.objects import ComponentMeta, service, service_account
from components.kit.protection import stateful_options
from components.kit.volumes import STATEFULSET_TEMPLATES, claim_spec, replica_claims
from components.kit.workload import ContainerSpec, Port, Probes, pod_spec, pod_template

DATA_VOLUME = "data"
# How long a stopping store may take before it is killed.
TERMINATION_GRACE_SECONDS = 300


@dataclass(frozen=True)
class StoreFacts:
    """What tells one single-binary store from another.

    ``name`` names the component, its objects and its container; ``role`` is its component label.
    ``endpoint`` is the HTTP API (port, probe paths); ``ports`` are every port the container listens
    on, ``headless_ports`` those the headless Service publishes. ``config`` is where the config file
    is mounted, ``data_dir`` where the volume is. ``run_as_user`` is the image's user (UID), also the
    pod's fsGroup. ``pod_management_policy`` is written into the StatefulSet when set.
    """

    name: str
    role: str
    endpoint: HttpEndpoint
    ports: tuple[Port, ...]
    headless_ports: tuple[Port, ...]
    config: ConfigFile
    data_dir: str
    run_as_user: int
    pod_management_policy: str | None = None


def config_text(config: Mapping[str, Any]) -> str:
    """The config file as written into the ConfigMap: YAML in the generator's key order."""
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


class StatefulStore(pulumi.ComponentResource):
    """The store's objects, children of this component; ``service`` is the Service its clients use.

    ``type_token`` is the subclass's Pulumi type (observability:logs:Loki); the component is named
    ``facts.name``. ``config`` is the config document (written as YAML), ``storage_key`` the settings key
    of the volume (named in refusals), ``secrets`` the bucket's credential secrets by secret config key
    (empty unless the bucket's credentials come from secrets).
    """

    service: k8s.core.v1.Service

    def __init__(
        self,
        type_token: str,
        facts: StoreFacts,
        section: StoreSection,
        context: StackContext,
        config: Mapping[str, Any],
        *,
        storage_key: str,
        secrets: Mapping[str, pulumi.Output[str] | None],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token, facts.name, None, opts)
        name = facts.name
        meta = ComponentMeta.of(name, context, role=facts.role, image=section.image)
        text = config_text(config)
        bucket = section.object_storage

        account = service_account(meta, self, annotations=bucket.service_account_annotations if bucket else None)
        files = config_map(meta, facts.config, text, self)
        creds = credentials(bucket, secrets, name=f"{name}-object-storage", metadata=meta.metadata(), parent=self)
        headless_name = f"{name}-headless"
        headless = service(meta, facts.headless_ports, self, name=headless_name, headless=True)
        # Each replica's claim is the stack's own, so a larger size grows it in place (docs/data-safety.md).
        claims = replica_claims(
            context, section.storage, storage_key,
            template=DATA_VOLUME, statefulset=name, replicas=section.replicas, labels=meta.selector, parent=self
        )
        order: dict[str, Any] = {"podManagementPolicy": facts.pod_management_policy} if facts.pod_management_policy else {}
        k8s.apps.v1.StatefulSet(
            name,
            metadata=meta.metadata(),
            spec={
                "replicas": section.replicas,
                "serviceName": headless_name,
                **order,
                "selector": {"matchLabels": dict(meta.selector)},
                # The volume outlives the StatefulSet: the data survives a delete and re-create.
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "template": pod_template(
                    labels=meta.labels,
                    annotations=config_checksum(text),
                    spec=pod_spec(
                        containers=[_container(facts, section, creds)],
                        service_account_name=name,
                        run_as_user=facts.run_as_user,
                        fs_group=facts.run_as_user,
                        volumes=[config_volume(meta), *creds.volumes],
                        extra={"terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS},
                    ),
                ),
                "volumeClaimTemplates": [{"metadata": {"name": DATA_VOLUME, "labels": dict(meta.selector)}, "spec": claim_spec(section.storage)}],
            },
            opts=stateful_options(context, self, depends_on=[account, files, headless, *claims], ignore_changes=[STATEFULSET_TEMPLATES]),
        )
        self.service = service(meta, facts.ports, self)
        self.register_outputs({"service": self.service.metadata["name"]})


def _container(facts: StoreFacts, section: StoreSection, creds: Credentials) -> ContainerSpec:
    """The one container: the single binary running every module (-target=all) with the mounted config."""
    return ContainerSpec(
        name=facts.name,
        image=section.image,
        resources=section.resources,
        # /ready waits for the ingester (ring join, WAL replay): a startup probe gives it time.
        probes=Probes.http(facts.endpoint, slow_start=True),
        ports=facts.ports,
        args=(f"-config.file={facts.config.path}", "-target=all"),
        env=creds.env,
        volume_mounts=(
            facts.config.mount(),
            {"name": DATA_VOLUME, "mountPath": facts.data_dir},
            *creds.mounts,
        ),
        scratch_dirs=("/tmp",),
        run_as_user=facts.run_as_user,
    )
