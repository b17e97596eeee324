"""A Seamless coordinator on loopback that speaks the contract of scripts/lease_recover.py and the health check.

A real HTTP server (``http.server``) in a thread, not a mocked function: the
scripts under test open real connections to it. It holds leases (key ->
token), applies fail/complete as the contract says, answers ``GET /health``,
and records every request it received.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, Ctrl-C) breaks the pipe of the answer: expected here, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Received:
    method: str
    path: str
    body: Any
    authorization: str | None


@dataclass
class Coordinator:
    """``with Coordinator({"lease-A": "deadbeef"}) as c: c.url`` -> http://127.0.0.1:PORT/v1."""

    leases: dict[str, str]
    prefix: str = "/v1"
    healthy: bool = True
    health_delay: float = 0.0  # seconds before /health answers
    failing_keys: set[str] = field(default_factory=set)  # answer 500 for these leases
    slow_keys: dict[str, float] = field(default_factory=dict)  # sleep this long before answering
    dropped_keys: set[str] = field(default_factory=set)  # apply the release, then close the connection without an answer
    released: dict[str, str] = field(default_factory=dict)  # key -> action applied
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.received.append(Received("GET", self.path, None, self.headers.get("Authorization")))
                if self.path == f"{server.prefix}/health":
                    time.sleep(server.health_delay)
                    self._reply(200 if server.healthy else 503, {"status": "ok" if server.healthy else "degraded"})
                else:
                    self._reply(404, {"error": "no such endpoint"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                server.received.append(Received("POST", self.path, body, self.headers.get("Authorization")))
                parts = self.path.removeprefix(server.prefix).split("/")
                if len(parts) != 4 or parts[1] != "leases" or parts[3] not in ("fail", "complete") or not isinstance(body, dict):
                    self._reply(400, {"error": "malformed request"})
                    return
                key, action = urllib.parse.unquote(parts[2]), parts[3]
                time.sleep(server.slow_keys.get(key, 0.0))
                if key in server.dropped_keys:
                    server.leases.pop(key, None)
                    server.released[key] = action
                    self.close_connection = True
                    return
                if key in server.failing_keys:
                    self._reply(500, {"error": "lease store unavailable"})
                elif key not in server.leases:
                    self._reply(404, {"error": f"unknown lease {key}"})
                elif body.get("token") != server.leases[key]:
                    self._reply(409, {"error": "token does not match the current holder"})
                else:
                    del server.leases[key]
                    server.released[key] = action
                    self._reply(200, {"key": key, "state": action})

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{self.prefix}"

    def __enter__(self) -> Coordinator:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
