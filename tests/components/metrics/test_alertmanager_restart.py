"""Why Alertmanager's storage path must outlive its pod, shown on the real Alertmanager (issue 22, kind 1).

Alertmanager keeps its silences and its notification log (which alert groups it has notified, and when)
under --storage.path. The rendered Alertmanager resource has a claim for it
(tests/components/test_state_outlives_pods.py); here the real binary at the deployed version runs the
rendered routes (receivers pointed at a local webhook sink, group waits shortened) and is restarted twice:
on the same storage path, as a pod that comes back on its claim, and on a fresh one, as a pod on an emptyDir.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.served import alertmanager_argv, answer, program, ready
from tooling.local_cluster import free_port
from tooling.localstack import Profile, WebhookSink, rewrite_alertmanager

# Only the waits are shortened; repeat_interval stays the rendered one (hours), so a second notification
# of the same firing group can only come from a forgotten notification log.
TIMING = Profile("restart", scrape_interval="1s", evaluation_interval="1s", group_wait="1s", group_interval="1s")
ALERT = {"labels": {"alertname": "VolumeAlmostFull", "service": "parsing", "severity": "warning"}}
# Ample for a group wait of 1s: the fresh-path run below shows a notification arrives well within it.
QUIET_SECONDS = 6.0



def _request(url: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    response = httpx.request(method, url, content=data, headers={"Content-Type": "application/json"}, timeout=5)
    response.raise_for_status()
    text = response.content
    # POST /api/v2/alerts answers 200 with an empty body.
    return json.loads(text) if text else None


@contextmanager
def _alertmanager(config: Path, storage: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Stopped with SIGTERM, as the kubelet stops a pod: Alertmanager writes its snapshots on the way out.
    with program(alertmanager_argv(config, storage, port)) as process:
        answer(process, lambda: ready(url), "alertmanager ready")
        yield url


def _silence(url: str) -> str:
    now = time.time()
    body = {
        "matchers": [{"name": "alertname", "value": "Maintenance", "isRegex": False}],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400)),
        "createdBy": "test",
        "comment": "planned maintenance",
    }
    silence_id: str = _request(f"{url}/api/v2/silences", "POST", body)["silenceID"]
    return silence_id


def _active_silences(url: str) -> set[str]:
    return {s["id"] for s in _request(f"{url}/api/v2/silences") if s["status"]["state"] == "active"}


def _deliveries_since(sink: WebhookSink, since: float) -> int:
    return sum(1 for d in sink.deliveries if ALERT["labels"]["alertname"] in d.alertnames and d.received_at >= since)


def test_silences_and_the_notification_log_survive_only_a_kept_storage_path(render_stack, tmp_path: Path) -> None:
    rendered = yaml.safe_load(render_stack("prod").files["alertmanager.yaml"])
    sink_port = free_port()
    sink = WebhookSink(sink_port)
    sink.start()
    config = tmp_path / "alertmanager.yaml"
    config.write_text(yaml.safe_dump(rewrite_alertmanager(rendered, f"http://127.0.0.1:{sink_port}", TIMING)))
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    try:
        with _alertmanager(config, kept) as url:
            _request(f"{url}/api/v2/alerts", "POST", [ALERT])
            sink.wait_for(ALERT["labels"]["alertname"], 20)
            silence = _silence(url)
            # The notification log is written after the receiver answered (the notify pipeline logs once the
            # send stage is done): a few group intervals pass, with no second notification, before the stop.
            time.sleep(3)
            assert _deliveries_since(sink, 0) == 1

        # The same path: the pod is back on its claim. Prometheus re-sends the firing alert (it does so
        # at every evaluation); the notification log says the group was notified, so nobody is told again.
        with _alertmanager(config, kept) as url:
            since = time.time()
            _request(f"{url}/api/v2/alerts", "POST", [ALERT])
            time.sleep(QUIET_SECONDS)
            assert _deliveries_since(sink, since) == 0, "notified again after a restart on the kept storage path"
            assert silence in _active_silences(url)

        # A fresh path: the pod on an emptyDir. The silence is gone and the same firing alert is notified again.
        with _alertmanager(config, fresh) as url:
            since = time.time()
            _request(f"{url}/api/v2/alerts", "POST", [ALERT])
            sink.wait_for(ALERT["labels"]["alertname"], QUIET_SECONDS, since=since)
            assert _active_silences(url) == set()
    finally:
        sink.stop()
