"""A local Prometheus + Alertmanager + Pushgateway on loopback, fed by the rendered stack.

The programs are the builds of `make tools` in build/tools/bin/, at the versions
the stack deploys (the image tags in components/settings/defaults.yaml), run by
absolute path. Used by `make demo` (scripts/localstack.py), the end-to-end
tests and the benchmark. Prometheus's and Alertmanager's flags (remote-write
receiver, feature flags, retention), external labels and scrape limits come
from the rendered custom resources (tooling/local_flags.py), as the operator
derives them in the cluster. Rules come from the render's ``rules/``, routes
from its ``alertmanager.yaml`` with every receiver rewritten to a local
webhook sink that records which receiver each notification reached. The
``e2e`` profile compresses time on these copies only (short ``for``,
intervals and group wait); the rendered files and the promtool tests keep
the real values. Every process runs in its own process group and is
stopped, with its children, when the stack closes or the run is interrupted;
on Linux it also dies with the process that started it, even when that one is
killed outright (SIGKILL) and cannot clean up.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import ctypes.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from components.settings.units import duration_seconds as _duration
from components.wiring import endpoints
from tooling.go_tools import BIN_DIR, ToolBuildError, require
from tooling.local_flags import (
    AlertmanagerSettings,
    PrometheusSettings,
    RenderedResourceError,
    alertmanager_settings,
    prometheus_settings,
    rendered_resource,
    supported_features,
)

HOST = "127.0.0.1"
ALERTMANAGER_FILE = "alertmanager.yaml"
# Component -> the program `make tools` builds into build/tools/bin (upstream names, the deployed versions).
BINARIES = {"prometheus": "prometheus", "alertmanager": "alertmanager", "pushgateway": "pushgateway"}
# Local ports: the in-cluster port shifted by 10000, so a local stack never takes a default port.
PORT_SHIFT = 10000
STOP_TIMEOUT = 10.0
CATCH_ALL = "local-sink"


def duration_seconds(text: str) -> float:
    """Seconds of a Prometheus duration; zero ("0s", "0m") allowed."""
    return 0.0 if text.rstrip("smhdwy") in ("", "0") else float(_duration(text))


class LocalStackError(RuntimeError):
    """The local stack cannot start or did not behave; the message says what and how to fix it."""


class ComponentExitedError(LocalStackError):
    """A component exited while starting (bad config, port raced away)."""


@dataclass(frozen=True)
class Ports:
    prometheus: int
    alertmanager: int
    pushgateway: int
    webhook: int

    def items(self) -> list[tuple[str, int]]:
        return [("prometheus", self.prometheus), ("alertmanager", self.alertmanager), ("pushgateway", self.pushgateway), ("webhook sink", self.webhook)]


DEMO_PORTS = Ports(
    prometheus=endpoints.PROMETHEUS.port + PORT_SHIFT,
    alertmanager=endpoints.ALERTMANAGER.port + PORT_SHIFT,
    pushgateway=endpoints.PUSHGATEWAY.port + PORT_SHIFT,
    webhook=endpoints.ALERTMANAGER.port + PORT_SHIFT + 2,
)


def free_ports() -> Ports:
    """Four ports free right now on loopback (for tests that run next to a demo)."""
    with contextlib.ExitStack() as stack:
        found = []
        for _ in range(4):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((HOST, 0))
            found.append(s.getsockname()[1])
    return Ports(*found)


def check_ports(ports: Ports) -> None:
    """Refuse to start when any port is taken, naming the port and its owner's use."""
    taken = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # As the servers bind: connections lingering in TIME_WAIT do not make a port taken, a listener does.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, port))
            except OSError:
                taken.append(f"{HOST}:{port} ({name})")
    if taken:
        raise LocalStackError(
            f"port(s) already in use: {', '.join(taken)}; stop what listens there "
            f"(see `ss -ltnp`) or pick other ports; nothing was started"
        )


@dataclass(frozen=True)
class Profile:
    """Timing of one local run. ``for_`` None keeps each rule's own ``for``."""

    name: str
    scrape_interval: str
    evaluation_interval: str
    for_: str | None = None
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None


# Time compressed for tests and the demo: seconds instead of minutes.
E2E = Profile("e2e", scrape_interval="1s", evaluation_interval="1s", for_="2s", group_wait="1s", group_interval="1s", repeat_interval="1h")


# --- config files --------------------------------------------------------------------------------


def compress_rules(spec: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """A copy of a rule file spec with every non-zero ``for`` and every group ``interval`` replaced by the profile's."""
    out = copy.deepcopy(spec)
    if profile.for_ is None:
        return out
    for group in out.get("groups") or []:
        if "interval" in group:
            group["interval"] = profile.evaluation_interval
        for rule in group.get("rules") or []:
            if "alert" in rule and rule.get("for") and duration_seconds(str(rule["for"])) > 0:
                rule["for"] = profile.for_
    return out


def _walk_routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes") or []:
        yield from _walk_routes(child)


def rewrite_alertmanager(config: dict[str, Any], sink_url: str, profile: Profile) -> dict[str, Any]:
    """Routes kept as rendered; every receiver sends to the sink at ``sink_url/<receiver>`` only.

    Global settings other than resolve_timeout and templates are dropped:
    they configure the real integrations (and hold secret placeholders).
    """
    if not isinstance(config.get("route"), dict) or not isinstance(config.get("receivers"), list):
        raise LocalStackError(f"{ALERTMANAGER_FILE}: expected 'route' (a mapping) and 'receivers' (a list); got keys {sorted(config)}")
    out = copy.deepcopy(config)
    resolve = (config.get("global") or {}).get("resolve_timeout")
    out["global"] = {"resolve_timeout": resolve} if resolve else {}
    out.pop("templates", None)
    out["receivers"] = [
        {"name": r["name"], "webhook_configs": [{"url": f"{sink_url}/{urllib.parse.quote(r['name'])}", "send_resolved": False}]}
        for r in config["receivers"]
    ]
    root = out["route"]
    for key, value in (("group_wait", profile.group_wait), ("group_interval", profile.group_interval), ("repeat_interval", profile.repeat_interval)):
        if value is None:
            continue
        for route in _walk_routes(root):
            if route is root or key in route:
                route[key] = value
    return out


def group_wait_seconds(config: dict[str, Any]) -> float:
    """The root route's group wait (Alertmanager's default is 30s)."""
    return duration_seconds(str(config["route"].get("group_wait", "30s")))


def prometheus_config(
    ports: Ports, profile: Profile, rule_files: list[Path], namespace: str, rendered: PrometheusSettings | None = None
) -> dict[str, Any]:
    """Scrape the Pushgateway (honouring pushed job/instance), Prometheus and Alertmanager; alert to the local Alertmanager.

    ``rendered``: the external labels and enforced scrape limits of the rendered Prometheus resource.
    """
    rendered = rendered or PrometheusSettings()

    def static(port: int) -> list[dict[str, Any]]:
        # The namespace label the Operator's monitors attach to every target.
        return [{"targets": [f"{HOST}:{port}"], "labels": {"namespace": namespace}}]

    global_config: dict[str, Any] = {"scrape_interval": profile.scrape_interval, "evaluation_interval": profile.evaluation_interval}
    if rendered.external_labels:
        global_config["external_labels"] = dict(rendered.external_labels)
    limits = dict(rendered.scrape_limits)
    return {
        "global": global_config,
        "rule_files": [str(p) for p in rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{ports.alertmanager}"]}]}]},
        "scrape_configs": [
            {"job_name": endpoints.PUSHGATEWAY_NAME, "honor_labels": True, "static_configs": static(ports.pushgateway), **limits},
            {"job_name": endpoints.PROMETHEUS_NAME, "static_configs": static(ports.prometheus), **limits},
            {"job_name": endpoints.ALERTMANAGER_NAME, "static_configs": static(ports.alertmanager), **limits},
        ],
    }


@dataclass(frozen=True)
class StackFiles:
    prometheus_config: Path
    alertmanager_config: Path
    rule_files: list[Path]
    group_wait: float
    receivers: list[str]
    # Receivers with no integration in the rendered config: in the cluster nobody hears them.
    silent_receivers: frozenset[str] = frozenset()


def write_configs(
    files: dict[str, str],
    workdir: Path,
    ports: Ports,
    profile: Profile,
    namespace: str,
    *,
    require_routes: bool = True,
    rendered: PrometheusSettings | None = None,
) -> StackFiles:
    """Write the local configs from a render's files (relative path -> text) into ``workdir``.

    Without ``require_routes`` a render lacking routes gets one catch-all receiver (for tests of storage, not routing).
    """
    if ALERTMANAGER_FILE in files:
        routes = yaml.safe_load(files[ALERTMANAGER_FILE])
    elif require_routes:
        raise LocalStackError(f"the render has no {ALERTMANAGER_FILE} (the Alertmanager routes); render a stack that includes Alertmanager")
    else:
        routes = {"route": {"receiver": CATCH_ALL}, "receivers": [{"name": CATCH_ALL}]}
    rule_dir = workdir / "rules"
    rule_dir.mkdir(parents=True, exist_ok=True)
    rule_files = []
    for rel, text in sorted(files.items()):
        if rel.startswith("rules/") and rel.endswith(".yaml"):
            path = rule_dir / Path(rel).name
            path.write_text(yaml.safe_dump(compress_rules(yaml.safe_load(text), profile), sort_keys=False))
            rule_files.append(path)
    am = rewrite_alertmanager(routes, f"http://{HOST}:{ports.webhook}", profile)
    am_path = workdir / "alertmanager.yml"
    am_path.write_text(yaml.safe_dump(am, sort_keys=False))
    prom_path = workdir / "prometheus.yml"
    prom_path.write_text(yaml.safe_dump(prometheus_config(ports, profile, rule_files, namespace, rendered), sort_keys=False))
    silent = frozenset(r["name"] for r in routes["receivers"] if not any(k.endswith("_configs") and r[k] for k in r))
    return StackFiles(prom_path, am_path, rule_files, group_wait_seconds(am), [r["name"] for r in am["receivers"]], silent)


# --- the webhook sink ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    received_at: float
    receiver: str
    alertnames: tuple[str, ...]
    payload: dict[str, Any]


class WebhookSink:
    """Records every Alertmanager webhook delivery: which receiver, which alerts, when."""

    def __init__(self, port: int) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                receiver = urllib.parse.unquote(self.path.strip("/")) or str(payload.get("receiver", ""))
                names = tuple(sorted({a.get("labels", {}).get("alertname", "") for a in payload.get("alerts", [])}))
                with sink._lock:
                    sink.deliveries.append(Delivery(time.time(), receiver, names, payload))
                    sink._lock.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the stack prints its own summary
                return

        self._server = ThreadingHTTPServer((HOST, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-sink", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, alertname: str, timeout: float, since: float = 0.0) -> Delivery:
        """The first delivery carrying ``alertname`` received after ``since``; LocalStackError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for d in self.deliveries:
                    if alertname in d.alertnames and d.received_at >= since:
                        return d
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({(d.receiver, n) for d in self.deliveries for n in d.alertnames})
                    raise LocalStackError(f"no webhook delivery of {alertname} within {timeout:g}s; deliveries so far: {seen}")
                self._lock.wait(left)


# --- processes -----------------------------------------------------------------------------------

# prctl(2) option, from <linux/prctl.h>: deliver a signal to this process when its parent dies.
PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the thread that forked it exits (Linux); None elsewhere.

    prctl(2): the "parent" of PR_SET_PDEATHSIG is the creating *thread*, so start components from a thread that
    lives as long as they should (the main thread; pytest-xdist runs tests there). Resolved before the fork, so
    the child only makes the call. A parent that died between fork and prctl is caught by comparing parent pids.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
            os._exit(1)

    return preexec


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far, from /proc/<pid>/stat (fields 14 and 15, in clock
    ticks; proc(5)); 0.0 where /proc is unavailable or the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")



@dataclass
class Component:
    name: str
    argv: list[str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    # CPU seconds of the stopped runs of this component (restarts), for cpu_seconds().
    cpu_spent: float = 0.0

    def start(self) -> None:
        with self.log.open("ab") as log:
            # A new session: the component and anything it spawns form one process group we can signal.
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, preexec_fn=die_with_parent())

    def stop(self) -> None:
        p = self.process
        if p is None:
            return
        self.process = None
        if p.poll() is not None:
            return
        self.cpu_spent += process_cpu_seconds(p.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(STOP_TIMEOUT)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) this component has used across its runs, up to now."""
        return self.cpu_spent + (process_cpu_seconds(self.process.pid) if self.running() and self.process else 0.0)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            raise LocalStackError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def require_binaries(bin_dir: Path = BIN_DIR) -> dict[str, str]:
    """Component -> absolute path of its build in ``bin_dir`` (build/tools/bin); LocalStackError naming `make tools`
    when one is missing (a program of the same name elsewhere on PATH is not used)."""
    try:
        found = require(*BINARIES.values(), bin_dir=bin_dir)
    except ToolBuildError as error:
        raise LocalStackError(str(error)) from None
    return {name: str(found[binary]) for name, binary in BINARIES.items()}


@dataclass
class LocalStack:
    """Prometheus, Alertmanager, Pushgateway and the webhook sink; a context manager that always cleans up."""

    files: dict[str, str]
    profile: Profile
    namespace: str = "observability"
    ports: Ports = DEMO_PORTS
    pushgateway_persistence_interval: str = "1m"
    workdir: Path | None = None
    ready_timeout: float = 30.0
    require_routes: bool = True
    config: StackFiles = field(init=False)
    # What the rendered Prometheus and Alertmanager resources make the operator pass (tooling/local_flags.py).
    prometheus_rendered: PrometheusSettings = field(init=False)
    alertmanager_rendered: AlertmanagerSettings = field(init=False)
    sink: WebhookSink = field(init=False)
    components: dict[str, Component] = field(init=False, default_factory=dict)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(init=False, default=None)

    # -- lifecycle
    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Launch every component, then wait until each is ready and Prometheus has scraped them all."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Write the configs and spawn every component without waiting for any; ``wait_ready`` completes the start.

        Spawns from the calling thread, which must outlive the components (see ``die_with_parent``).
        """
        binaries = require_binaries()
        check_ports(self.ports)
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="localstack-")
            self.workdir = Path(self._tmp.name)
        work = self.workdir
        try:
            self.prometheus_rendered = prometheus_settings(rendered_resource(self.files, "Prometheus"), supported_features(binaries["prometheus"]))
            self.alertmanager_rendered = alertmanager_settings(rendered_resource(self.files, "Alertmanager"))
        except RenderedResourceError as error:
            raise LocalStackError(f"cannot run the rendered Prometheus/Alertmanager locally: {error}") from None
        self.config = write_configs(
            self.files, work, self.ports, self.profile, self.namespace, require_routes=self.require_routes, rendered=self.prometheus_rendered
        )
        self.sink = WebhookSink(self.ports.webhook)
        self.sink.start()
        p = self.ports
        self.components = {
            "pushgateway": Component("pushgateway", [
                binaries["pushgateway"], f"--web.listen-address={HOST}:{p.pushgateway}",
                f"--persistence.file={work / 'pushgateway.state'}", f"--persistence.interval={self.pushgateway_persistence_interval}",
            ], p.pushgateway, work / "pushgateway.log"),
            "alertmanager": Component("alertmanager", [
                binaries["alertmanager"], f"--config.file={self.config.alertmanager_config}", f"--storage.path={work / 'alertmanager-data'}",
                f"--web.listen-address={HOST}:{p.alertmanager}", "--cluster.listen-address=",
                *self.alertmanager_rendered.flags,
            ], p.alertmanager, work / "alertmanager.log"),
            "prometheus": Component("prometheus", [
                binaries["prometheus"], f"--config.file={self.config.prometheus_config}", f"--storage.tsdb.path={work / 'prometheus-data'}",
                # Lifecycle (reloads) as the operator's config reloader needs; the rest from the rendered resource.
                f"--web.listen-address={HOST}:{p.prometheus}", "--web.enable-lifecycle",
                *self.prometheus_rendered.flags,
            ], p.prometheus, work / "prometheus.log"),
        }
        # All at once: no component needs another to start (Prometheus retries Alertmanager and its targets).
        for component in self.components.values():
            component.start()

    def wait_ready(self) -> None:
        """Block until every launched component answers ready and Prometheus has scraped each target once."""
        for name in self.components:
            self.wait_component(name)
        self.wait_scraped()

    def wait_scraped(self) -> None:
        """Block until Prometheus has scraped every local target once (its scrape manager starts a few seconds late)."""
        jobs = {endpoints.PUSHGATEWAY_NAME, endpoints.PROMETHEUS_NAME, endpoints.ALERTMANAGER_NAME}
        wait_until(lambda: {r["metric"].get("job") for r in self.query("up == 1")} >= jobs, self.ready_timeout, f"first scrape of {sorted(jobs)}")

    def start_component(self, name: str) -> None:
        self.components[name].start()
        self.wait_component(name)

    def wait_component(self, name: str) -> None:
        """Block until a started component answers ready; ComponentExitedError (with its log) if it exited."""
        component = self.components[name]
        url = f"http://{HOST}:{component.port}{endpoints.PROMETHEUS.ready_path}"  # all three serve /-/ready

        def ready() -> bool:
            if not component.running():
                raise ComponentExitedError(f"{name} did not become ready (exited); last log lines of {component.log}:\n{component.tail()}")
            return http_get(url, 2.0) is not None

        try:
            wait_until(ready, self.ready_timeout, f"{name} to be ready at {url}")
        except ComponentExitedError:
            raise
        except LocalStackError:
            raise LocalStackError(f"{name} did not become ready (still starting); last log lines of {component.log}:\n{component.tail()}") from None

    def restart(self, name: str) -> None:
        """Stop one component gracefully (SIGTERM, as a pod restart would) and start it again on the same data."""
        self.components[name].stop()
        self.start_component(name)
        if name == "prometheus":
            self.wait_scraped()

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the stack's binaries have used so far."""
        return sum(c.cpu_seconds() for c in self.components.values())

    def quiet_window(self, evaluations: int) -> float:
        """Seconds of observation that prove no rule fires: the longest ``for`` among the alerting rules this stack
        loaded (after the profile compressed them) plus ``evaluations`` of its slowest rule group's intervals."""
        longest_for, interval = 0.0, duration_seconds(self.profile.evaluation_interval)
        for path in self.config.rule_files:
            for group in (yaml.safe_load(path.read_text()) or {}).get("groups") or []:
                interval = max(interval, duration_seconds(str(group.get("interval") or self.profile.evaluation_interval)))
                longest_for = max([longest_for, *(duration_seconds(str(r["for"])) for r in group.get("rules") or [] if "alert" in r and r.get("for"))])
        return longest_for + evaluations * interval

    def close(self) -> None:
        for component in reversed(list(self.components.values())):
            component.stop()
        if hasattr(self, "sink"):
            self.sink.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- URLs and APIs
    @property
    def pushgateway_url(self) -> str:
        return f"http://{HOST}:{self.ports.pushgateway}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.ports.prometheus}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{HOST}:{self.ports.alertmanager}"

    def api(self, path: str, **params: str | float) -> Any:
        """GET a Prometheus API path; the ``data`` of a success, LocalStackError otherwise."""
        query = urllib.parse.urlencode(params)
        url = f"{self.prometheus_url}{path}" + (f"?{query}" if query else "")
        try:
            body = json.loads(http_get(url, 10.0))
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
        if body.get("status") != "success":
            raise LocalStackError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, str | float] = {"query": promql}
        if at is not None:
            params["time"] = at
        data = self.api("/api/v1/query", **params)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] in ("vector", "matrix") else [{"value": data["result"]}]
        return result

    def alertmanager_alerts(self, alertname: str) -> list[dict[str, Any]]:
        """Alertmanager's view of ``alertname`` (GET /api/v2/alerts, muted ones included): each alert with its
        ``status`` (state active/suppressed, ``inhibitedBy`` fingerprints)."""
        query = urllib.parse.urlencode({"filter": f'alertname="{alertname}"', "inhibited": "true", "silenced": "true"})
        alerts: list[dict[str, Any]] = json.loads(http_get(f"{self.alertmanager_url}/api/v2/alerts?{query}", 10.0))
        return alerts

    def firing(self) -> dict[str, list[dict[str, str]]]:
        """Firing alerts in Prometheus, by alert name, with their labels."""
        out: dict[str, list[dict[str, str]]] = {}
        for alert in self.api("/api/v1/alerts")["alerts"]:
            if alert["state"] == "firing":
                out.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
        return out

    def wait_for_series(self, promql: str, timeout: float) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def check() -> bool:
            found[:] = self.query(promql)
            return bool(found)

        wait_until(check, timeout, f"data for {promql}")
        return found


def start_all(stacks: list[LocalStack]) -> None:
    """Start several stacks side by side: spawn every one, then wait for each, so their start-up waits overlap.

    On any error every stack of the list is closed and the error raised.
    """
    try:
        for stack in stacks:
            stack.launch()
        for stack in stacks:
            stack.wait_ready()
    except BaseException:
        for stack in stacks:
            stack.close()
        raise


# --- make demo -----------------------------------------------------------------------------------
