"""Every PromQL query of every rendered dev dashboard runs on the live Prometheus and has data under synthetic load.

A query may legitimately be empty on a healthy system when it filters
(``up == 0``, ``> 0``): then every metric selector inside it must still have
data, so the emptiness comes from the filter and not from a wrong name or
label value. ``ALERTS`` selectors hold data only while alerts fire (the alert
tests cover that path), so they only have to be valid.
"""

from __future__ import annotations

import json

from components.rules.catalog import load_catalog
from tests.support.panel_queries import grafana_builtins, interpolate, prometheus_queries, resolve_variables, vector_selectors
from tooling.localstack import LocalStack, LocalStackError
from tooling.render import Render
from tooling.synthetic import presence_series

ONLY_WHILE_FIRING = ("ALERTS", "ALERTS_FOR_STATE")


def dashboards(render: Render) -> list[dict]:
    return [json.loads(text) for path, text in sorted(render.files.items()) if path.startswith("dashboards/")]


def test_the_dev_render_has_dashboards_with_promql(dev_render: Render) -> None:
    models = dashboards(dev_render)
    assert len(models) >= 10
    assert sum(len(prometheus_queries(m)) for m in models) >= 100


def test_every_catalog_family_has_series_on_the_live_prometheus(live_stack: LocalStack) -> None:
    """The catalog against reality: the binaries' own families exist in these versions, the synthetic load covers the rest."""
    catalog = load_catalog()
    missing = [presence_series(m) for m in catalog.metrics.values() if m.name not in ONLY_WHILE_FIRING and not live_stack.query(presence_series(m))]
    assert not missing


def test_every_panel_query_runs_and_has_data(live_stack: LocalStack, dev_render: Render) -> None:
    scrape = str(dev_render.settings.prometheus.scrape_interval)
    problems: list[str] = []
    checked = 0
    for model in dashboards(dev_render):
        title = model.get("title")
        try:
            values = resolve_variables(model, live_stack, grafana_builtins(model, scrape))
        except (ValueError, KeyError, LocalStackError) as error:
            problems.append(f"{title}: variables: {error}")
            continue
        for q in prometheus_queries(model):
            checked += 1
            where = f"{title} / {q.panel} / {q.ref_id}"
            try:
                promql = interpolate(q.expr, values)
                if live_stack.query(promql):
                    continue
                empty = [s for s in vector_selectors(promql) if not s.startswith(ONLY_WHILE_FIRING) and not live_stack.query(s)]
            except (KeyError, LocalStackError) as error:
                problems.append(f"{where}: {error}")
                continue
            if empty:
                problems.append(f"{where}: no data for {empty} in {promql}")
    assert checked >= 100
    assert not problems, f"{len(problems)} of {checked} panel queries fail:\n" + "\n".join(problems)
