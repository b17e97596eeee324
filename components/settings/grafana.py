"""Settings of Grafana: the stack's own or an external one, its ingress, and how dashboards are delivered."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from components.settings.types import ObjectName, Section, Storage, Workload, http_url, matching

URL_FORM = "an absolute http(s) URL such as https://grafana.example.com or https://myorg.grafana.net"
HOST_FORM = "a DNS host name such as grafana.example.com"
_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z", re.ASCII)

Url = Annotated[str, AfterValidator(http_url(URL_FORM))]
Host = Annotated[str, AfterValidator(matching(_HOST_RE, "a host name", HOST_FORM))]


class GrafanaIngress(Section):
    enabled: bool = False
    host: Host | None = None
    class_name: ObjectName | None = None
    # A kubernetes.io/tls Secret for the host; None serves plain HTTP behind the ingress.
    tls_secret_name: ObjectName | None = None


class ExternalGrafana(Section):
    """A Grafana the stack does not run (Grafana Cloud included): only its objects are managed."""

    url: Url
    # Grafana Cloud reaches in-cluster datasources through Private Data Source Connect.
    private_data_source_connect_network_id: str | None = None


class GrafanaSettings(Workload):
    storage: Storage
    ingress: GrafanaIngress = GrafanaIngress()
    external: ExternalGrafana | None = None
    # Set: datasources, folders and dashboards go through the API at this URL, which must answer
    # where `pulumi up` runs (an ingress host). Unset (default): Grafana provisions them from ConfigMaps.
    api_url: Url | None = None


class DashboardSettings(Section):
    # Also write every dashboard as a ConfigMap labelled grafana_dashboard: "1", for a
    # Grafana whose dashboard sidecar watches ConfigMaps and whose API `pulumi up` cannot reach.
    config_maps: bool = False
