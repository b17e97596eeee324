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

# Interfaces of a node that must keep their series: NICs by every naming scheme (eth, en*, bond, VLAN on a NIC,
# wireless, InfiniBand), bridges (br0, OVS's br-int/br-ex, Docker's docker0 and br-<12 hex>, cni0, kube-bridge),
# tunnels and overlays (flannel.1, tunl0, vxlan.calico, wireguard.cali, cilium_host/net/vxlan, genev_sys_6081,
# antrea-gw0, ovn-k8s-mp0, vxlan-6784), kube-proxy's kube-ipvs0, NodeLocal DNSCache's nodelocaldns, a VPN's tap0, and
# Cilium's per-node lxc_health: one each per node, never per pod.
NODE_INTERFACES = (
    "lo", "eth0", "ens5", "enp0s31f6", "bond0", "eth0.100", "wlp2s0", "ib0", "br0", "br-int", "br-ex", "docker0",
    "br-0123456789ab", "cni0", "kube-bridge", "flannel.1", "tunl0", "vxlan.calico", "wireguard.cali", "cilium_host",
    "cilium_net", "cilium_vxlan", "lxc_health", "genev_sys_6081", "antrea-gw0", "ovn-k8s-mp0", "vxlan-6784",
    "kube-ipvs0", "nodelocaldns", "tap0",
)
# Host ends of pod interfaces, one per pod: veth (bridge CNIs), Calico, Cilium, AWS VPC CNI (eni, branch ENI's vlan
# veth and VLAN link), Kube-OVN (eth0 and a second interface), OVN-Kubernetes (default and secondary network),
# Antrea (short and long pod names), Kata's tap.
POD_INTERFACES = (
    "veth1a2b3c4d", "cali0123abcd", "lxc00aa11bb", "eni0a1b2c3d4e5", "vlan0a1b2c3d4e5", "vlan.eth.7",
    "1a2b3c4d5e6f_h", "1a2b3c4d_net1_h", "0123456789abcde", "0123456789ab_2", "coredns-5f9d3b", "alertman-0a1b2c",
    "tap0_kata",
)
NODE_MOUNTS = ("/", "/data", "/var/lib/kubelet", "/var/lib/containerd", "/var/snap/microk8s/common")
POD_UID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
POD_MOUNTS = (
    "/var/lib/kubelet/pods/0b1c/volumes/kubernetes.io~projected/kube-api-access-x",
    "/run/k3s/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm",
    "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/def/shm",
    "/run/netns/cni-1234",
    # MicroK8s
    f"/var/snap/microk8s/common/var/lib/kubelet/pods/{POD_UID}/volumes/kubernetes.io~secret/token",
    "/var/snap/microk8s/common/run/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm",
    # k0s
    f"/var/lib/k0s/kubelet/pods/{POD_UID}/volumes/kubernetes.io~empty-dir/cache",
    "/run/k0s/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs",
    # CRI-O
    "/run/containers/storage/overlay-containers/0123abcd/userdata/shm",
    # a kubelet with --root-dir=/data/k8s: pod volumes and CSI staging
    f"/data/k8s/pods/{POD_UID}/volumes/kubernetes.io~csi/pvc-1/mount",
    "/data/k8s/plugins/kubernetes.io/csi/ebs.csi.aws.com/0123abcd/globalmount",
    # Kata Containers' per-sandbox share, Docker's per-container netns
    "/run/kata-containers/shared/sandboxes/abc/shared",
    "/run/docker/netns/0123abcd",
)
# The node-exporter families labelled by network device.
DEVICE_FAMILIES = ("node_network_up", "node_network_receive_bytes_total", "node_arp_entries")
# The rendered flags that point node-exporter at the host: replaced by the fixture tree.
PATH_FLAGS = ("--path.procfs", "--path.sysfs", "--path.rootfs", "--web.listen-address")
FILTER_FLAGS = (
    "--collector.netclass.ignored-devices", "--collector.netdev.device-exclude", "--collector.arp.device-exclude",
    "--collector.filesystem.mount-points-exclude",
)


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
    # One neighbour per interface: the pod's address on its host-side interface, the gateway on the NICs.
    arp = [f"10.0.{i // 250}.{i % 250 + 1}  0x1  0x2  00:11:22:33:44:{i:02x}  *  {device}" for i, device in enumerate(NODE_INTERFACES + POD_INTERFACES)]
    (procfs / "net" / "arp").write_text("IP address       HW type     Flags       HW address            Mask     Device\n" + "\n".join(arp) + "\n")
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
    argv += ["--collector.disable-defaults", "--collector.netclass", "--collector.netdev", "--collector.filesystem", "--collector.arp",
             "--no-collector.netdev.netlink", "--no-collector.arp.netlink"]
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
    for name, value in re.findall(r'^(node_network_up|node_network_receive_bytes_total|node_arp_entries)\{[^}]*?device="([^"]*)"', body[0], re.M):
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
    for family in DEVICE_FAMILIES:
        assert set(POD_INTERFACES) <= upstream[family], family
    assert set(POD_MOUNTS) <= upstream["mountpoint"]
    # As rendered: the node's own only, every one of them.
    for family in DEVICE_FAMILIES:
        assert filtered[family] == set(NODE_INTERFACES), (family, sorted(filtered[family] ^ set(NODE_INTERFACES)))
    assert filtered["mountpoint"] == set(NODE_MOUNTS), sorted(filtered["mountpoint"] ^ set(NODE_MOUNTS))


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


def test_cadvisor_drops_the_same_pod_interfaces_and_only_network_series() -> None:
    """The cAdvisor scrape's drop, as Prometheus applies it (anchored regex on "name;interface"): every pod interface
    of a host-network pod's view goes, the node's own interfaces and a pod's own eth0 stay, other families stay."""
    (drop,) = [r for r in cardinality.cadvisor_metric_relabelings() if r["sourceLabels"] == ["__name__", "interface"]]
    pattern = re.compile(drop["regex"])

    def dropped(name: str, interface: str) -> bool:
        return pattern.fullmatch(f"{name}{drop['separator']}{interface}") is not None

    assert all(dropped("container_network_receive_bytes_total", device) for device in POD_INTERFACES)
    assert not any(dropped("container_network_receive_bytes_total", device) for device in (*NODE_INTERFACES, "net1"))
    assert not any(dropped("container_cpu_usage_seconds_total", device) for device in POD_INTERFACES)
