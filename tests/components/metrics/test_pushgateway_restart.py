"""Why the Pushgateway's persistence file must be on a volume that outlives its pod, on the real Pushgateway
1.11.0 run with the rendered arguments (issue 22, kind 1).

A batch job pushes its group once per run; the Pushgateway serves it until the next push. Started again on
the same directory (the pod back on its claim) it serves the group from its persistence file; started on a
fresh directory (a pod on an emptyDir) the group is gone until the job runs again: a query or alert on the
job's last success sees no series at all.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from components.wiring import endpoints
from tests.support.k8s_objects import container
from tests.support.served import answer, program, ready
from tests.support.tools import tool
from tooling.local_cluster import free_port

GROUP = "nightly-backfill"
SAMPLE = "batch_last_success_seconds 1765000000"



def _local_args(rendered_args: list[str], directory: Path, port: int) -> list[str]:
    """The rendered arguments, with the persistence file's directory and the listen address made local."""
    out = []
    for arg in rendered_args:
        if arg.startswith("--persistence.file="):
            arg = f"--persistence.file={directory / posixpath.basename(arg.split('=', 1)[1])}"
        elif arg.startswith("--web.listen-address="):
            arg = f"--web.listen-address=127.0.0.1:{port}"
        out.append(arg)
    return out


@contextmanager
def _pushgateway(rendered_args: list[str], directory: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Stopped with SIGTERM, as the kubelet stops a pod: the Pushgateway writes its persistence file on the way out.
    with program([tool("pushgateway"), *_local_args(rendered_args, directory, port)]) as process:
        answer(process, lambda: ready(url), "pushgateway ready")
        yield url


def _serves_group(url: str) -> bool:
    response = httpx.get(f"{url}/metrics", timeout=5)
    response.raise_for_status()
    text = response.text
    return any(line.startswith("batch_last_success_seconds{") and f'job="{GROUP}"' in line for line in text.splitlines())


def test_a_pushed_group_survives_only_a_kept_persistence_directory(render_stack, tmp_path: Path) -> None:
    args = container(render_stack("prod"), "Deployment", endpoints.PUSHGATEWAY_NAME)["args"]
    assert any(a.startswith("--persistence.file=") for a in args)
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    kept.mkdir()
    fresh.mkdir()
    with _pushgateway(args, kept) as url:
        pushed = httpx.put(f"{url}/metrics/job/{GROUP}", content=f"# TYPE batch_last_success_seconds gauge\n{SAMPLE}\n".encode(), timeout=5)
        pushed.raise_for_status()
        assert _serves_group(url)
    with _pushgateway(args, kept) as url:
        assert _serves_group(url), "the group is gone after a restart on the kept directory"
    with _pushgateway(args, fresh) as url:
        assert not _serves_group(url)
