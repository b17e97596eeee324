"""components/wiring/scrape_jobs.py against the flow table, the rendered monitors and the settings model: the one
list of the stack's scrape jobs cannot drift from what the render scrapes (the catalog reads it)."""

from __future__ import annotations

from typing import get_args

import pytest

from components.settings.metrics import ServiceKind
from components.wiring import endpoints, scrape_jobs
from components.wiring.flows import Scrape, table
from tooling.render import Render


def test_the_pod_monitored_exporters_are_the_flow_tables_scrape_rows(rendered: Render) -> None:
    rows = {flow.monitor.target for flow in table(rendered.settings) if isinstance(flow.monitor, Scrape)}
    assert rows == scrape_jobs.POD_MONITORED


def test_the_kubelet_endpoints_are_the_rendered_service_monitors(rendered: Render) -> None:
    (kubelet,) = [m for m in rendered.manifests() if m["kind"] == "ServiceMonitor" and m["metadata"]["name"] == endpoints.KUBELET_NAME]
    rendered_jobs = {e["path"]: e["relabelings"][-1]["replacement"] for e in kubelet["spec"]["endpoints"]}
    assert rendered_jobs == {path: scrape_jobs.job(exporter) for exporter, path in scrape_jobs.KUBELET_ENDPOINTS.items()}


def test_the_service_kinds_are_the_settings_kinds() -> None:
    assert set(get_args(ServiceKind)) == scrape_jobs.SERVICE_KINDS


def test_an_exporter_the_stack_does_not_scrape_is_refused_naming_the_accepted() -> None:
    with pytest.raises(scrape_jobs.UnknownExporterError, match=r"'lokii' is not scraped by the stack; accepted: \[.*'loki'"):
        scrape_jobs.job("lokii")
