"""Grafana: the Deployment (unless an external Grafana is configured), its cross-linked datasources
and one folder per monitored system.

How the objects get there (``delivered_by_api``): by default the stack's own Grafana provisions
them from files in ConfigMaps (components/grafana/provisioning.py), so `pulumi up` needs no
route to Grafana's API - which a hosted runner does not have, and which does not exist on a
first deploy until that same run has created Grafana. Through the Grafana API provider only when
a URL reachable from where `pulumi up` runs is configured: ``grafana.external`` or
``grafana.apiUrl``. Then ``access`` (the provider and the folders) is what dashboards and
anything else that creates Grafana objects receive; with provisioning it is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumiverse_grafana as grafana

from components.grafana import provisioning
from components.grafana.access import FOLDERS, GrafanaAccess, GrafanaScope, grafana_scope
from components.grafana.dashboards import DashboardModel
from components.grafana.datasources import DatasourceSpec, create_datasources, datasource_specs
from components.kit import volumes
from components.kit.context import StackContext
from components.kit.objects import ComponentMeta, service, service_account
from components.kit.workload import NOBODY, ContainerSpec, Port, Probes, pod_spec, pod_template
from components.settings.grafana import GrafanaSettings
from components.settings.secrets import secret_value
from components.wiring import endpoints

NAME = endpoints.GRAFANA_SERVICE
# A high UID (not the image's 472) so it maps to no user on the node; the image runs
# under any UID, and fsGroup makes the data volume writable for it.
GRAFANA_UID = NOBODY
DATA_DIR = "/var/lib/grafana"
ADMIN_USER = "admin"
ADMIN_SECRET = f"{NAME}-admin"
ADMIN_DIR = "/etc/grafana/admin"
HTTP = Port.of(endpoints.GRAFANA)


def root_url(config: GrafanaSettings) -> str | None:
    """The URL the Ingress serves Grafana at (``https://<host>/``), None without an Ingress host."""
    ingress = config.ingress
    if not ingress.enabled or ingress.host is None:
        return None
    scheme = "https" if ingress.tls_secret_name else "http"
    return f"{scheme}://{ingress.host}/"


def delivered_by_api(config: GrafanaSettings) -> bool:
    """True when folders, datasources and dashboards go through Grafana's API (a reachable URL is configured)."""
    return config.external is not None or config.api_url is not None


def dashboard_files(dashboards: Sequence[DashboardModel]) -> list[provisioning.DashboardFile]:
    return [provisioning.DashboardFile(d.uid, d.folder) for d in dashboards]


def api_url(config: GrafanaSettings, namespace: str) -> str:
    """Where the provider reaches Grafana's API: external Grafana, an explicit URL, or the in-cluster Service in ``namespace``."""
    if config.external is not None:
        return config.external.url
    if config.api_url is not None:
        return config.api_url
    return endpoints.service_url(NAME, namespace, endpoints.GRAFANA.port)


def operator_url(config: GrafanaSettings, namespace: str) -> str:
    """Where operators open Grafana: the external Grafana, the Ingress, or else the in-cluster Service in ``namespace``."""
    if config.external is not None:
        return config.external.url
    return root_url(config) or api_url(config, namespace)


def admin_password(parent: pulumi.Resource) -> pulumi.Output[str]:
    """The configured secret, or one generated once and kept (encrypted) in the stack's state."""
    configured = secret_value("grafanaAdminPassword")
    if configured is not None:
        return configured
    generated = random.RandomPassword(f"{NAME}-admin-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)


def _env(config: GrafanaSettings) -> tuple[dict[str, Any], ...]:
    # Grafana reads a setting from the file named by <VARIABLE>__FILE: the credentials stay in the
    # mounted Secret instead of the process environment (visible to anything that can read /proc).
    from_secret = [
        {"name": f"{name}__FILE", "value": f"{ADMIN_DIR}/{key}"}
        for name, key in (("GF_SECURITY_ADMIN_USER", "admin-user"), ("GF_SECURITY_ADMIN_PASSWORD", "admin-password"))
    ]
    plain = {
        "GF_PATHS_DATA": DATA_DIR,
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        # Grafana 12 downloads its default "preinstall" plugins (the Drilldown apps) from grafana.com at
        # every start and updates them; the stack's NetworkPolicies give Grafana no Internet egress, so each
        # start would fail those installs (grafana/grafana#106871). Grafana runs what its image holds.
        "GF_PLUGINS_PREINSTALL_DISABLED": "true",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_LOG_MODE": "console",
    }
    url = root_url(config)
    if url:
        plain["GF_SERVER_ROOT_URL"] = url
    return (*from_secret, *({"name": k, "value": v} for k, v in plain.items()))


class Grafana(pulumi.ComponentResource):
    """The stack's Grafana, or the objects in an external one. ``storage_key`` is the config key of
    ``config.storage``; ``scrape_interval`` is Prometheus's (the datasource's smallest step)."""

    # The provider and folders when objects go through the API; None when Grafana provisions them.
    access: GrafanaAccess | None = None
    # How this stack's objects are named in Grafana (per stack in an external Grafana).
    scope: GrafanaScope
    url: str
    # A secret Output; None when an external Grafana is managed.
    admin_password: pulumi.Output[str] | None = None

    def __init__(
        self,
        config: GrafanaSettings,
        context: StackContext,
        dashboards: Sequence[DashboardModel],
        *,
        storage_key: str,
        scrape_interval: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("observability:grafana:Grafana", NAME, None, opts)
        self._dashboards = dashboards  # laid out as files when Grafana provisions them itself
        self.scope = grafana_scope(context.stack, config.external is not None)
        specs = datasource_specs(self.scope, context.namespace, scrape_interval)
        ready: list[pulumi.Resource] = []
        auth: pulumi.Output[str]
        self.url = api_url(config, context.namespace)
        if config.external is None:
            password = admin_password(self)
            self.admin_password = password
            ready = self._deploy(config, context, storage_key, specs, password)
            # Secret because the password is: secrecy carries through concat.
            auth = pulumi.Output.concat(ADMIN_USER, ":", password)
            if not delivered_by_api(config):
                self.register_outputs({"url": self.url})
                return
        else:
            token = secret_value("grafanaAuth")
            if token is None:  # checked with the settings; kept for type narrowing
                raise ValueError("grafana.external needs the grafanaAuth secret")
            auth = token
        provider = grafana.Provider(NAME, url=self.url, auth=auth, opts=pulumi.ResourceOptions(parent=self))
        objects = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=ready)
        folders = {
            key: grafana.oss.Folder(f"folder-{uid}", uid=self.scope.uid(uid), title=self.scope.title(title), opts=objects)
            for key, (uid, title) in FOLDERS.items()
        }
        network = config.external.private_data_source_connect_network_id if config.external else None
        create_datasources(specs, network, objects)
        self.access = GrafanaAccess(provider=provider, folders=folders)
        self.register_outputs({"url": self.url})

    def _deploy(
        self, config: GrafanaSettings, context: StackContext, storage_key: str, specs: list[DatasourceSpec], password: pulumi.Output[str]
    ) -> list[pulumi.Resource]:
        meta = ComponentMeta.of(NAME, context, role="dashboards", image=config.image)
        endpoint = endpoints.GRAFANA

        account = service_account(meta, self)
        secret = k8s.core.v1.Secret(
            ADMIN_SECRET,
            metadata=meta.metadata(ADMIN_SECRET),
            type="Opaque",
            string_data={"admin-user": ADMIN_USER, "admin-password": password},
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stringData", "data"]),
        )
        claim = volumes.claim(f"{NAME}-data", context, config.storage, storage_key, labels=meta.labels, parent=self)
        mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": DATA_DIR}, {"name": "admin", "mountPath": ADMIN_DIR, "readOnly": True}]
        volumes_: list[dict[str, Any]] = [
            {"name": "data", "persistentVolumeClaim": {"claimName": f"{NAME}-data"}},
            {"name": "admin", "secret": {"secretName": ADMIN_SECRET, "defaultMode": 0o440}},
        ]
        annotations: dict[str, str] = {}
        provisioned: list[pulumi.Resource] = []
        if not delivered_by_api(config):
            provisioned, annotations = self._provisioning(specs, meta, mounts, volumes_)
        server = ContainerSpec(
            name=NAME,
            image=config.image,
            resources=config.resources,
            # Database migrations run before /api/health answers.
            probes=Probes.http(endpoint, slow_start=True),
            ports=(HTTP,),
            env=_env(config),
            volume_mounts=tuple(mounts),
            scratch_dirs=("/tmp",),
            run_as_user=GRAFANA_UID,
        )
        deployment = k8s.apps.v1.Deployment(
            NAME,
            metadata=meta.metadata(),
            spec={
                "replicas": config.replicas,
                # One writer of the SQLite database: the old pod lets go of the volume first.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": dict(meta.selector)},
                "template": pod_template(
                    labels=meta.labels,
                    annotations=annotations,
                    spec=pod_spec(
                        containers=[server],
                        service_account_name=NAME,
                        run_as_user=GRAFANA_UID,
                        fs_group=GRAFANA_UID,
                        volumes=volumes_,
                    ),
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, secret, claim, *provisioned]),
        )
        service_ = service(meta, (HTTP,), self)
        ingress = config.ingress
        if ingress.enabled:
            rule = {
                "host": ingress.host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": NAME, "port": {"name": endpoint.port_name}}}}]},
            }
            spec: dict[str, Any] = {"rules": [rule]}
            if ingress.class_name:
                spec["ingressClassName"] = ingress.class_name
            if ingress.tls_secret_name:
                spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls_secret_name}]
            k8s.networking.v1.Ingress(NAME, metadata=meta.metadata(), spec=spec, opts=pulumi.ResourceOptions(parent=self))
        return [deployment, service_]

    def _provisioning(
        self, specs: list[DatasourceSpec], meta: ComponentMeta, mounts: list[dict[str, Any]], volumes_: list[dict[str, Any]]
    ) -> tuple[list[pulumi.Resource], dict[str, str]]:
        """The datasource and dashboard-provider files as ConfigMaps, mounted where Grafana reads them,
        and the dashboards (ConfigMaps of components/grafana/dashboards.py) laid out one directory per folder."""
        child = pulumi.ResourceOptions(parent=self)
        datasources = provisioning.datasources_file(specs)
        maps = [
            k8s.core.v1.ConfigMap(
                provisioning.DATASOURCES_CONFIG_MAP,
                metadata=meta.metadata(provisioning.DATASOURCES_CONFIG_MAP),
                data={provisioning.DATASOURCES_FILE: datasources},
                opts=child,
            ),
            k8s.core.v1.ConfigMap(
                provisioning.PROVIDERS_CONFIG_MAP,
                metadata=meta.metadata(provisioning.PROVIDERS_CONFIG_MAP),
                data={provisioning.PROVIDERS_FILE: provisioning.providers_file()},
                opts=child,
            ),
        ]
        for name, config_map, path in (
            ("provisioning-datasources", provisioning.DATASOURCES_CONFIG_MAP, provisioning.DATASOURCES_DIR),
            ("provisioning-dashboards", provisioning.PROVIDERS_CONFIG_MAP, provisioning.PROVIDERS_DIR),
        ):
            volumes_.append({"name": name, "configMap": {"name": config_map}})
            mounts.append({"name": name, "mountPath": path, "readOnly": True})
        # A projected volume follows its ConfigMaps' changes (no subPath), so dashboards update in place.
        volumes_.append(provisioning.dashboards_volume(dashboard_files(self._dashboards)))
        mounts.append({"name": "dashboards", "mountPath": provisioning.DASHBOARDS_DIR, "readOnly": True})
        return maps, {provisioning.CHECKSUM_ANNOTATION: provisioning.checksum(datasources)}
