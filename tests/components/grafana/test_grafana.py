"""Grafana: Deployment, Service, optional Ingress, provider target, folders, and datasources linked to each other."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest

from components.grafana import provisioning
from components.grafana.access import FOLDERS
from components.grafana.grafana import api_url, delivered_by_api
from components.logs.loki_config import STREAM_LABELS
from components.settings import Settings
from components.settings.errors import SettingsError
from components.settings.grafana_checks import in_cluster_host
from components.settings.loader import load_settings
from components.wiring import endpoints
from components.wiring.endpoints import ALERTMANAGER_UID, DATASOURCE_UIDS, GRAFANA_NAME, LOKI_UID, PROMETHEUS_UID, TEMPO_UID
from tests.support.k8s_objects import container, find, has, pod
from tooling.mock_runtime import is_secret
from tooling.render import Render
from tooling.render_grafana import grafana_expand

PASSWORD = "grafana-admin-password-never-in-output"


def _datasources(render: Render) -> dict[str, dict[str, Any]]:
    found = {}
    for path, text in render.files.items():
        if path.startswith("grafana/datasource-"):
            document = json.loads(text)
            found[document["uid"]] = document
    return found


def _links(value: Any) -> list[str]:
    """Every datasourceUid named anywhere inside a datasource's settings."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "datasourceUid"] + [uid for v in value.values() for uid in _links(v)]
    if isinstance(value, list):
        return [uid for item in value for uid in _links(item)]
    return []


def test_every_datasource_exists_with_its_stable_uid(rendered: Render) -> None:
    datasources = _datasources(rendered)
    assert set(datasources) == set(DATASOURCE_UIDS)
    assert {uid: d["type"] for uid, d in datasources.items()} == {
        PROMETHEUS_UID: "prometheus",
        LOKI_UID: "loki",
        TEMPO_UID: "tempo",
        ALERTMANAGER_UID: "alertmanager",
    }
    assert [uid for uid, d in datasources.items() if d.get("isDefault")] == [PROMETHEUS_UID]


def test_every_link_points_at_a_datasource_that_exists(rendered: Render) -> None:
    datasources = _datasources(rendered)
    for uid, datasource in datasources.items():
        for target in _links(datasource["jsonDataEncoded"]):
            assert target in datasources, f"{uid} links to missing datasource {target}"


def test_metrics_logs_and_traces_link_to_each_other(rendered: Render) -> None:
    datasources = _datasources(rendered)
    prometheus = datasources[PROMETHEUS_UID]["jsonDataEncoded"]
    assert {d["datasourceUid"] for d in prometheus["exemplarTraceIdDestinations"]} == {TEMPO_UID}
    assert {d["name"] for d in prometheus["exemplarTraceIdDestinations"]} == {"trace_id", "traceID"}
    loki = datasources[LOKI_UID]["jsonDataEncoded"]
    [derived] = loki["derivedFields"]
    assert derived["datasourceUid"] == TEMPO_UID
    assert derived["url"] == "${__value.raw}"
    tempo = datasources[TEMPO_UID]["jsonDataEncoded"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == LOKI_UID
    assert tempo["tracesToLogsV2"]["filterByTraceID"] is True
    assert tempo["serviceMap"]["datasourceUid"] == PROMETHEUS_UID
    # Span attributes map onto Loki stream labels that exist.
    assert {tag["value"] for tag in tempo["tracesToLogsV2"]["tags"]} <= set(STREAM_LABELS)


def test_the_derived_field_finds_trace_ids_in_json_and_logfmt_lines(rendered: Render) -> None:
    regex = re.compile(_datasources(rendered)[LOKI_UID]["jsonDataEncoded"]["derivedFields"][0]["matcherRegex"])
    json_line = json.dumps({"level": "ERROR", "service": "parsing", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "message": "x"})
    for line in (json_line, 'level=ERROR trace_id=4bf92f3577b34da6a3ce929d0e0e4736 msg="x"', '{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}'):
        match = regex.search(line)
        assert match is not None and match.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736", line
    assert regex.search('{"span_id": "def456", "message": "no trace here"}') is None


def test_datasource_urls_reach_the_services(rendered: Render) -> None:
    namespace = rendered.settings.namespace
    datasources = _datasources(rendered)
    for uid, service, port in ((LOKI_UID, endpoints.LOKI_SERVICE, 3100), (TEMPO_UID, endpoints.TEMPO_SERVICE, 3200)):
        assert datasources[uid]["url"] == f"http://{service}.{namespace}.svc:{port}"
        assert port in [p["port"] for p in find(rendered, "Service", service)["spec"]["ports"]]
    # The stack's own Services of its Prometheus and Alertmanager resources, sticky to one replica
    # (tests/components/wiring/test_replica_reads.py), not the operator's headless ones.
    assert datasources[PROMETHEUS_UID]["url"] == f"http://{endpoints.PROMETHEUS_READ_SERVICE}.{namespace}.svc:9090"
    assert datasources[ALERTMANAGER_UID]["url"] == f"http://{endpoints.ALERTMANAGER_READ_SERVICE}.{namespace}.svc:9093"
    for service in (endpoints.PROMETHEUS_READ_SERVICE, endpoints.ALERTMANAGER_READ_SERVICE):
        assert find(rendered, "Service", service)["spec"]["sessionAffinity"] == "ClientIP"


def test_one_folder_per_monitored_system(rendered: Render) -> None:
    folders = {json.loads(text)["uid"]: json.loads(text)["title"] for path, text in rendered.files.items() if path.startswith("grafana/folder-")}
    assert folders == {uid: title for uid, title in FOLDERS.values()}
    assert set(folders.values()) == {"QMTL", "DVT", "Copilot", "Platform"}


def test_deployment_probes_limits_and_volume(rendered: Render) -> None:
    server = container(rendered, "Deployment", GRAFANA_NAME)
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert server[probe]["httpGet"] == {"path": "/api/health", "port": "http"}
    assert server["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    # DESIGN.md: Grafana 1 CPU / 1 GiB.
    assert server["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    deployment = find(rendered, "Deployment", GRAFANA_NAME)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    data = next(m for m in server["volumeMounts"] if m["mountPath"] == "/var/lib/grafana")
    volume = next(v for v in pod(rendered, "Deployment", GRAFANA_NAME)["volumes"] if v["name"] == data["name"])
    claim = find(rendered, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["resources"]["requests"]["storage"] == rendered.settings.grafana.storage.size
    assert find(rendered, "Service", endpoints.GRAFANA_SERVICE)["spec"]["ports"][0]["port"] == 3000
    assert not has(rendered, "Ingress", GRAFANA_NAME)


def test_admin_password_comes_from_a_secret(rendered: Render) -> None:
    server = container(rendered, "Deployment", GRAFANA_NAME)
    env = {e["name"]: e for e in server["env"]}
    # Read from the mounted Secret, never from the environment.
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    path = env["GF_SECURITY_ADMIN_PASSWORD__FILE"]["value"]
    mount = next(m for m in server["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod(rendered, "Deployment", GRAFANA_NAME)["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "grafana-admin" and mount["readOnly"] is True
    assert path.rsplit("/", 1)[1] == "admin-password"
    assert find(rendered, "Secret", "grafana-admin")["stringData"] == "[secret]"


def test_a_configured_password_is_used_and_never_written(render_stack) -> None:
    generated = render_stack("prod")
    assert any(r.type == "random:index/randomPassword:RandomPassword" for r in generated.records)
    configured = render_stack("prod", secrets={"grafanaAdminPassword": PASSWORD})
    assert not any(r.type == "random:index/randomPassword:RandomPassword" for r in configured.records)
    assert not any(PASSWORD in text for text in configured.files.values())


def test_ingress_sets_host_tls_and_root_url(render_stack) -> None:
    render = render_stack("prod", "grafana.ingress={enabled: true, host: grafana.example.com, className: nginx, tlsSecretName: grafana-tls}")
    ingress = find(render, "Ingress", GRAFANA_NAME)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["grafana.example.com"], "secretName": "grafana-tls"}]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "grafana.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": endpoints.GRAFANA_SERVICE, "port": {"name": "http"}}
    env = {e["name"]: e.get("value") for e in container(render, "Deployment", GRAFANA_NAME)["env"]}
    assert env["GF_SERVER_ROOT_URL"] == "https://grafana.example.com/"


def test_external_grafana_gets_the_objects_but_no_deployment(render_stack) -> None:
    render = render_stack(
        "prod",
        "grafana.external={url: 'https://myorg.grafana.net', privateDataSourceConnectNetworkId: pdc-123}",
        secrets={"grafanaAuth": "glsa_token_never_in_output"},
    )
    for kind in ("Deployment", "Service", "Secret", "PersistentVolumeClaim"):
        assert not has(render, kind, GRAFANA_NAME) and not has(render, kind, "grafana-admin") and not has(render, kind, "grafana-data")
    datasources = _datasources(render)
    # In an external (possibly shared) Grafana every UID carries the stack's name.
    assert set(datasources) == {f"{uid}-prod" for uid in DATASOURCE_UIDS}
    assert {d["privateDataSourceConnectNetworkId"] for d in datasources.values()} == {"pdc-123"}
    assert not any("glsa_token_never_in_output" in text for text in render.files.values())


def test_provider_url_follows_the_settings() -> None:
    def provider_url(settings: Settings) -> str:
        return api_url(settings.grafana, settings.namespace)

    assert provider_url(load_settings({}, "dev")) == "http://grafana.observability.svc:3000"
    assert provider_url(load_settings({"observability:grafana": {"apiUrl": "https://grafana.example.com"}}, "dev")) == "https://grafana.example.com"
    external = {"observability:grafana": {"external": {"url": "https://myorg.grafana.net/"}}, "observability:grafanaAuth": "t"}
    assert provider_url(load_settings(external, "dev", frozenset({"observability:grafanaAuth"}))) == "https://myorg.grafana.net"


def test_by_default_grafana_provisions_its_objects_and_nothing_calls_its_api(rendered: Render) -> None:
    assert not delivered_by_api(rendered.settings.grafana)
    assert [r.urn for r in rendered.records if r.type.startswith(("grafana:", "pulumi:providers:grafana"))] == []
    # What Grafana reads: the provisioning files, mounted where the image looks for them.
    spec = pod(rendered, "Deployment", GRAFANA_NAME)
    mounts = {m["mountPath"]: m["name"] for m in container(rendered, "Deployment", GRAFANA_NAME)["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[mounts[provisioning.DATASOURCES_DIR]]["configMap"]["name"] == provisioning.DATASOURCES_CONFIG_MAP
    assert volumes[mounts[provisioning.PROVIDERS_DIR]]["configMap"]["name"] == provisioning.PROVIDERS_CONFIG_MAP
    assert has(rendered, "ConfigMap", provisioning.DATASOURCES_CONFIG_MAP) and has(rendered, "ConfigMap", provisioning.PROVIDERS_CONFIG_MAP)
    # Every dashboard ConfigMap it mounts exists, and each holds the key the volume names.
    for source in volumes[mounts[provisioning.DASHBOARDS_DIR]]["projected"]["sources"]:
        config_map = find(rendered, "ConfigMap", source["configMap"]["name"])
        assert {item["key"] for item in source["configMap"]["items"]} <= set(config_map["data"])


def test_a_datasource_change_restarts_grafana(render_stack) -> None:
    before = pod_template_annotations(render_stack("dev"))
    after = pod_template_annotations(render_stack("dev", "prometheus.scrapeInterval=20s"))
    assert before[provisioning.CHECKSUM_ANNOTATION] != after[provisioning.CHECKSUM_ANNOTATION]


def pod_template_annotations(render: Render) -> dict[str, str]:
    annotations: dict[str, str] = find(render, "Deployment", GRAFANA_NAME)["spec"]["template"]["metadata"]["annotations"]
    return annotations


def test_grafana_expands_provisioning_files_as_its_source_says() -> None:
    assert grafana_expand("$${__value.raw}") == "${__value.raw}"
    assert grafana_expand("${__value.raw}") == ""  # why the file writes $$: Grafana would blank it
    assert grafana_expand("a $HOME b", {"HOME": "/h"}) == "a /h b"
    assert grafana_expand(provisioning.escape({"x": ["$1 and ${y}"]})) == {"x": ["$1 and ${y}"]}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_stack_depends_on_in_cluster_dns_from_outside_the_cluster(render_stack, stack: str) -> None:
    """The only things `pulumi up` itself talks to are its providers: none may point at a name only the
    cluster's DNS resolves. Objects inside the cluster (datasource URLs) may."""
    for render in (render_stack(stack), render_stack(stack, "grafana.apiUrl=https://grafana.example.com")):
        for provider in (r for r in render.records if r.type.startswith("pulumi:providers:")):
            urls = [v for v in provider.inputs.values() if isinstance(v, str) and "://" in v]
            assert [u for u in urls if in_cluster_host(u)] == [], f"{stack}: {provider.urn}"


@pytest.mark.parametrize("key", ["grafana.apiUrl", "grafana.external.url"])
def test_an_in_cluster_grafana_url_is_refused(key: str) -> None:
    url = "http://grafana.observability.svc:3000"
    value = {"apiUrl": url} if key == "grafana.apiUrl" else {"external": {"url": url}}
    with pytest.raises(SettingsError) as error:
        load_settings({"observability:grafana": value, "observability:grafanaAuth": "t"}, "dev", frozenset({"observability:grafanaAuth"}))
    assert f"observability:{key} = '{url}': is a cluster-internal address" in str(error.value)
    assert "provisions its datasources and dashboards from ConfigMaps" in str(error.value)


def test_an_api_url_sends_the_objects_through_the_provider_with_secret_credentials(render_stack) -> None:
    render = render_stack("dev", "grafana.apiUrl=https://grafana.example.com")
    [provider] = [r for r in render.records if r.type == "pulumi:providers:grafana"]
    assert provider.inputs["url"] == "https://grafana.example.com"
    assert is_secret(provider.inputs["auth"])
    grafana_objects = [r for r in render.records if r.type.startswith("grafana:")]
    assert any(r.type == "grafana:oss/dashboard:Dashboard" for r in grafana_objects)
    for record in grafana_objects:
        # Folders and datasources live in the Grafana component, dashboards in theirs: all through its provider.
        assert record.provider.startswith(provider.urn + "::"), record.urn
    assert not has(render, "ConfigMap", provisioning.DATASOURCES_CONFIG_MAP)


def _grafana_objects(render: Render) -> dict[str, dict[str, Any]]:
    return {path: json.loads(text) for path, text in render.files.items() if path.startswith("grafana/")}


def _dashboard_datasource_uids(value: Any) -> set[str]:
    """Every datasource UID a dashboard model names: {type, uid} references and Explore links."""
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("uid"), str) and "type" in value and value.get("type") in ("prometheus", "loki", "tempo"):
            found.add(value["uid"])
        for item in value.values():
            found |= _dashboard_datasource_uids(item)
    elif isinstance(value, list):
        for item in value:
            found |= _dashboard_datasource_uids(item)
    elif isinstance(value, str) and "panes=" in value:
        found |= _dashboard_datasource_uids(json.loads(unquote(value.partition("panes=")[2])))
    return found


def test_stacks_sharing_an_external_grafana_get_their_own_uids_names_and_folders(render_stack) -> None:
    external = "grafana.external={url: 'https://shared.grafana.example.com'}"
    renders = {stack: render_stack(stack, external, secrets={"grafanaAuth": "glsa_shared_token_never_in_output"}) for stack in ("dev", "staging")}
    owned: dict[str, set[tuple[str, str]]] = {}
    for stack, render in renders.items():
        objects = _grafana_objects(render)
        datasources = {d["uid"]: d for p, d in objects.items() if p.startswith("grafana/datasource-")}
        folders = {d["uid"]: d for p, d in objects.items() if p.startswith("grafana/folder-")}
        placements = [d for p, d in objects.items() if p.startswith("grafana/dashboard-")]
        owned[stack] = (
            {("datasource uid", uid) for uid in datasources}
            | {("datasource name", d["name"]) for d in datasources.values()}
            | {("folder uid", uid) for uid in folders}
            | {("folder title", d["title"]) for d in folders.values()}
            | {("dashboard uid", d["uid"]) for d in placements}
        )
        assert len(datasources) == len(DATASOURCE_UIDS) and len(folders) == len(FOLDERS)
        assert all(len(uid) <= 40 and re.fullmatch(r"[A-Za-z0-9_-]+", uid) for _, uid in owned[stack] if "uid" in _)
        # Links between datasources and every dashboard reference stay inside the stack's own objects.
        for datasource in datasources.values():
            assert set(_links(datasource["jsonDataEncoded"])) <= set(datasources)
        assert {d["folder"] for d in placements} <= set(folders)
        for path, text in render.files.items():
            if path.startswith("dashboards/"):
                assert _dashboard_datasource_uids(json.loads(text)) <= set(datasources), path
    assert not owned["dev"] & owned["staging"], sorted(owned["dev"] & owned["staging"])


def test_a_stack_own_grafana_keeps_the_plain_uids(rendered: Render) -> None:
    objects = _grafana_objects(rendered)
    assert {d["uid"] for p, d in objects.items() if p.startswith("grafana/folder-")} == {uid for uid, _ in FOLDERS.values()}
    assert {d["name"] for p, d in objects.items() if p.startswith("grafana/datasource-")} == {"Prometheus", "Loki", "Tempo", "Alertmanager"}


def test_scoping_an_explore_link_keeps_its_template_tokens() -> None:
    from components.grafana.access import GrafanaScope
    from dashboards.builder import explore_link

    link = explore_link("logs", '{service=~"${service:pipe}"} |= "${search}"', variables=("${service:pipe}", "${search}"))
    same = GrafanaScope("x")._explore(link.url).replace("loki-x", "loki")
    assert same == link.url
    assert "${service:pipe}" in same and "${__from}" in same
