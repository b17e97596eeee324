"""A real program started for one test on loopback, waited for over HTTP, and stopped as the kubelet stops it.

Shared by the tests that run Prometheus, Alertmanager or the Pushgateway with rendered flags.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

from tests.support.tools import tool

T = TypeVar("T")


@contextmanager
def program(argv: Sequence[str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (stderr kept for the failure message); SIGTERM on the way out, as a pod is stopped, so the
    program writes what it keeps on shutdown (Alertmanager's snapshots, the Pushgateway's persistence file)."""
    process = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


def answer(process: subprocess.Popen[bytes], probe: Callable[[], T | None], what: str, seconds: float = 30, interval: float = 0.2) -> T:
    """The first non-empty result of ``probe()`` within ``seconds``; an HTTP error counts as not yet.

    AssertionError naming ``what`` (and the program's stderr when it exited) when none came."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = probe()
            if result:
                return result
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"{what}: the program exited {process.returncode}: {stderr[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: nothing within {seconds:g} s")
        time.sleep(interval)


def ready(url: str) -> bool:
    """``GET <url>/-/ready`` answers 200 (Prometheus, Alertmanager, Pushgateway)."""
    return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200


def prometheus_argv(directory: Path, port: int) -> list[str]:
    """The real Prometheus (``make tools``) reading ``<directory>/prometheus.yml``, storing under
    ``<directory>/data`` and answering on loopback ``port``."""
    return [tool("prometheus"), f"--config.file={directory / 'prometheus.yml'}", f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"]


def alertmanager_argv(config: Path, storage: Path, port: int) -> list[str]:
    """The real Alertmanager (``make tools``) alone (no cluster peers), with ``config``, its silences and
    notification log under ``storage``, answering on loopback ``port``."""
    return [tool("alertmanager"), f"--config.file={config}", f"--storage.path={storage}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address="]
