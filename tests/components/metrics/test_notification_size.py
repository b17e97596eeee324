"""Notifications stay within their sinks' limits for any size of alert group, on the real Alertmanager 0.28.1.

The rendered prod configuration runs unchanged but for where it delivers: Slack's webhook URL and
PagerDuty's events URL point at a local HTTP server, the e-mail smarthost at a local SMTP server.
Alert groups of 1, 5 and 300 alerts are posted to Alertmanager's API; what it sends is read back
(prometheus/alertmanager#2769: a 300-alert group made ~43,000 characters of Slack text).
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from components.metrics import notifications
from components.metrics.alertmanager_config import SECRETS_DIR
from tests.support.tools import tool
from tooling.localstack import Component, wait_until

HOST = "127.0.0.1"
# The figure the issue asks for; SLACK_TEXT_ADVISED_CHARS (4,000) is tighter and checked too.
SLACK_MESSAGE_CEILING = 8_000
RUNBOOK = "https://github.com/observability-stack/observability/blob/main/docs/runbooks/{}.md"
DASHBOARD = "https://grafana.example.org/d/platform-stack-health?var-service=parsing"



def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

def _port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """Every request body the stand-in receivers got, by path, and every e-mail."""

    posts: list[tuple[str, bytes]] = field(default_factory=list)
    mails: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def json_posts(self, prefix: str) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for path, body in self.posts if path.startswith(prefix)]


def _http_server(inbox: Inbox) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with inbox.lock:
                inbox.posts.append((self.path, body))
            self.send_response(202 if self.path.startswith("/pagerduty") else 200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return ThreadingHTTPServer((HOST, _port()), Handler)


def _smtp_server(inbox: Inbox) -> socketserver.ThreadingTCPServer:
    """Just enough SMTP (RFC 5321) for Alertmanager's client without TLS or auth: it records each message."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 localhost ESMTP\r\n")
            while line := self.rfile.readline():
                verb = line.decode(errors="replace").strip().split(" ")[0].upper()
                if verb == "EHLO":
                    self.wfile.write(b"250-localhost\r\n250 8BITMIME\r\n")
                elif verb == "DATA":
                    self.wfile.write(b"354 go ahead\r\n")
                    message = b""
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        message += chunk
                    with inbox.lock:
                        inbox.mails.append(message)
                    self.wfile.write(b"250 queued\r\n")
                elif verb == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    return socketserver.ThreadingTCPServer((HOST, _port()), Handler)


def local_config(rendered: str, directory: Path, http_port: int, smtp_port: int) -> dict[str, Any]:
    """The rendered configuration with every receiver delivering locally; templates and routes untouched."""
    config: dict[str, Any] = yaml.safe_load(rendered)
    config["route"]["group_wait"] = "1s"
    secrets = directory / "secrets"
    secrets.mkdir()
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            url_file = secrets / f"slack-{receiver['name']}"
            url_file.write_text(f"http://{HOST}:{http_port}/slack/{receiver['name']}")
            assert slack.pop("api_url_file").startswith(SECRETS_DIR)
            slack["api_url_file"] = str(url_file)
        for pager in receiver.get("pagerduty_configs", []):
            key_file = secrets / "routing-key"
            key_file.write_text("local-routing-key")
            assert pager.pop("routing_key_file").startswith(SECRETS_DIR)
            pager["routing_key_file"] = str(key_file)
            pager["url"] = f"http://{HOST}:{http_port}/pagerduty/{receiver['name']}"
        for mail in receiver.get("email_configs", []):
            mail["smarthost"] = f"{HOST}:{smtp_port}"
            mail["require_tls"] = False
            mail.pop("auth_username", None)
            mail.pop("auth_password_file", None)
    return config


@dataclass(frozen=True)
class Running:
    url: str
    inbox: Inbox


@pytest.fixture(scope="module")
def alertmanager(render_stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    binary = tool("alertmanager")  # fails naming `make tools` when missing
    directory = tmp_path_factory.mktemp("alertmanager")
    inbox = Inbox()
    http, smtp = _http_server(inbox), _smtp_server(inbox)
    for server in (http, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    config = local_config(render_stack("prod").files["alertmanager.yaml"], directory, http.server_address[1], smtp.server_address[1])
    (directory / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = _port()
    component = Component("alertmanager", [
        binary, f"--config.file={directory / 'alertmanager.yml'}", f"--storage.path={directory / 'data'}",
        f"--web.listen-address={HOST}:{port}", "--cluster.listen-address=",
    ], port, directory / "alertmanager.log")
    component.start()
    url = f"http://{HOST}:{port}"
    try:
        wait_until(lambda: _ready(url), 30, "Alertmanager ready")
        yield Running(url, inbox)
    finally:
        component.stop()
        http.shutdown()
        smtp.shutdown()
        print(component.tail(30))


def _post_group(url: str, alertname: str, severity: str, count: int, *, summary: str | None = None, description: str | None = None,
                runbook: str | None = None, dashboard: str = DASHBOARD) -> None:
    alerts = [
        {
            "labels": {"alertname": alertname, "service": "parsing", "severity": severity, "environment": "prod", "pod": f"parsing-{i:03d}"},
            "annotations": {
                "summary": summary or f"parsing-{i:03d} restarted 4 times in 15 minutes",
                "description": description or (f"Pod observability/parsing-{i:03d} (container worker) was OOM-killed and restarted; "
                                                "memory use reached 98% of its 2Gi limit over the last 10 minutes."),
                "runbook_url": runbook or RUNBOOK.format(alertname),
                "dashboard_url": dashboard,
            },
        }
        for i in range(count)
    ]
    posted = httpx.post(f"{url}/api/v2/alerts", content=json.dumps(alerts).encode(), headers={"Content-Type": "application/json"}, timeout=10)
    assert posted.status_code == 200


def _slack_attachment(running: Running, alertname: str) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        return [a for post in running.inbox.json_posts("/slack/") for a in post["attachments"] if f"] {alertname} (" in a["title"]]

    wait_until(lambda: bool(found()), 30, f"a Slack message for {alertname}")
    (attachment,) = found()
    return attachment


def _slack_chars(attachment: dict[str, Any]) -> int:
    """The characters a Slack message shows: its title, text, fallback and pretext."""
    return sum(len(attachment.get(key) or "") for key in ("title", "text", "fallback", "pretext"))


LONG_RUNBOOK = RUNBOOK.format("LongLinksDown") + "?" + "r" * 20_000
LONG_DASHBOARD = DASHBOARD + "&var-pod=" + "p" * 20_000
GROUPS = {  # alertname: (severity, alerts)
    "ManyPodsRestarting": ("warning", 300),
    "FivePodsRestarting": ("warning", 5),
    "OnePodRestarting": ("warning", 1),
    "ManyPodsFailing": ("error", 300),
    "ManyPodsDown": ("critical", 300),
}


@pytest.fixture(scope="module")
def delivered(alertmanager: Running) -> Running:
    for alertname, (severity, count) in GROUPS.items():
        _post_group(alertmanager.url, alertname, severity, count)
    # Worst case of every annotation: a summary and a description far longer than any rule writes.
    _post_group(alertmanager.url, "LongAnnotations", "warning", 300, summary="S" * 1500, description="D " * 3000)
    # Links far longer than any rule writes, on a paging group (details and links repeat them).
    _post_group(alertmanager.url, "LongLinksDown", "critical", 300, runbook=LONG_RUNBOOK, dashboard=LONG_DASHBOARD)
    return alertmanager


def test_a_300_alert_slack_message_stays_small_and_keeps_what_matters(delivered: Running) -> None:
    attachment = _slack_attachment(delivered, "ManyPodsRestarting")
    text = attachment["text"]
    assert _slack_chars(attachment) < SLACK_MESSAGE_CEILING, _slack_chars(attachment)
    assert len(text) <= notifications.SLACK_TEXT_ADVISED_CHARS, len(text)
    assert attachment["title"] == "[FIRING:300] ManyPodsRestarting (warning, prod)"
    assert len(attachment["title"]) <= notifications.SLACK_TITLE_RUNES
    assert f"Runbook: {RUNBOOK.format('ManyPodsRestarting')}" in text and f"Dashboard: {DASHBOARD}" in text
    listed = re.findall(r"\*(parsing-\d{3}) restarted", text)
    assert len(listed) == notifications.LISTED_ALERTS
    assert f"…and {300 - notifications.LISTED_ALERTS} more (300 in all)" in text


def test_annotations_of_any_length_are_cut_not_the_links(delivered: Running) -> None:
    attachment = _slack_attachment(delivered, "LongAnnotations")
    text = attachment["text"]
    assert len(text) <= notifications.SLACK_TEXT_ADVISED_CHARS, len(text)
    assert f"*{'S' * notifications.SUMMARY_CHARS}…*" in text
    assert "S" * (notifications.SUMMARY_CHARS + 1) not in text
    assert f"Runbook: {RUNBOOK.format('LongAnnotations')}" in text and f"Dashboard: {DASHBOARD}" in text


def test_small_groups_read_in_full(delivered: Running) -> None:
    one = _slack_attachment(delivered, "OnePodRestarting")["text"]
    assert one == (
        f"Runbook: {RUNBOOK.format('OnePodRestarting')}\nDashboard: {DASHBOARD}\n"
        "*parsing-000 restarted 4 times in 15 minutes*\n"
        "Pod observability/parsing-000 (container worker) was OOM-killed and restarted; memory use reached 98% of its 2Gi limit over the last 10 minutes.\n"
    )
    five = _slack_attachment(delivered, "FivePodsRestarting")["text"]
    assert re.findall(r"\*(parsing-\d{3}) restarted", five) == [f"parsing-{i:03d}" for i in range(5)]
    assert "more" not in five


def test_a_300_alert_page_stays_within_pagerduty_limits(delivered: Running) -> None:
    def pages() -> list[tuple[dict[str, Any], int]]:
        with delivered.inbox.lock:
            posts = [(json.loads(body), len(body)) for path, body in delivered.inbox.posts if path.startswith("/pagerduty/")]
        return [(event, size) for event, size in posts if event["payload"]["summary"].startswith("ManyPodsDown ")]

    wait_until(lambda: bool(pages()), 30, "a PagerDuty event for ManyPodsDown")
    (event, size), = pages()
    payload = event["payload"]
    assert size < notifications.PAGERDUTY_EVENT_BYTES // 50, size  # kilobytes, far from where Alertmanager drops the details
    assert len(payload["summary"]) <= notifications.PAGERDUTY_SUMMARY_CHARS
    assert payload["summary"] == "ManyPodsDown (prod, 300 firing): parsing-000 restarted 4 times in 15 minutes"
    details = payload["custom_details"]
    assert details["num_firing"] == "300" and details["runbook"] == RUNBOOK.format("ManyPodsDown") and details["dashboard"] == DASHBOARD
    assert details["firing"].count("\n- ") + details["firing"].startswith("- ") == notifications.LISTED_ALERTS
    assert f"…and {300 - notifications.LISTED_ALERTS} more (300 in all)" in details["firing"]
    assert {(link["text"], link["href"]) for link in event["links"]} == {("Runbook", RUNBOOK.format("ManyPodsDown")), ("Dashboard", DASHBOARD)}


def test_links_of_any_length_are_cut_in_a_page(delivered: Running) -> None:
    """A 20,000-character runbook and dashboard URL: without a bound the event carried four copies (~80 KB)."""
    def pages() -> list[tuple[dict[str, Any], int]]:
        with delivered.inbox.lock:
            posts = [(json.loads(body), len(body)) for path, body in delivered.inbox.posts if path.startswith("/pagerduty/")]
        return [(event, size) for event, size in posts if event["payload"]["summary"].startswith("LongLinksDown ")]

    wait_until(lambda: bool(pages()), 30, "a PagerDuty event for LongLinksDown")
    (event, size), = pages()
    assert size < notifications.PAGERDUTY_EVENT_BYTES // 50, size
    details = event["payload"]["custom_details"]
    links = {link["text"]: link["href"] for link in event["links"]}
    for url, shown in ((LONG_RUNBOOK, details["runbook"]), (LONG_RUNBOOK, links["Runbook"]),
                       (LONG_DASHBOARD, details["dashboard"]), (LONG_DASHBOARD, links["Dashboard"])):
        assert shown == url[:notifications.URL_CHARS] + "…"


def test_a_300_alert_e_mail_stays_small_and_keeps_the_links(delivered: Running) -> None:
    def mails() -> list[email.message.EmailMessage]:
        with delivered.inbox.lock:
            parsed = [email.message_from_bytes(m, policy=email.policy.default) for m in delivered.inbox.mails]
        return [m for m in parsed if isinstance(m, email.message.EmailMessage) and "ManyPodsFailing" in str(m["Subject"])]

    wait_until(lambda: bool(mails()), 30, "an e-mail for ManyPodsFailing")
    time.sleep(0.5)
    (mail,) = mails()
    html = mail.get_body(("html",))
    plain = mail.get_body(("plain",))
    assert html is not None and plain is not None
    html_text, plain_text = html.get_content(), plain.get_content()
    assert len(html_text) + len(plain_text) < SLACK_MESSAGE_CEILING
    for body in (html_text, plain_text):
        assert RUNBOOK.format("ManyPodsFailing") in body and DASHBOARD.split("?")[0] in body
        assert f"…and {300 - notifications.LISTED_ALERTS} more (300 in all)" in body
    assert len(re.findall(r"parsing-\d{3} restarted", plain_text)) == notifications.LISTED_ALERTS


def _amtool_render(directory: Path, template: str, data: dict[str, Any], kind: str = "text") -> str:
    """``template`` rendered by the real amtool 0.28.1 with ``data`` (template.Data: receiver, status, alerts, ...)."""
    (directory / "none.tmpl").write_text("")
    (directory / "data.json").write_text(json.dumps(data))
    done = subprocess.run([tool("amtool"), "template", "render", f"--template.glob={directory / 'none.tmpl'}", f"--template.text={template}",
                           f"--template.data={directory / 'data.json'}", f"--template.type={kind}"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_resolved_group_lists_its_resolved_alerts_bounded(tmp_path: Path) -> None:
    """When a group resolves, nothing fires: the notification lists (and counts) the resolved alerts instead."""
    alerts = [{"status": "resolved", "labels": {"alertname": "ManyPodsRestarting", "pod": f"parsing-{i:03d}"},
               "annotations": {"summary": f"parsing-{i:03d} restarted", "description": "back to normal", "runbook_url": RUNBOOK.format("ManyPodsRestarting"),
                               "dashboard_url": DASHBOARD}, "startsAt": "2026-12-07T10:00:00Z", "endsAt": "2026-12-07T11:00:00Z"} for i in range(300)]
    data = {"receiver": "slack", "status": "resolved", "alerts": alerts, "groupLabels": {"alertname": "ManyPodsRestarting"},
            "commonLabels": {"alertname": "ManyPodsRestarting", "severity": "warning", "environment": "prod"}, "commonAnnotations": {}, "externalURL": "http://am"}
    text = _amtool_render(tmp_path, notifications.SLACK_TEXT, data)
    assert re.findall(r"\*(parsing-\d{3}) restarted\*", text) == [f"parsing-{i:03d}" for i in range(notifications.LISTED_ALERTS)]
    assert f"…and {300 - notifications.LISTED_ALERTS} more (300 in all)" in text and RUNBOOK.format("ManyPodsRestarting") in text
    assert _amtool_render(tmp_path, notifications.SLACK_TITLE, data) == "[RESOLVED] ManyPodsRestarting (warning, prod)"
    assert _amtool_render(tmp_path, notifications.PAGERDUTY_DETAILS["firing"], data) == ""
    assert _amtool_render(tmp_path, notifications.PAGERDUTY_DETAILS["resolved"], data).count("- parsing-") == notifications.LISTED_ALERTS


# Alertmanager's own templates for the fields the stack leaves unset repeat every alert of a group
# (template/default.tmpl: email.default.html, pagerduty.default.instances in the default details).
UNBOUNDED_DEFAULTS = {
    "slack_configs": ("text",),
    "pagerduty_configs": ("description",),
    "email_configs": ("html", "text"),
}


def test_no_receiver_of_any_stack_falls_back_to_a_default_that_lists_every_alert(rendered) -> None:
    config = yaml.safe_load(rendered.files["alertmanager.yaml"])
    seen = set()
    for receiver in config["receivers"]:
        for kind, fields in UNBOUNDED_DEFAULTS.items():
            for integration in receiver.get(kind, []):
                seen.add(kind)
                assert all(integration.get(key) for key in fields), f"{receiver['name']}: {kind} leaves {fields} to Alertmanager"
                if kind == "pagerduty_configs":
                    assert {"firing", "resolved"} <= set(integration["details"]), f"{receiver['name']}: Alertmanager's firing/resolved details"
                # Every listing in the stack's templates is bounded: no range without the index guard.
                for text in [integration.get(key) or "" for key in fields] + list((integration.get("details") or {}).values()):
                    assert "{{ range ." not in text and text.count("{{ range") == text.count(f"{{{{ if lt $index {notifications.LISTED_ALERTS} }}}}")
    # Dev notifies nobody unless a team sets a Slack channel (components/settings/defaults.yaml).
    assert seen or (rendered.settings.alerting.slack is None and rendered.settings.environment == "dev"), "the stack notifies nobody here"


def test_cut_refuses_what_re2_cannot_repeat() -> None:
    assert notifications.cut(".x", 999)
    with pytest.raises(ValueError, match="1000"):
        notifications.cut(".x", 1000)


def _mixed_group(first_status: str) -> dict[str, Any]:
    """A group whose first alert is ``first_status`` (runbook ``first``), the second firing (runbook ``second``)."""
    alerts = [
        {"status": status, "labels": {"alertname": "PodsRestarting", "pod": pod},
         "annotations": {"summary": f"{pod} {status}", "description": "", "runbook_url": f"https://runbooks.example/{pod}",
                         "dashboard_url": f"https://grafana.example/d/{pod}"},
         "startsAt": "2026-12-07T10:00:00Z", "endsAt": "2026-12-07T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z"}
        for pod, status in (("first", first_status), ("second", "firing"))
    ]
    return {"receiver": "pagerduty", "status": "firing", "alerts": alerts, "groupLabels": {"alertname": "PodsRestarting"},
            "commonLabels": {"alertname": "PodsRestarting", "severity": "critical", "environment": "prod"}, "commonAnnotations": {},
            "externalURL": "http://am"}


def test_a_page_shows_the_first_firing_alert_not_a_resolved_one_before_it(tmp_path: Path) -> None:
    """send_resolved groups mix firing and resolved alerts; .Alerts may list a resolved one first."""
    data = _mixed_group("resolved")
    assert _amtool_render(tmp_path, notifications.PAGERDUTY_DESCRIPTION, data) == "PodsRestarting (prod, 1 firing): second firing"
    assert _amtool_render(tmp_path, notifications.PAGERDUTY_DETAILS["runbook"], data) == "https://runbooks.example/second"
    assert _amtool_render(tmp_path, notifications.PAGERDUTY_DETAILS["dashboard"], data) == "https://grafana.example/d/second"
    hrefs = [_amtool_render(tmp_path, link["href"], data) for link in notifications.PAGERDUTY_LINKS]
    assert hrefs == ["https://runbooks.example/second", "https://grafana.example/d/second"]
    assert _amtool_render(tmp_path, notifications.SLACK_TEXT, data).startswith("Runbook: https://runbooks.example/second\n")


def test_with_every_alert_firing_the_page_shows_the_first(tmp_path: Path) -> None:
    data = _mixed_group("firing")
    assert _amtool_render(tmp_path, notifications.PAGERDUTY_DESCRIPTION, data) == "PodsRestarting (prod, 2 firing): first firing"
    assert _amtool_render(tmp_path, notifications.PAGERDUTY_DETAILS["runbook"], data) == "https://runbooks.example/first"


def test_a_resolved_group_shows_its_first_alert(tmp_path: Path) -> None:
    data = _mixed_group("resolved")
    data["alerts"] = data["alerts"][:1]
    data["status"] = "resolved"
    assert _amtool_render(tmp_path, notifications.PAGERDUTY_DETAILS["runbook"], data) == "https://runbooks.example/first"
