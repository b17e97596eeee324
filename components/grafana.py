"""Grafana: the Deployment (unless an external Grafana is configured), the provider that manages
its objects, the cross-linked datasources and one folder per monitored system.

``access`` is what dashboards and anything else that creates Grafana objects
receive: the provider and the folders.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumiverse_grafana as grafana

from components import endpoints
from components.grafana_access import FOLDERS, GrafanaAccess, grafana_scope
from components.grafana_datasources import create_datasources
from components.labels import selector_labels, standard_labels
from components.protection import stateful_options
from components.settings import Settings
from components.settings.secrets import secret_value
from components.volumes import claim_spec
from components.workload import NOBODY, ContainerSpec, Port, Probes, pod_spec, pod_template

NAME = endpoints.GRAFANA_SERVICE
# A high UID (not the image's 472) so it maps to no user on the node; the image runs
# under any UID, and fsGroup makes the data volume writable for it.
GRAFANA_UID = NOBODY
DATA_DIR = "/var/lib/grafana"
ADMIN_USER = "admin"
ADMIN_SECRET = f"{NAME}-admin"
ADMIN_DIR = "/etc/grafana/admin"


def root_url(settings: Settings) -> str | None:
    ingress = settings.grafana.ingress
    if not ingress.enabled or ingress.host is None:
        return None
    scheme = "https" if ingress.tls_secret_name else "http"
    return f"{scheme}://{ingress.host}/"


def api_url(settings: Settings) -> str:
    """Where the provider reaches Grafana's API: external Grafana, an explicit URL, or the in-cluster Service."""
    config = settings.grafana
    if config.external is not None:
        return config.external.url
    if config.api_url is not None:
        return config.api_url
    return endpoints.service_url(NAME, settings.namespace, endpoints.GRAFANA.port)


def admin_password(parent: pulumi.Resource) -> pulumi.Output[str]:
    """The configured secret, or one generated once and kept (encrypted) in the stack's state."""
    configured = secret_value("grafanaAdminPassword")
    if configured is not None:
        return configured
    generated = random.RandomPassword(f"{NAME}-admin-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)


def _env(settings: Settings) -> tuple[dict[str, Any], ...]:
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
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_LOG_MODE": "console",
    }
    url = root_url(settings)
    if url:
        plain["GF_SERVER_ROOT_URL"] = url
    return (*from_secret, *({"name": k, "value": v} for k, v in plain.items()))


class Grafana(pulumi.ComponentResource):
    access: GrafanaAccess
    url: str
    # A secret Output; None when an external Grafana is managed.
    admin_password: pulumi.Output[str] | None = None

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("observability:grafana:Grafana", NAME, None, opts)
        ready: list[pulumi.Resource] = []
        auth: pulumi.Output[str]
        if settings.grafana.external is None:
            password = admin_password(self)
            self.admin_password = password
            ready = self._deploy(settings, password)
            # Secret because the password is: secrecy carries through concat.
            auth = pulumi.Output.concat(ADMIN_USER, ":", password)
        else:
            token = secret_value("grafanaAuth")
            if token is None:  # checked with the settings; kept for type narrowing
                raise ValueError("grafana.external needs the grafanaAuth secret")
            auth = token
        self.url = api_url(settings)
        provider = grafana.Provider(NAME, url=self.url, auth=auth, opts=pulumi.ResourceOptions(parent=self))
        objects = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=ready)
        scope = grafana_scope(settings.stack, settings.grafana.external is not None)
        folders = {
            key: grafana.oss.Folder(f"folder-{uid}", uid=scope.uid(uid), title=scope.title(title), opts=objects) for key, (uid, title) in FOLDERS.items()
        }
        create_datasources(settings, objects)
        self.access = GrafanaAccess(provider=provider, folders=folders)
        self.register_outputs({"url": self.url})

    def _deploy(self, settings: Settings, password: pulumi.Output[str]) -> list[pulumi.Resource]:
        config = settings.grafana
        labels = standard_labels(NAME, settings, role="dashboards", image=config.image)
        metadata = {"name": NAME, "namespace": settings.namespace, "labels": labels}
        child = pulumi.ResourceOptions(parent=self)
        selector = selector_labels(NAME, settings)
        endpoint = endpoints.GRAFANA

        account = k8s.core.v1.ServiceAccount(NAME, metadata=metadata, automount_service_account_token=False, opts=child)
        secret = k8s.core.v1.Secret(
            ADMIN_SECRET,
            metadata={**metadata, "name": ADMIN_SECRET},
            type="Opaque",
            string_data={"admin-user": ADMIN_USER, "admin-password": password},
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stringData", "data"]),
        )
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{NAME}-data", metadata={**metadata, "name": f"{NAME}-data"}, spec=claim_spec(config.storage), opts=stateful_options(settings, self)
        )
        server = ContainerSpec(
            name=NAME,
            image=config.image,
            resources=config.resources,
            # Database migrations run before /api/health answers.
            probes=Probes.http(endpoint, slow_start=True),
            ports=(Port(endpoint.port_name, endpoint.port),),
            env=_env(settings),
            volume_mounts=({"name": "data", "mountPath": DATA_DIR}, {"name": "admin", "mountPath": ADMIN_DIR, "readOnly": True}),
            scratch_dirs=("/tmp",),
            run_as_user=GRAFANA_UID,
        )
        deployment = k8s.apps.v1.Deployment(
            NAME,
            metadata=metadata,
            spec={
                "replicas": config.replicas,
                # One writer of the SQLite database: the old pod lets go of the volume first.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector},
                "template": pod_template(
                    labels=labels,
                    spec=pod_spec(
                        containers=[server],
                        service_account_name=NAME,
                        run_as_user=GRAFANA_UID,
                        fs_group=GRAFANA_UID,
                        volumes=[
                            {"name": "data", "persistentVolumeClaim": {"claimName": f"{NAME}-data"}},
                            {"name": "admin", "secret": {"secretName": ADMIN_SECRET, "defaultMode": 0o440}},
                        ],
                    ),
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, secret, claim]),
        )
        service = k8s.core.v1.Service(
            NAME,
            metadata=metadata,
            spec={"selector": selector, "ports": [{"name": endpoint.port_name, "port": endpoint.port, "targetPort": endpoint.port_name}]},
            opts=child,
        )
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
            k8s.networking.v1.Ingress(NAME, metadata=metadata, spec=spec, opts=child)
        return [deployment, service]
