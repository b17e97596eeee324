"""Who talks to whom: every flow of the stack in one table, and what each receiver must enable for it.

``table`` holds one row per flow: source, destination, ports, why, and the receiver's side.
Everything that depends on who talks to whom is derived from it:

- the NetworkPolicies (``components.wiring.network_policies``) open exactly these rows, on both
  sides of the default deny;
- the monitors (``components.wiring.monitors``) are the scrape rows' PodMonitors and the probe
  rows' Probes;
- the receiving components read their side of the data flows (``requirements`` and ``apply``):
  the Prometheus resource turns on the remote-write receiver and exemplar storage because Tempo's
  rows ask for them, Tempo listens for OTLP where Alloy sends it, and so on.

Kinds of row:

- ``data``: between two of the stack's components (``data_flows``), each with the requirements it
  puts on the consumer's main config document: ``prometheus``, ``alertmanager``: the spec of the
  ``monitoring.coreos.com/v1`` resource; ``loki``, ``tempo``: the configuration file (``loki.yaml``,
  ``tempo.yaml``). ``tests/components/wiring/test_data_flows.py`` evaluates every one against every
  rendered stack, reading both sides' rendered configs, so a flow cannot be added here without its
  receiving side;
- ``scrape``: Prometheus reads a target's metrics; the target serves the endpoints of its ``Scrape``;
- ``probe``: the blackbox exporter asks a component's health endpoint through its Service (``HealthProbe``);
- ``api``: a component calls the Kubernetes API server (its RBAC says what it may do there);
- ``push``, ``read``, ``peer``, ``ingress``, ``notify``, ``storage``: traffic from the monitored
  systems, between replicas, from users, to alert receivers and to object stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.settings import Settings
from components.wiring import endpoints, limits
from components.wiring.endpoints import STREAM_LABELS, Endpoint

# Prometheus feature flag that keeps exemplars (off by default in Prometheus 3;
# https://prometheus.io/docs/prometheus/latest/feature_flags/#exemplars-storage).
EXEMPLAR_STORAGE = "exemplar-storage"
REMOTE_WRITE_PATH = "/api/v1/write"
LOKI_PUSH_PATH = "/loki/api/v1/push"
ALERTMANAGER_ALERTS_PATH = "/api/v2/alerts"

# Components that call the Kubernetes API (discovery, state, reconciling).
API_CLIENTS = (endpoints.PROMETHEUS_NAME, endpoints.OPERATOR_NAME, endpoints.KUBE_STATE_METRICS_NAME, endpoints.ALLOY_NAME)

TCP = "TCP"
UDP = "UDP"

Mode = Literal["equals", "contains", "at_least"]
Kind = Literal["data", "scrape", "probe", "api", "push", "read", "peer", "ingress", "notify", "storage"]


# --- who: the two ends of a flow ------------------------------------------------------------------


@dataclass(frozen=True)
class Pods:
    """Pods of one component of this stack, in the stack's namespace, by their app.kubernetes.io/name."""

    name: str


@dataclass(frozen=True)
class Namespaces:
    """Every pod in the named namespaces."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Cidrs:
    """Addresses outside the pod network: nodes, the API server, the Internet."""

    cidrs: tuple[str, ...]
    label: str  # what the addresses are, for the flow's description


Peer = Pods | Namespaces | Cidrs


def tcp(*ports: int) -> tuple[tuple[int, str], ...]:
    """(port, "TCP") for each port, in order."""
    return tuple((port, TCP) for port in ports)


# --- what the receiver enables or serves ----------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """What the consumer's config must hold at ``path``: the value itself, a list holding it, or a number at least it."""

    path: tuple[str, ...]
    value: Any
    mode: Mode = "equals"

    def holds(self, document: Mapping[str, Any]) -> bool:
        found: Any = document
        for key in self.path:
            if not isinstance(found, Mapping) or key not in found:
                return False
            found = found[key]
        if self.mode == "contains":
            return isinstance(found, list) and self.value in found
        if self.mode == "at_least":
            return isinstance(found, int | float) and not isinstance(found, bool) and found >= self.value
        return bool(found == self.value)

    def describe(self) -> str:
        where = ".".join(self.path)
        return {"equals": f"{where} = {self.value!r}", "contains": f"{where} contains {self.value!r}", "at_least": f"{where} >= {self.value!r}"}[self.mode]


@dataclass(frozen=True)
class Scrape:
    """A PodMonitor's view of a scrape: pods named ``target`` (also the job label) serve metrics on ``endpoints``."""

    target: str
    endpoints: tuple[Endpoint, ...]
    # The series carry labels the exporter sets on purpose: keep them over the target's (Pushgateway: the pushed
    # job and instance; kube-state-metrics: the namespace/pod/container of the object described).
    honor_labels: bool = False
    # The namespace the pods run in when not the stack's (node-exporter: the host namespace).
    namespace: str | None = None


@dataclass(frozen=True)
class HealthProbe:
    """A blackbox Probe of ``target``'s health endpoint, through the Service named after it."""

    target: str
    endpoint: Endpoint

    def url(self, namespace: str) -> str:
        return endpoints.service_url(self.target, namespace, self.endpoint.port) + self.endpoint.healthy_path


@dataclass(frozen=True)
class Flow:
    """One row of the table: ``source`` opens connections to ``destination`` on ``ports``.

    ``ports`` holds (port, protocol) pairs; empty means every port. ``requires``: what a data
    flow's consumer switches on in its config. ``monitor``: the PodMonitor (``Scrape``) or Probe
    (``HealthProbe``) that makes the flow; None where something else does (the service exporters'
    ScrapeConfigs and Probes, the kubelet's ServiceMonitor) or nothing is monitored.
    """

    kind: Kind
    source: Peer
    destination: Peer
    ports: tuple[tuple[int, str], ...]
    why: str
    requires: tuple[Requirement, ...] = ()
    monitor: Scrape | HealthProbe | None = None


@dataclass(frozen=True)
class DataFlow:
    """One data flow: ``producer`` pods send to ``consumer`` pods on ``port`` (TCP) at ``path``."""

    name: str
    producer: str
    consumer: str
    port: int
    path: str
    requires: tuple[Requirement, ...]
    why: str

    @property
    def endpoint(self) -> str:
        return f":{self.port}{self.path}"

    def row(self) -> Flow:
        """This flow as a row of the table."""
        return Flow("data", Pods(self.producer), Pods(self.consumer), tcp(self.port), f"{self.name}: {self.why}", self.requires)


# --- the table ------------------------------------------------------------------------------------


def table(settings: Settings) -> list[Flow]:
    """Every flow the stack needs beyond DNS (which every pod gets).

    In the order the NetworkPolicies list their rules. A row whose namespaces or CIDRs are empty
    in settings opens nothing. A component's rows are here whether or not this stack runs it (an
    external Grafana, no operator): its policy then selects no pods.
    """
    network = settings.network
    prometheus, blackbox, mongodb = Pods(endpoints.PROMETHEUS_NAME), Pods(endpoints.BLACKBOX_EXPORTER_NAME), Pods(endpoints.MONGODB_EXPORTER_NAME)
    alertmanager, alloy = Pods(endpoints.ALERTMANAGER_NAME), Pods(endpoints.ALLOY_NAME)
    nodes = Cidrs(network.node_cidrs, "the nodes")
    monitored = Namespaces(network.monitored_namespaces)
    node_exporter = endpoints.node_exporter(settings.node_exporter.port)
    gossip = endpoints.ALERTMANAGER_CLUSTER_PORT
    api_server = Cidrs(network.api_server_cidrs, "the API server")
    return [
        _scrape(endpoints.PROMETHEUS_NAME, endpoints.PROMETHEUS),
        _scrape(endpoints.ALERTMANAGER_NAME, endpoints.ALERTMANAGER),
        _scrape(endpoints.PUSHGATEWAY_NAME, endpoints.PUSHGATEWAY, honor_labels=True),
        _scrape(endpoints.OPERATOR_NAME, endpoints.OPERATOR),
        # kube-state-metrics labels each series with the namespace, pod and container it describes; without
        # honorLabels the target's own (its pod's) would win and move them to exported_* (issue 22).
        _scrape(endpoints.KUBE_STATE_METRICS_NAME, endpoints.KUBE_STATE_METRICS, endpoints.KUBE_STATE_METRICS_TELEMETRY, honor_labels=True),
        _scrape(endpoints.BLACKBOX_EXPORTER_NAME, endpoints.BLACKBOX_EXPORTER),
        # Through their Services, by the service exporters' ScrapeConfigs (components/metrics/service_exporters.py).
        Flow("scrape", prometheus, mongodb, tcp(endpoints.MONGODB_EXPORTER.port), f"Prometheus scrapes {endpoints.MONGODB_EXPORTER_NAME}"),
        _scrape(endpoints.GRAFANA_NAME, endpoints.GRAFANA),
        _scrape(endpoints.LOKI_NAME, endpoints.LOKI),
        _scrape(endpoints.TEMPO_NAME, endpoints.TEMPO),
        _scrape(endpoints.ALLOY_NAME, endpoints.ALLOY),
        Flow("scrape", prometheus, nodes, tcp(node_exporter.port), "Prometheus scrapes node-exporter on the host network",
             monitor=Scrape(endpoints.NODE_EXPORTER_NAME, (node_exporter,), namespace=settings.context.host_namespace)),
        # Through the kubelet's Service (components/wiring/monitors.py, kubelet_monitor_spec).
        Flow("scrape", prometheus, nodes, tcp(endpoints.KUBELET_PORT), "Prometheus scrapes the kubelet and cAdvisor"),
        # By the service exporters' ScrapeConfigs.
        Flow("scrape", prometheus, monitored, (), "Prometheus scrapes the monitored systems and their exporters on their own ports"),
        # By the service exporters' Probes.
        Flow("probe", blackbox, monitored, (), "the blackbox exporter probes the monitored systems"),
        Flow("read", mongodb, monitored, (), "the MongoDB exporters read the monitored MongoDB servers"),
        Flow("push", monitored, alloy, tcp(endpoints.OTLP_GRPC_PORT, endpoints.OTLP_HTTP_PORT), "the monitored systems send traces over OTLP"),
        Flow("push", monitored, Pods(endpoints.PUSHGATEWAY_NAME), tcp(endpoints.PUSHGATEWAY.port), "batch jobs push their metrics"),
        Flow("peer", alloy, alloy, tcp(endpoints.ALLOY_SAMPLING_PORT), "Alloy routes each trace's spans to one instance for tail sampling"),
        Flow("ingress", Namespaces(network.ingress_namespaces), Pods(endpoints.GRAFANA_NAME), tcp(endpoints.GRAFANA.port),
             "users reach Grafana through the ingress controller"),
        Flow("ingress", Cidrs(network.ingress_cidrs, "the ingress controller's nodes or load balancer"), Pods(endpoints.GRAFANA_NAME),
             tcp(endpoints.GRAFANA.port), "users reach Grafana through an ingress controller or load balancer off the pod network"),
        Flow("peer", alertmanager, alertmanager, ((gossip, TCP), (gossip, UDP)), "Alertmanager replicas gossip silences and notification state"),
        Flow("notify", alertmanager, Cidrs(network.receiver_cidrs, "alert receivers"), tcp(*_receiver_ports(settings)),
             "Alertmanager notifies Slack, PagerDuty and e-mail"),
        _probe(endpoints.PROMETHEUS_NAME, endpoints.PROMETHEUS),
        _probe(endpoints.ALERTMANAGER_NAME, endpoints.ALERTMANAGER),
        _probe(endpoints.PUSHGATEWAY_NAME, endpoints.PUSHGATEWAY),
        _probe(endpoints.GRAFANA_NAME, endpoints.GRAFANA),
        _probe(endpoints.LOKI_NAME, endpoints.LOKI),
        _probe(endpoints.TEMPO_NAME, endpoints.TEMPO),
        _probe(endpoints.ALLOY_NAME, endpoints.ALLOY),
        *(flow.row() for flow in data_flows(settings)),
        *_object_storage(settings),
        *(Flow("api", Pods(client), api_server, tcp(*network.api_server_ports), f"{client} calls the Kubernetes API") for client in API_CLIENTS),
    ]


def _scrape(target: str, *served: Endpoint, honor_labels: bool = False) -> Flow:
    return Flow("scrape", Pods(endpoints.PROMETHEUS_NAME), Pods(target), tcp(*(e.port for e in served)), f"Prometheus scrapes {target}",
                monitor=Scrape(target, served, honor_labels))


def _probe(target: str, endpoint: Endpoint) -> Flow:
    return Flow("probe", Pods(endpoints.BLACKBOX_EXPORTER_NAME), Pods(target), tcp(endpoint.port), f"the blackbox exporter probes {target}'s health endpoint",
                monitor=HealthProbe(target, endpoint))


def _receiver_ports(settings: Settings) -> list[int]:
    """HTTPS for Slack and PagerDuty; the e-mail smarthost's own port (25, 465 and 587 are all in use), when e-mail is on."""
    email = settings.alerting.email
    ports = {endpoints.HTTPS_PORT}
    if email is not None:
        ports.add(int(email.smarthost.rsplit(":", 1)[1]))
    return sorted(ports)


def _object_storage(settings: Settings) -> list[Flow]:
    """Loki and Tempo reach their bucket (and, with workload identity, the cloud's token service) over HTTPS."""
    rows = []
    store = Cidrs(settings.network.object_storage_cidrs, "the object store")
    for component, storage in ((endpoints.LOKI_NAME, settings.loki.object_storage), (endpoints.TEMPO_NAME, settings.tempo.object_storage)):
        if storage is None:
            continue
        ports = {endpoints.HTTPS_PORT}
        if storage.endpoint and ":" in storage.endpoint:
            ports.add(int(storage.endpoint.rsplit(":", 1)[1]))
        elif storage.insecure:
            ports.add(80)
        rows.append(Flow("storage", Pods(component), store, tcp(*sorted(ports)), f"{component} reads and writes its bucket"))
    return rows


def data_flows(settings: Settings) -> list[DataFlow]:
    """Every data flow of this stack (the metrics generator's rows only when it is on)."""
    rows: list[DataFlow] = []
    if settings.tempo.metrics_generator.enabled:
        rows += [
            DataFlow(
                "alloy-remote-write", endpoints.ALLOY_NAME, endpoints.PROMETHEUS_NAME, endpoints.PROMETHEUS.port, REMOTE_WRITE_PATH,
                # Off by default: Prometheus answers 404 "remote write receiver needs to be enabled".
                (Requirement(("enableRemoteWriteReceiver",), True),),
                "Alloy remote-writes span metrics and the service graph, computed from every span before sampling"
                " (the service map, traces to metrics; components/traces/trace_metrics.py)",
            ),
            DataFlow(
                "alloy-exemplars", endpoints.ALLOY_NAME, endpoints.PROMETHEUS_NAME, endpoints.PROMETHEUS.port, REMOTE_WRITE_PATH,
                # Without the feature Prometheus accepts the samples and drops their exemplars.
                (Requirement(("enableFeatures",), EXEMPLAR_STORAGE, "contains"),),
                "span metrics carry exemplars (trace IDs) that the Prometheus datasource links to Tempo",
            ),
        ]
    rows += [
        DataFlow(
            "alloy-loki-push", endpoints.ALLOY_NAME, endpoints.LOKI_NAME, endpoints.LOKI.port, LOKI_PUSH_PATH,
            # Loki refuses a stream with more label names than this limit.
            (Requirement(("limits_config", "max_label_names_per_series"), len(STREAM_LABELS), "at_least"),),
            "Alloy ships pod logs with the stream labels " + ", ".join(STREAM_LABELS),
        ),
        DataFlow(
            "alloy-tempo-otlp", endpoints.ALLOY_NAME, endpoints.TEMPO_NAME, endpoints.OTLP_GRPC_PORT, "(OTLP gRPC)",
            (
                Requirement(("distributor", "receivers", "otlp", "protocols", "grpc", "endpoint"), f"0.0.0.0:{endpoints.OTLP_GRPC_PORT}"),
                # Alloy's batch is sized below both (components/wiring/limits.py); either refuses a larger one whole.
                Requirement(("distributor", "receivers", "otlp", "protocols", "grpc", "max_recv_msg_size_mib"), limits.OTLP_GRPC_MAX_MESSAGE_MIB, "at_least"),
                Requirement(("overrides", "defaults", "ingestion", "burst_size_bytes"), limits.TEMPO_INGESTION_BURST_BYTES, "at_least"),
            ),
            "Alloy forwards the sampled traces to Tempo over OTLP gRPC",
        ),
        DataFlow(
            "prometheus-alertmanager", endpoints.PROMETHEUS_NAME, endpoints.ALERTMANAGER_NAME, endpoints.ALERTMANAGER.port, ALERTMANAGER_ALERTS_PATH,
            (),
            "Prometheus sends firing alerts (Alertmanager API v2)",
        ),
        DataFlow(
            "grafana-prometheus", endpoints.GRAFANA_NAME, endpoints.PROMETHEUS_NAME, endpoints.PROMETHEUS.port, "/api/v1/",
            (),
            f"Grafana queries its Prometheus datasource ({endpoints.PROMETHEUS_UID}) and its exemplars",
        ),
        DataFlow(
            "grafana-loki", endpoints.GRAFANA_NAME, endpoints.LOKI_NAME, endpoints.LOKI.port, "/loki/api/v1/",
            (),
            f"Grafana queries its Loki datasource ({endpoints.LOKI_UID})",
        ),
        DataFlow(
            "grafana-tempo", endpoints.GRAFANA_NAME, endpoints.TEMPO_NAME, endpoints.TEMPO.port, "/api/",
            # Grafana's Tempo datasource streams search results over HTTP (Tempo 2.6+ needs it switched on).
            (Requirement(("stream_over_http_enabled",), True),),
            f"Grafana queries its Tempo datasource ({endpoints.TEMPO_UID})",
        ),
        DataFlow(
            "grafana-alertmanager", endpoints.GRAFANA_NAME, endpoints.ALERTMANAGER_NAME, endpoints.ALERTMANAGER.port, "/api/v2/",
            (),
            f"Grafana reads alerts and silences from its Alertmanager datasource ({endpoints.ALERTMANAGER_UID})",
        ),
    ]
    return rows


# --- the receiver's side of the data flows --------------------------------------------------------


def requirements(settings: Settings, consumer: str) -> list[Requirement]:
    """Every requirement the stack's flows put on ``consumer``'s config (``consumer``: its app.kubernetes.io/name)."""
    return [requirement for flow in table(settings) if flow.destination == Pods(consumer) for requirement in flow.requires]


def apply(document: dict[str, Any], required: Iterable[Requirement]) -> dict[str, Any]:
    """``document`` with every requirement written into it (in place; returned for chaining).

    ``equals`` sets the value, ``contains`` adds it to the list (sorted, once), ``at_least`` raises a
    smaller number. Raises ValueError when a path runs through something that is not a mapping.
    """
    for requirement in required:
        parent = document
        for key in requirement.path[:-1]:
            parent = parent.setdefault(key, {})
            if not isinstance(parent, dict):
                raise ValueError(f"{'.'.join(requirement.path)}: {key} is not a mapping")
        last = requirement.path[-1]
        if requirement.mode == "contains":
            parent[last] = sorted({*parent.get(last, []), requirement.value})
        elif requirement.mode == "at_least":
            current = parent.get(last)
            parent[last] = requirement.value if current is None or current < requirement.value else current
        else:
            parent[last] = requirement.value
    return document
