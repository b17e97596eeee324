"""Cross-field rules of the Grafana section (grafana.py): replicas, ingress, an external Grafana, and
API URLs that must work from wherever `pulumi up` runs (a laptop, a hosted CI runner)."""

from __future__ import annotations

from urllib.parse import urlsplit

from components.settings.errors import Problem
from components.settings.model import Settings
from components.settings.platform_checks import single_replica_problems
from components.settings.secrets import how_to_set

# Names only the cluster's DNS resolves: a Service (name.namespace.svc[.cluster.local]) or any
# *.cluster.local name. A runner outside the cluster cannot reach them.
IN_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local")
REACHABLE_URL_FORM = (
    "a URL that resolves and answers where `pulumi up` runs (an ingress or load balancer host, or "
    "http://localhost:PORT through a port-forward), not an in-cluster Service name; leave grafana.apiUrl "
    "unset and the stack's Grafana provisions its datasources and dashboards from ConfigMaps"
)


def single_grafana(settings: Settings) -> list[Problem]:
    return single_replica_problems("grafana.replicas", settings.grafana.replicas, "Grafana's SQLite database lives on one ReadWriteOnce volume")


def grafana_problems(settings: Settings) -> list[Problem]:
    grafana = settings.grafana
    problems = []
    if grafana.ingress.enabled and grafana.ingress.host is None:
        problems.append(Problem("grafana.ingress.host", None, "is required when grafana.ingress.enabled is true; accepted form: a DNS host name"))
    if grafana.external is not None:
        if "grafanaAuth" not in settings.secrets_set:
            token = f"needs an API token; accepted form: the Pulumi secret set with `{how_to_set('grafanaAuth')}`"
            problems.append(Problem("grafana.external.url", grafana.external.url, token))
        if grafana.ingress.enabled:
            problems.append(Problem("grafana.ingress.enabled", True, "accepted form: false when grafana.external is set (the stack runs no Grafana to expose)"))
    return problems


def in_cluster_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host.endswith(IN_CLUSTER_SUFFIXES)


def grafana_url_problems(settings: Settings) -> list[Problem]:
    """The Grafana API URLs the provider would call from the deployer's machine."""
    grafana = settings.grafana
    urls = {"grafana.apiUrl": grafana.api_url, "grafana.external.url": grafana.external.url if grafana.external else None}
    return [
        Problem(key, url, f"is a cluster-internal address; accepted form: {REACHABLE_URL_FORM}")
        for key, url in urls.items()
        if url is not None and in_cluster_host(url)
    ]
