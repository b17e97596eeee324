# /// script
# requires-python = ">=3.11"
# dependencies = ["httpx==0.28.1"]
# ///
"""Check a Seamless deployment: its environment, the coordinator's health and its metrics in Prometheus (seed 001).

    uv run scripts/seamless_health_check.py \\
      --prometheus-metric backfill_completion_ratio \\
      --prometheus-metric seamless_sla_deadline_seconds
    uv run scripts/seamless_health_check.py --coordinator-url https://coordinator/v1 \\
      --prometheus-url http://127.0.0.1:9090 --prometheus-metric coverage_ratio --timeout 3

Checks, each printed as one line (``ok`` or ``FAIL``):

  env          QMTL_SEAMLESS_COORDINATOR_URL and QMTL_PROMETHEUS_URL are set to
               http(s) URLs (a flag given instead counts as set).
  coordinator  GET {coordinator-url}/health answers 2xx (the contract
               scripts/lease_recover.py assumes; adapt HEALTH_PATH otherwise).
  prometheus   GET {prometheus-url}/-/ready answers 2xx.
  metric NAME  Prometheus holds at least one series of NAME; a histogram or
               summary family is found by its _bucket/_count/_sum series, a
               counter also as NAME_total.

Exit status: 0 when every check passed, 1 when any failed (one FAIL line
each), 2 for bad input (nothing was checked).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

COORDINATOR_ENV = "QMTL_SEAMLESS_COORDINATOR_URL"
PROMETHEUS_ENV = "QMTL_PROMETHEUS_URL"
HEALTH_PATH = "/health"
READY_PATH = "/-/ready"
# Prometheus' metric name syntax (data model docs): [a-zA-Z_:][a-zA-Z0-9_:]*
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
SERIES_SUFFIXES = ("", "_bucket", "_count", "_sum", "_total")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def url_problem(url: str) -> str | None:
    """Why ``url`` is not an http(s) base URL, or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return f"{url!r} is not an http(s) base URL; accepted form: http(s)://HOST[:PORT][/PATH]"
    return None


def check_env(flag_values: dict[str, str | None]) -> tuple[list[Check], dict[str, str | None]]:
    """One check per variable; the URL to use for each (flag over variable; None when neither is usable)."""
    checks: list[Check] = []
    urls: dict[str, str | None] = {}
    for var, flag in ((COORDINATOR_ENV, "--coordinator-url"), (PROMETHEUS_ENV, "--prometheus-url")):
        from_flag, from_env = flag_values[var], os.environ.get(var) or None
        if from_flag is not None:
            urls[var] = from_flag
            checks.append(Check(f"env {var}", True, f"overridden by {flag}" + ("" if from_env else " (the variable is unset)")))
            continue
        if from_env is None:
            urls[var] = None
            checks.append(Check(f"env {var}", False, f"unset; export {var}=http(s)://HOST[:PORT][/PATH] or pass {flag}"))
            continue
        problem = url_problem(from_env)
        urls[var] = None if problem else from_env
        checks.append(Check(f"env {var}", problem is None, problem or "set"))
    return checks, urls


def _get(client: httpx.Client, url: str) -> tuple[httpx.Response | None, str]:
    try:
        return client.get(url), ""
    except httpx.TimeoutException:
        return None, f"no answer from {url} within the timeout"
    except httpx.TransportError as error:
        return None, f"cannot reach {url}: {type(error).__name__}: {error}"


def check_coordinator(client: httpx.Client, base: str) -> Check:
    url = base.rstrip("/") + HEALTH_PATH
    response, error = _get(client, url)
    if response is None:
        return Check("coordinator", False, error)
    if response.is_success:
        return Check("coordinator", True, f"{url} answered HTTP {response.status_code}")
    return Check("coordinator", False, f"{url} answered HTTP {response.status_code}: {response.text.strip()[:200]}")


def presence_query(metric: str) -> str:
    names = "|".join(f"{metric}{suffix}" for suffix in SERIES_SUFFIXES)
    return f'count by (__name__) ({{__name__=~"{names}"}})'


def check_prometheus(client: httpx.Client, base: str, metrics: list[str]) -> Iterator[Check]:
    """Readiness, then one check per metric (each marked not checked when Prometheus is not ready)."""
    base = base.rstrip("/")
    response, error = _get(client, base + READY_PATH)
    ready = response is not None and response.is_success
    if response is not None and not ready:
        error = f"{base + READY_PATH} answered HTTP {response.status_code}"
    yield Check("prometheus", ready, f"{base} is ready" if ready else error)
    for metric in metrics:
        if not ready:
            yield Check(f"metric {metric}", False, "not checked: Prometheus is not reachable")
            continue
        try:
            answer = client.get(f"{base}/api/v1/query", params={"query": presence_query(metric)})
            body = answer.json()
        except (httpx.HTTPError, ValueError) as problem:
            yield Check(f"metric {metric}", False, f"query failed: {type(problem).__name__}: {problem}")
            continue
        if body.get("status") != "success":
            yield Check(f"metric {metric}", False, f"query failed: {body.get('errorType')}: {body.get('error')}")
            continue
        found = {r["metric"].get("__name__", metric): int(float(r["value"][1])) for r in body["data"]["result"]}
        if found:
            shown = ", ".join(f"{name} ({n} series)" for name, n in sorted(found.items()))
            yield Check(f"metric {metric}", True, f"present: {shown}")
        else:
            yield Check(f"metric {metric}", False, f"no series of {metric} in Prometheus at {base} (is its target scraped and up?)")


# Also in lease_recover.py and tooling/cli_types.py: each seed script stays self-contained, httpx only (docs/seamless-scripts.md).
def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted: a positive number of seconds")
    return value


def metric_name(text: str) -> str:
    if not METRIC_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted: a Prometheus metric name, [a-zA-Z_:][a-zA-Z0-9_:]*")
    return text


def parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(prog="seamless_health_check.py", description=doc.split("\n\n")[0],
                                epilog=doc.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coordinator-url", metavar="URL", help=f"the coordinator's base URL (default ${COORDINATOR_ENV})")
    p.add_argument("--prometheus-url", metavar="URL", help=f"Prometheus' base URL (default ${PROMETHEUS_ENV})")
    p.add_argument("--prometheus-metric", dest="metrics", action="append", default=[], type=metric_name, metavar="NAME",
                   help="a metric that must have series in Prometheus (repeatable)")
    p.add_argument("--timeout", type=positive_seconds, default=5.0, metavar="SECONDS", help="bound on each request (default 5)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    for flag, value in (("--coordinator-url", args.coordinator_url), ("--prometheus-url", args.prometheus_url)):
        if value is not None and (problem := url_problem(value)):
            p.error(f"{flag} {problem}")
    checks, urls = check_env({COORDINATOR_ENV: args.coordinator_url, PROMETHEUS_ENV: args.prometheus_url})
    with httpx.Client(timeout=args.timeout, follow_redirects=False) as client:
        coordinator = urls[COORDINATOR_ENV]
        checks.append(check_coordinator(client, coordinator) if coordinator else Check("coordinator", False, "not checked: no usable URL"))
        prometheus = urls[PROMETHEUS_ENV]
        if prometheus:
            checks.extend(check_prometheus(client, prometheus, args.metrics))
        else:
            checks.append(Check("prometheus", False, "not checked: no usable URL"))
            checks.extend(Check(f"metric {m}", False, "not checked: no usable Prometheus URL") for m in args.metrics)
    for check in checks:
        print(check.line(), file=sys.stdout if check.ok else sys.stderr)
    failed = sum(1 for c in checks if not c.ok)
    print(f"{len(checks)} check(s), {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
