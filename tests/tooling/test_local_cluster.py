"""The deploy test's control plane (tooling/local_cluster.py), run for real: loopback only, an identity of its
own, pods admitted and made Ready by kwok's simulated kubelet, claims bound, and no process left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from components import paths
from tooling.local_cluster import LOOPBACK, STORAGE_CLASS, LocalCluster, wait_for

pytestmark = pytest.mark.xdist_group("local-cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster.start(tmp_path_factory.mktemp("cluster"), context="unit") as running:
        yield running


def _wait(check: Any, seconds: float = 90) -> Any:
    found = wait_for(check, seconds)
    assert found, f"not seen within {seconds} s"
    return found


def test_every_listener_is_on_loopback(cluster: LocalCluster) -> None:
    pids = {p.pid for p in cluster.processes.values()}
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert listening and {c.laddr[0] for c in listening if c.laddr} == {LOOPBACK}


def test_the_cluster_has_an_identity_of_its_own(cluster: LocalCluster, tmp_path: Path) -> None:
    uid = cluster.kube_system_uid()
    assert len(uid) == 36
    with LocalCluster.start(tmp_path / "other", context="other", nodes=False) as other:
        assert other.kube_system_uid() != uid
    with cluster.client() as client:
        assert client.get("/api/v1/namespaces/kube-system").status_code == 200
    with cluster.client() as client:
        client.headers["Authorization"] = "Bearer wrong"
        assert client.get("/api/v1/namespaces").status_code == 401


def test_a_deployment_s_pods_become_ready_and_a_claim_is_bound(cluster: LocalCluster) -> None:
    labels = {"app": "probe"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "example.invalid/none:1"}]}},
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    with cluster.client() as client:
        assert client.post("/apis/apps/v1/namespaces/default/deployments", json=deployment).status_code == 201
        assert client.post("/api/v1/namespaces/default/persistentvolumeclaims", json=claim).status_code == 201
        ready = _wait(lambda: client.get("/apis/apps/v1/namespaces/default/deployments/probe").json().get("status", {}).get("readyReplicas") == 2)
        assert ready
        bound = _wait(lambda: client.get("/api/v1/namespaces/default/persistentvolumeclaims/data").json()["status"].get("phase") == "Bound")
        assert bound
        pvc = client.get("/api/v1/namespaces/default/persistentvolumeclaims/data").json()
        assert pvc["spec"]["storageClassName"] == STORAGE_CLASS
        nodes = {p["spec"].get("nodeName") for p in client.get("/api/v1/namespaces/default/pods").json()["items"]}
        assert nodes and None not in nodes


def test_stop_ends_every_process(tmp_path: Path) -> None:
    started = LocalCluster.start(tmp_path / "short", context="short", nodes=False)
    processes = list(started.processes.values())
    pids = [p.pid for p in processes]
    started.stop()
    assert all(p.poll() is not None for p in processes)
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def test_a_killed_run_leaves_no_control_plane_behind(tmp_path: Path) -> None:
    """SIGKILL of the process that started the cluster (a CI timeout): the kernel ends its programs (PR_SET_PDEATHSIG)."""
    script = (
        "import sys, time; from pathlib import Path; from tooling.local_cluster import LocalCluster\n"
        f"c = LocalCluster.start(Path({str(tmp_path / 'killed')!r}), context='killed', nodes=False)\n"
        "print(' '.join(str(p.pid) for p in c.processes.values()), flush=True); time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=paths.REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 3 and all(psutil.pid_exists(pid) for pid in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def gone() -> bool:
        return not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]

    assert _wait(gone, 30)
