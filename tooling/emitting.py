"""What the commands that emit synthetic metrics share: serving /metrics for --serve, and their exit codes.

Used by scripts/load_generator.py and scripts/inject_sla_violation.py; the
injector runs under `uv run` with prometheus-client only, so this module
imports nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from prometheus_client import CollectorRegistry, start_http_server


def run_emitting(prog: str, body: Callable[[], object], registry: CollectorRegistry, *, port: int, serve: float | None) -> int:
    """Run ``body`` while ``registry`` is served on 127.0.0.1 (only when ``serve`` seconds are asked for); the exit code.

    0 when ``body`` returns, 1 with ``prog: error`` on stderr when pushing, writing or
    serving failed (an OSError), 130 on Ctrl-C. A port that cannot be bound is not
    caught: the command fails before it emits anything.
    """
    server = None
    if serve:
        server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        print(f"serving http://127.0.0.1:{server.server_port}/metrics for {serve:g}s", file=sys.stderr)
    try:
        body()
    except OSError as error:  # URLError and connection errors from a push, file errors from a write
        print(f"{prog}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if server is not None:
            server.shutdown()
    return 0
