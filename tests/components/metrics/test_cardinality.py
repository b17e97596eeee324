"""No series per pod where the stack's exporters make them (issue 22, kind 5).

node-exporter runs on the host network and, as upstream ships it, reports every pod's veth interface and every
pod volume (prometheus/node_exporter#1446). The real node_exporter 1.9.1 (``make tools``) runs here with the
rendered DaemonSet's filter flags against a sysfs/procfs tree holding pod interfaces and mounts; the
cAdvisor and kubelet scrapes' drops are held against every rule, panel and catalog family.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from components.metrics import cardinality
from components.rules.catalog import load_catalog
from components.wiring import endpoints
from tests.components.metrics.test_scrape_semantics import expressions, read_labels
from tests.support.scrape_harness import free_port
from tests.support.tools import tool
from tooling.localstack import HOST, Component, http_get, wait_until
from tooling.render import Render

# Interfaces of a node: its own, and the host ends of pods' (veth: bridge CNIs; cali: Calico), and Cilium's
# per-node health interface, which is not a pod's.
NODE_INTERFACES = ("lo", "eth0", "lxc_health")
POD_INTERFACES = ("veth1a2b3c4d", "cali0123abcd", "lxc00aa11bb")
NODE_MOUNTS = ("/", "/data")
POD_MOUNTS = (
    "/var/lib/kubelet/pods/0b1c/volumes/kubernetes.io~projected/kube-api-access-x",
    "/run/k3s/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm",
    "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/def/shm",
    "/run/netns/cni-1234",
)
# The rendered flags that point node-exporter at the host: replaced by the fixture tree.
PATH_FLAGS = ("--path.procfs", "--path.sysfs", "--path.rootfs", "--web.listen-address")
FILTER_FLAGS = ("--collector.netclass.ignored-devices", "--collector.netdev.device-exclude", "--collector.filesystem.mount-points-exclude")


def host_tree(root: Path) -> dict[str, Path]:
    """A node's /sys/class/net, /proc/net/dev and /proc/1/mountinfo with the interfaces and mounts above."""
    sysfs, procfs, rootfs = root / "sys", root / "proc", root / "root"
    for index, device in enumerate(NODE_INTERFACES + POD_INTERFACES, start=1):
        attrs = sysfs / "class" / "net" / device
        attrs.mkdir(parents=True)
        for name, value in (("operstate", "up"), ("mtu", "1500"), ("address", "00:11:22:33:44:55"), ("carrier", "1"),
                            ("ifindex", str(index)), ("type", "1"), ("flags", "0x1003")):
            (attrs / name).write_text(value + "\n")
    (procfs / "net").mkdir(parents=True)
    rows = [f"{device}: {i * 1000} {i} 0 0 0 0 0 0 {i * 1000} {i} 0 0 0 0 0 0" for i, device in enumerate(NODE_INTERFACES + POD_INTERFACES, start=1)]
    header = ("Inter-|   Receive |  Transmit\n"
              " face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n")
    (procfs / "net" / "dev").write_text(header + "\n".join(rows) + "\n")
    (procfs / "1").mkdir()
    mounts = [f"{20 + i} 1 0:{40 + i} / {point} rw,relatime - {'ext4' if point in NODE_MOUNTS else 'tmpfs'} dev{i} rw"
              for i, point in enumerate(NODE_MOUNTS + POD_MOUNTS)]
    (procfs / "1" / "mountinfo").write_text("\n".join(mounts) + "\n")
    rootfs.mkdir()
    return {"--path.procfs": procfs, "--path.sysfs": sysfs, "--path.rootfs": rootfs}


def rendered_args(render: Render) -> list[str]:
    (daemonset,) = [m for m in render.manifests() if m["kind"] == "DaemonSet" and m["metadata"]["name"] == endpoints.NODE_EXPORTER_NAME]
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    return list(container["args"])


def exported(args: list[str], tree: dict[str, Path], workdir: Path) -> dict[str, set[str]]:
    """Run node_exporter with ``args`` on the fixture tree: metric name -> the device or mountpoint values it reports."""
    port = free_port()
    argv = [a for a in args if not a.startswith(PATH_FLAGS)]
    argv += [f"{flag}={path}" for flag, path in tree.items()] + [f"--web.listen-address={HOST}:{port}"]
    # Only the collectors under test, and netdev from /proc/net/dev rather than the test host's netlink (the
    # device filter applies to both sources).
    argv += ["--collector.disable-defaults", "--collector.netclass", "--collector.netdev", "--collector.filesystem", "--no-collector.netdev.netlink"]
    component = Component("node_exporter", [tool("node_exporter"), *argv], port, workdir / f"node_exporter-{port}.log")
    component.start()
    try:
        body: list[str] = []

        def scraped() -> bool:
            body[:] = [http_get(f"http://{HOST}:{port}/metrics").decode()]
            return "node_network_up" in body[0]

        wait_until(scraped, 20, "node_exporter serving")
    finally:
        component.stop()
    found: dict[str, set[str]] = {}
    for name, value in re.findall(r'^(node_network_up|node_network_receive_bytes_total)\{[^}]*?device="([^"]*)"', body[0], re.M):
        found.setdefault(name, set()).add(value)
    for value in re.findall(r'^node_filesystem_device_error\{[^}]*mountpoint="([^"]*)"', body[0], re.M):
        found.setdefault("mountpoint", set()).add(value)
    return found


@pytest.fixture(scope="module")
def prod(render_stack: Callable[..., Render]) -> Render:
    return render_stack("prod")


def test_node_exporter_reports_no_pod_interface_or_mount_with_the_rendered_flags(prod: Render, tmp_path: Path) -> None:
    tree = host_tree(tmp_path / "host")
    args = rendered_args(prod)
    assert all(any(a.startswith(flag + "=") for a in args) for flag in FILTER_FLAGS), args
    filtered = exported(args, tree, tmp_path)
    upstream = exported([a for a in args if not a.startswith(FILTER_FLAGS)], tree, tmp_path)
    # As upstream ships it: one set of series per pod interface and per pod mount.
    assert set(POD_INTERFACES) <= upstream["node_network_up"] and set(POD_INTERFACES) <= upstream["node_network_receive_bytes_total"]
    assert {"/run/k3s/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm", "/run/netns/cni-1234"} <= upstream["mountpoint"]
    # As rendered: the node's own only.
    assert filtered["node_network_up"] == set(NODE_INTERFACES)
    assert filtered["node_network_receive_bytes_total"] == set(NODE_INTERFACES)
    assert filtered["mountpoint"] == set(NODE_MOUNTS)


@pytest.mark.parametrize("regex", [cardinality.CADVISOR_DROPPED, cardinality.KUBELET_DROPPED_BUCKETS], ids=["cadvisor", "kubelet"])
def test_no_dropped_family_is_read_by_a_rule_a_panel_or_the_catalog(rendered: Render, regex: str) -> None:
    """A drop at the scrape must not blind a consumer: every series a rule or panel reads, and every catalog family
    (with its exposition suffixes), keeps clear of the dropped names."""
    dropped = re.compile(regex)
    read = set()
    for _, expr in expressions(rendered):
        try:
            read |= read_labels(expr)[0]
        except ValueError:
            continue
    catalogued = set(load_catalog().series_names())
    assert sorted(name for name in read | catalogued if dropped.fullmatch(name)) == []


def test_pod_interface_pattern_spares_the_nodes_own() -> None:
    pattern = re.compile(cardinality.POD_INTERFACES)
    assert all(pattern.fullmatch(device) for device in (*POD_INTERFACES, "vethwe-bridge", "eni0a1b2c3d4e5", "gke1234abcd"))
    assert not any(pattern.fullmatch(device) for device in (*NODE_INTERFACES, "ens5", "cilium_host", "flannel.1", "cni0", "docker0", "tunl0"))
