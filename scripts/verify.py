"""Post-deploy verification: does the live Prometheus and Alertmanager run what the stack's render says?

    python -m scripts.verify --stack prod
    python -m scripts.verify --stack prod --prometheus-url http://127.0.0.1:9090 --alertmanager-url http://127.0.0.1:9093
    make verify STACK=prod [PROMETHEUS_URL=...] [ALERTMANAGER_URL=...]

Without URLs it uses 127.0.0.1:9090 and :9093, where these port-forwards put them:

    kubectl -n NAMESPACE port-forward svc/prometheus-operated 9090:9090
    kubectl -n NAMESPACE port-forward svc/alertmanager-operated 9093:9093

(NAMESPACE is the stack's namespace; the command is printed with it filled in.)

Four reports, each ``ok`` or ``DIFF`` with one line per difference:

  rules         rule groups loaded by Prometheus (GET /api/v1/rules) against the
                render's rules/*.yaml: every group, and in it every alert and
                recording rule by name (a missing rule file shows as its groups missing).
  targets       every active scrape target (GET /api/v1/targets) is up.
  metrics       which catalog metrics of the monitored systems (catalog/metrics.yaml,
                systems whose source is a seed) have series; missing ones are listed,
                and fail the run only with --require-metrics (a system may not be deployed yet).
  alertmanager  the loaded configuration (GET /api/v2/status) against the render's
                alertmanager.yaml: every key the render sets has the same value live
                (durations compared in seconds; Alertmanager fills in defaults for the
                rest), lists have the same length, each receiver has the same integrations.

Exit status: 0 when the live stack equals its render, 1 when anything differs,
2 when the render fails or Prometheus/Alertmanager cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import yaml

from components.rules.catalog import CATALOG_PATH, load_catalog
from components.wiring import endpoints
from tooling.cli_types import positive_seconds
from tooling.localstack import duration_seconds
from tooling.synthetic import presence_series

DEFAULT_PROMETHEUS = f"http://127.0.0.1:{endpoints.PROMETHEUS.port}"
DEFAULT_ALERTMANAGER = f"http://127.0.0.1:{endpoints.ALERTMANAGER.port}"
ALERTMANAGER_FILE = "alertmanager.yaml"
# Alertmanager config keys holding durations (the live config prints them in Prometheus' own format).
DURATION_KEYS = frozenset({"group_wait", "group_interval", "repeat_interval", "resolve_timeout"})
SEED_SOURCE = "seed"


class UnreachableError(RuntimeError):
    """Prometheus or Alertmanager did not answer; the message says where and how to reach it."""


@dataclass
class Section:
    name: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fails: bool = True  # problems make the run fail

    @property
    def ok(self) -> bool:
        return not (self.problems and self.fails)

    def lines(self) -> Iterator[str]:
        head = "ok  " if not self.problems else ("DIFF" if self.fails else "warn")
        yield f"{head} {self.name}: " + (", ".join(self.notes) if self.notes else "")
        for problem in self.problems:
            yield f"       - {problem}"


# --- the render's side ----------------------------------------------------------------------------


def rendered_groups(files: dict[str, str]) -> dict[str, tuple[str, Counter[tuple[str, str]]]]:
    """Group name -> (its rule file, multiset of (alerting|recording, name)) from a render's rules/*.yaml."""
    out: dict[str, tuple[str, Counter[tuple[str, str]]]] = {}
    for path, text in sorted(files.items()):
        if not (path.startswith("rules/") and path.endswith(".yaml")):
            continue
        for group in (yaml.safe_load(text) or {}).get("groups") or []:
            rules = Counter(("alerting", r["alert"]) if "alert" in r else ("recording", r["record"]) for r in group.get("rules") or [])
            out[group["name"]] = (path, rules)
    return out


@cache
def monitored_systems(catalog_path: Path = CATALOG_PATH) -> tuple[str, ...]:
    """Catalog systems whose source is a seed: the systems this stack watches (not its own components)."""
    systems = (yaml.safe_load(catalog_path.read_text()) or {}).get("systems") or {}
    return tuple(sorted(name for name, spec in systems.items() if str(spec.get("source", "")).startswith(SEED_SOURCE)))


# --- the live side -------------------------------------------------------------------------------


def _get(client: httpx.Client, base: str, path: str, what: str, forward: str, **params: str) -> Any:
    url = base.rstrip("/") + path
    try:
        response = client.get(url, params=params)
    except httpx.TransportError as error:
        raise UnreachableError(f"cannot reach {what} at {base}: {type(error).__name__}: {error}; {forward}") from None
    try:
        body = response.json()
    except ValueError:
        raise UnreachableError(f"{url} answered HTTP {response.status_code} with no JSON: is {base} {what}?") from None
    if not response.is_success:
        raise UnreachableError(f"{url} answered HTTP {response.status_code}: {body}")
    return body


def live_groups(rules_api: dict[str, Any]) -> dict[str, Counter[tuple[str, str]]]:
    return {g["name"]: Counter((r["type"], r["name"]) for r in g.get("rules") or []) for g in rules_api["data"]["groups"]}


def _kind(pair: tuple[str, str]) -> str:
    return f"{'alert' if pair[0] == 'alerting' else 'record'} {pair[1]}"


def compare_rules(render: dict[str, tuple[str, Counter[tuple[str, str]]]], live: dict[str, Counter[tuple[str, str]]]) -> Section:
    section = Section("rules")
    for name, (path, rules) in render.items():
        if name not in live:
            section.problems.append(f"group {name} (from {path}) is not loaded")
            continue
        missing, extra = rules - live[name], live[name] - rules
        section.problems += [f"group {name}: {_kind(p)} is not loaded" for p in sorted(missing)]
        section.problems += [f"group {name}: {_kind(p)} is loaded but not in the render" for p in sorted(extra)]
    section.problems += [f"group {name} is loaded but not in the render" for name in sorted(set(live) - set(render))]
    total = sum(sum(rules.values()) for _, rules in render.values())
    section.notes.append(f"{len(render)} group(s), {total} rule(s) in the render; {len(live)} group(s) loaded")
    return section


def check_targets(targets_api: dict[str, Any]) -> Section:
    section = Section("targets")
    active = targets_api["data"]["activeTargets"]
    if not active:
        section.problems.append("Prometheus has no active scrape target")
    for target in sorted(active, key=lambda t: (t.get("scrapePool", ""), t.get("scrapeUrl", ""))):
        if target.get("health") != "up":
            labels = target.get("labels") or {}
            section.problems.append(
                f"{target.get('scrapePool')} {target.get('scrapeUrl')} (job={labels.get('job')}, instance={labels.get('instance')}) "
                f"is {target.get('health')}: {target.get('lastError') or 'no error reported'}"
            )
    section.notes.append(f"{sum(1 for t in active if t.get('health') == 'up')}/{len(active)} active target(s) up")
    return section


def check_metrics(client: httpx.Client, prometheus: str, forward: str, required: bool, catalog_path: Path = CATALOG_PATH) -> Section:
    """Presence of each monitored system's catalog families (their presence series), in one query."""
    section = Section("metrics", fails=required)
    catalog = load_catalog(catalog_path)
    systems = monitored_systems(catalog_path)
    wanted: dict[str, list[str]] = {m.system: [] for m in catalog.metrics.values()}
    for metric in catalog.metrics.values():
        if metric.system in systems:
            wanted[metric.system].append(presence_series(metric))
    names = sorted({n for system in systems for n in wanted.get(system, [])})
    query = 'count by (__name__) ({__name__=~"' + "|".join(names) + '"})'
    try:
        response = client.post(prometheus.rstrip("/") + "/api/v1/query", data={"query": query})
        body = response.json()
    except httpx.TransportError as error:
        raise UnreachableError(f"cannot reach Prometheus at {prometheus}: {error}; {forward}") from None
    if body.get("status") != "success":
        section.problems.append(f"presence query failed: {body.get('errorType')}: {body.get('error')}")
        return section
    present = {r["metric"]["__name__"] for r in body["data"]["result"]}
    for system in systems:
        series = sorted(wanted.get(system, []))
        found = [n for n in series if n in present]
        section.notes.append(f"{system} {len(found)}/{len(series)}")
        section.problems += [f"{system}: {name} has no series" for name in series if name not in present]
    return section


def _normalise(key: str, value: Any) -> Any:
    if key in DURATION_KEYS and isinstance(value, str):
        return duration_seconds(value)
    return value


def subset_differences(rendered: Any, live: Any, where: str) -> Iterator[str]:
    """Where ``live`` does not hold what ``rendered`` sets: keys the render sets with other values, lists of another length."""
    if isinstance(rendered, dict):
        if not isinstance(live, dict):
            yield f"{where}: rendered a mapping, live has {live!r}"
            return
        for key, value in rendered.items():
            if key not in live:
                yield f"{where}.{key}: rendered {value!r}, not set live"
                continue
            if key == "receivers" and isinstance(value, list):
                yield from _receiver_differences(value, live[key], f"{where}.{key}")
                continue
            yield from subset_differences(_normalise(key, value), _normalise(key, live[key]), f"{where}.{key}")
    elif isinstance(rendered, list):
        if not isinstance(live, list) or len(live) != len(rendered):
            yield f"{where}: rendered {len(rendered)} item(s), live has {len(live) if isinstance(live, list) else repr(live)}"
            return
        for n, (r, item) in enumerate(zip(rendered, live, strict=True)):
            yield from subset_differences(r, item, f"{where}[{n}]")
    elif rendered != live:
        yield f"{where}: rendered {rendered!r}, live {live!r}"


def _integrations(receiver: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in receiver.items() if k.endswith("_configs") and v)


def _receiver_differences(rendered: list[dict[str, Any]], live: Any, where: str) -> Iterator[str]:
    live_by_name = {r.get("name"): r for r in live} if isinstance(live, list) else {}
    for receiver in rendered:
        name = receiver.get("name")
        if name not in live_by_name:
            yield f"{where}: receiver {name!r} is not configured live"
            continue
        got = live_by_name[name]
        if _integrations(receiver) != _integrations(got):
            yield f"{where}: receiver {name!r} has integrations {_integrations(got)} live, rendered {_integrations(receiver)}"
            continue
        yield from subset_differences(receiver, got, f"{where}[{name}]")
    for name in sorted(set(live_by_name) - {r.get("name") for r in rendered}, key=str):
        yield f"{where}: receiver {name!r} is configured live but not in the render"


def compare_alertmanager(rendered_text: str | None, status_api: dict[str, Any]) -> Section:
    section = Section("alertmanager")
    if rendered_text is None:
        section.problems.append(f"the render has no {ALERTMANAGER_FILE}: the stack does not configure Alertmanager")
        return section
    live = yaml.safe_load(status_api["config"]["original"])
    rendered = yaml.safe_load(rendered_text)
    section.problems += list(subset_differences(rendered, live, "config"))
    section.notes.append(f"{len(rendered.get('receivers') or [])} receiver(s), {len((rendered.get('route') or {}).get('routes') or [])} route(s) in the render")
    return section


# --- the command ---------------------------------------------------------------------------------


def port_forward_hint(namespace: str, service: str, port: int, flag: str) -> str:
    return f"pass {flag}, or run: kubectl -n {namespace} port-forward svc/{service} {port}:{port}"


def verify(files: dict[str, str], namespace: str, prometheus: str, alertmanager: str, *, timeout: float = 10.0,
           require_metrics: bool = False) -> list[Section]:
    """The four reports for a render's files (relative path -> text) against a live stack; UnreachableError when it cannot be asked."""
    prom_hint = port_forward_hint(namespace, endpoints.PROMETHEUS_SERVICE, endpoints.PROMETHEUS.port, "--prometheus-url")
    am_hint = port_forward_hint(namespace, endpoints.ALERTMANAGER_SERVICE, endpoints.ALERTMANAGER.port, "--alertmanager-url")
    with httpx.Client(timeout=timeout) as client:
        rules = _get(client, prometheus, "/api/v1/rules", "Prometheus", prom_hint)
        targets = _get(client, prometheus, "/api/v1/targets", "Prometheus", prom_hint, state="active")
        sections = [compare_rules(rendered_groups(files), live_groups(rules)), check_targets(targets),
                    check_metrics(client, prometheus, prom_hint, require_metrics)]
        status = _get(client, alertmanager, "/api/v2/status", "Alertmanager", am_hint)
        sections.append(compare_alertmanager(files.get(ALERTMANAGER_FILE), status))
    return sections


def http_url(text: str) -> str:
    parsed = httpx.URL(text) if text.startswith(("http://", "https://")) else None
    if parsed is None or not parsed.host:
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted: an http(s) URL such as {DEFAULT_PROMETHEUS}")
    return text


def main(argv: list[str] | None = None) -> int:
    # Imported here: the render pulls in the Pulumi SDKs, which the report functions do not need.
    from components.settings.errors import SettingsError
    from tooling.render import LeakError, render
    from tooling.stack_config import OverrideError, read_stack_config

    doc = __doc__ or ""
    p = argparse.ArgumentParser(prog="python -m scripts.verify", description=doc.split("\n\n")[0], epilog=doc.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stack", required=True, help="the stack whose render the live stack must equal (reads Pulumi.STACK.yaml)")
    p.add_argument("--prometheus-url", type=http_url, help=f"Prometheus (default {DEFAULT_PROMETHEUS}, a port-forward)")
    p.add_argument("--alertmanager-url", type=http_url, help=f"Alertmanager (default {DEFAULT_ALERTMANAGER}, a port-forward)")
    p.add_argument("--require-metrics", action="store_true", help="fail when a catalog metric of a monitored system has no series")
    p.add_argument("--timeout", type=positive_seconds, default=10.0, metavar="SECONDS", help="bound on each request (default 10)")
    args = p.parse_args(argv)
    try:
        result = render(read_stack_config(args.stack))
    except (SettingsError, OverrideError, FileNotFoundError, LeakError) as error:
        print(f"verify: cannot render stack {args.stack!r}: {error}", file=sys.stderr)
        return 2
    namespace = result.settings.namespace
    for name, given, default, service, port in (
        ("Prometheus", args.prometheus_url, DEFAULT_PROMETHEUS, endpoints.PROMETHEUS_SERVICE, endpoints.PROMETHEUS.port),
        ("Alertmanager", args.alertmanager_url, DEFAULT_ALERTMANAGER, endpoints.ALERTMANAGER_SERVICE, endpoints.ALERTMANAGER.port),
    ):
        if given is None:
            print(f"{name}: {default} (expects: kubectl -n {namespace} port-forward svc/{service} {port}:{port})")
    try:
        sections = verify(result.files, namespace, args.prometheus_url or DEFAULT_PROMETHEUS, args.alertmanager_url or DEFAULT_ALERTMANAGER,
                          timeout=args.timeout, require_metrics=args.require_metrics)
    except UnreachableError as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2
    for section in sections:
        for line in section.lines():
            print(line)
    failed = [s.name for s in sections if not s.ok]
    print(f"stack {args.stack!r}: " + (f"live differs from the render in {', '.join(failed)}" if failed else "live equals the render"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
