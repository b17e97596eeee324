"""A Kubernetes cluster on loopback, for the deploy test: kine (etcd API over SQLite), kube-apiserver,
kube-controller-manager, kube-scheduler and kwok, built by ``make tools`` (tooling/go_tools.py) from their
Go modules.

    with LocalCluster.start(workdir) as cluster:
        cluster.kubeconfig        # a kubeconfig file with context ``cluster.context``
        cluster.kube_system_uid() # the cluster's identity

No container ever runs. The controller manager creates the pods of every workload (so the API server's
admission, Pod Security included, judges each one), the scheduler binds them to simulated nodes, and
kwok plays those nodes' kubelet with its upstream stages: a bound pod becomes Running and Ready, so
pulumi-kubernetes' readiness waits pass as on a real cluster. A claim of the default StorageClass is
bound to a PersistentVolume the cluster makes for it (:meth:`LocalCluster.provision`), standing in for a
CSI provisioner, whose absence would leave it Pending. Certificates, the service-account signing key and the bearer tokens are made at
start in ``workdir`` and die with it; every listener is bound to 127.0.0.1; :meth:`LocalCluster.stop`
(also on ``with`` exit and at interpreter exit) ends every process it started.

Errors: :class:`ClusterStartError` with the failing program's last log lines.
"""

from __future__ import annotations

import atexit
import ctypes
import datetime
import ipaddress
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tooling.go_tools import BIN_DIR, SHARE_DIR, require

LOOPBACK = "127.0.0.1"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
# Simulated nodes, one per zone: prod's required spreading needs as many domains as replicas.
ZONES = ("zone-a", "zone-b", "zone-c")
NODE_CPU = "8"
NODE_MEMORY = "32Gi"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
STORAGE_CLASS = "deploy-test"
PROVISIONER = "deploy-test.local/hostpath"
# How long the API server may take to answer /readyz from a cold start (seconds; measured ~10 s on 2 cores).
READY_TIMEOUT = 120.0


class ClusterStartError(RuntimeError):
    """A control-plane program did not start; the message carries its log's tail."""


def free_port() -> int:
    """A TCP port free on loopback now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None, *, group: str | None = None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    # A client certificate's CN is the user and O the group (Kubernetes x509 client authentication).
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, subject)] + ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, group)] if group else [])
    name = x509.Name(attributes)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    elif group is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    else:
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]
        names += [x509.DNSName(f"kubernetes.default.svc{suffix}") for suffix in ("", ".cluster.local")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass
class LocalCluster:
    """A running control plane; build with :meth:`start`."""

    workdir: Path
    port: int
    token: str
    context: str = "deploy-test"
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "ca.crt"

    @classmethod
    def start(cls, workdir: Path, *, context: str = "deploy-test", nodes: bool = True) -> LocalCluster:
        """Make certificates and tokens in ``workdir``, start kine, the API server, the controller manager and
        (with ``nodes``) the scheduler, kwok, its nodes, the default StorageClass and its provisioner; return
        when the API server is ready."""
        binaries = require("kine", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
        workdir.mkdir(parents=True, exist_ok=True)
        cluster = cls(workdir=workdir, port=free_port(), token=secrets.token_hex(24), context=context)
        atexit.register(cluster.stop)
        try:
            cluster._write_credentials()
            etcd = free_port()
            cluster._spawn(
                "kine",
                [
                    str(binaries["kine"]),
                    f"--endpoint=sqlite://{workdir / 'state.db'}?_journal=WAL&cache=shared",
                    f"--listen-address={LOOPBACK}:{etcd}",
                    f"--metrics-bind-address={LOOPBACK}:{free_port()}",
                ],
            )
            cluster._spawn("kube-apiserver", [str(binaries["kube-apiserver"]), *cluster._apiserver_flags(etcd)])
            cluster._wait_ready()
            cluster._spawn("kube-controller-manager", [str(binaries["kube-controller-manager"]), *cluster._controller_flags()])
            if nodes:
                cluster._spawn("kube-scheduler", [str(binaries["kube-scheduler"]), *cluster._scheduler_flags()])
                cluster._spawn("kwok", [str(binaries["kwok"]), *cluster._kwok_flags()])
                cluster._make_nodes()
                cluster._make_storage_class()
                cluster._watch(cluster.provision)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    # --- credentials ---

    def _write_credentials(self) -> None:
        ca_key = _key()
        ca = _certificate("deploy-test-ca", ca_key, None)
        serving_key = _key()
        serving = _certificate("kube-apiserver", serving_key, (ca, ca_key))
        files = {
            "ca.crt": ca.public_bytes(serialization.Encoding.PEM),
            "ca.key": _pem_key(ca_key),
            "apiserver.crt": serving.public_bytes(serialization.Encoding.PEM),
            "apiserver.key": _pem_key(serving_key),
        }
        account_key = _key()
        files["sa.key"] = _pem_key(account_key)
        files["sa.pub"] = account_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        tokens = {user: secrets.token_hex(24) for user in ("system:kube-controller-manager", "system:kube-scheduler", "kwok")}
        # token,user,uid,"groups": the test's own identity and kwok are cluster admins; the controller
        # manager and the scheduler have their usual users (bound by the API server's bootstrap RBAC).
        files["tokens.csv"] = (
            f'{self.token},deploy-test-admin,deploy-test-admin,"system:masters"\n'
            + "".join(f"{token},{user},{user}{',system:masters' if user == 'kwok' else ''}\n" for user, token in tokens.items())
        ).encode()
        for name, content in files.items():
            path = self.workdir / name
            path.write_bytes(content)
            path.chmod(0o600)
        self.kubeconfig.write_text(yaml.safe_dump(self._kubeconfig(self.context, self.token)), encoding="utf-8")
        self.kubeconfig.chmod(0o600)
        for user, token in tokens.items():
            name = user.removeprefix("system:")
            (self.workdir / f"{name}.kubeconfig").write_text(yaml.safe_dump(self._kubeconfig(name, token)), encoding="utf-8")
            (self.workdir / f"{name}.kubeconfig").chmod(0o600)
        stages = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted((SHARE_DIR / "kwok").glob("*.yaml"))]
        (self.workdir / "kwok.yaml").write_text(yaml.safe_dump_all(stages), encoding="utf-8")

    def _kubeconfig(self, context: str, token: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": context, "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }

    def _apiserver_flags(self, etcd_port: int) -> list[str]:
        w = self.workdir
        return [
            f"--etcd-servers=http://{LOOPBACK}:{etcd_port}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={self.port}",
            f"--tls-cert-file={w / 'apiserver.crt'}",
            f"--tls-private-key-file={w / 'apiserver.key'}",
            f"--client-ca-file={w / 'ca.crt'}",
            f"--token-auth-file={w / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={w / 'sa.pub'}",
            f"--service-account-signing-key-file={w / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # node-exporter runs with host access; Pod Security admission decides per namespace.
            "--allow-privileged=true",
            "--profiling=false",
            "--endpoint-reconciler-type=none",
        ]

    def _controller_flags(self) -> list[str]:
        w = self.workdir
        return [
            f"--kubeconfig={w / 'kube-controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={w / 'kube-controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={w / 'kube-controller-manager.kubeconfig'}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={free_port()}",
            "--leader-elect=false",
            f"--service-account-private-key-file={w / 'sa.key'}",
            f"--root-ca-file={w / 'ca.crt'}",
            # Each controller acts as its own service account, the identity the bootstrap RBAC grants.
            "--use-service-account-credentials=true",
            "--profiling=false",
        ]

    def _scheduler_flags(self) -> list[str]:
        config = self.workdir / "kube-scheduler.kubeconfig"
        return [
            f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}",
            f"--authorization-kubeconfig={config}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={free_port()}",
            "--leader-elect=false",
            "--profiling=false",
        ]

    def _kwok_flags(self) -> list[str]:
        return [
            f"--kubeconfig={self.workdir / 'kwok.kubeconfig'}",
            f"--config={self.workdir / 'kwok.yaml'}",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            f"--server-address={LOOPBACK}:{free_port()}",
            f"--node-ip={LOOPBACK}",
            f"--cidr={POD_CIDR}",
        ]

    def _make_nodes(self) -> None:
        with self.client() as client:
            for index, zone in enumerate(ZONES):
                name = f"node-{index}"
                node = {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "annotations": {KWOK_NODE_ANNOTATION: "fake"},
                        "labels": {
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "topology.kubernetes.io/zone": zone,
                            "type": "kwok",
                        },
                    },
                    "status": {
                        "allocatable": {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": "110"},
                        "capacity": {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": "110"},
                    },
                }
                _ok(client.post("/api/v1/nodes", json=node))

    def _make_storage_class(self) -> None:
        storage_class = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": PROVISIONER,
            "allowVolumeExpansion": True,
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Retain",
        }
        with self.client() as client:
            _ok(client.post("/apis/storage.k8s.io/v1/storageclasses", json=storage_class))

    def provision(self, client: httpx.Client) -> None:
        """One pass of the provisioner: a PersistentVolume of the claim's size for every Pending claim of the
        default class, pre-bound to it (the PV controller then binds both); a grown claim grows its volume."""
        claims = client.get("/api/v1/persistentvolumeclaims").json().get("items", [])
        volumes = {v["metadata"]["name"]: v for v in client.get("/api/v1/persistentvolumes").json().get("items", [])}
        for claim in claims:
            meta, spec = claim["metadata"], claim["spec"]
            if spec.get("storageClassName") != STORAGE_CLASS:
                continue
            name = f"pv-{meta['uid']}"
            size = spec["resources"]["requests"]["storage"]
            if name not in volumes:
                volume = {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
                    "spec": {
                        "capacity": {"storage": size},
                        "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
                        "storageClassName": STORAGE_CLASS,
                        "persistentVolumeReclaimPolicy": "Retain",
                        "hostPath": {"path": f"/var/lib/deploy-test/{meta['uid']}"},
                        "claimRef": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
                    },
                }
                client.post("/api/v1/persistentvolumes", json=volume)
            elif volumes[name]["spec"]["capacity"]["storage"] != size:
                # The resizer's part: the volume grows, then the claim reports the new capacity.
                client.patch(
                    f"/api/v1/persistentvolumes/{name}",
                    json={"spec": {"capacity": {"storage": size}}},
                    headers={"Content-Type": "application/merge-patch+json"},
                )
                client.patch(
                    f"/api/v1/namespaces/{meta['namespace']}/persistentvolumeclaims/{meta['name']}/status",
                    json={"status": {"capacity": {"storage": size}}},
                    headers={"Content-Type": "application/merge-patch+json"},
                )

    def _watch(self, step: Any, interval: float = 0.5) -> None:
        def loop() -> None:
            with self.client() as client:
                while not self._stop.wait(interval):
                    try:
                        step(client)
                    except httpx.HTTPError:
                        continue

        thread = threading.Thread(target=loop, name="deploy-test-provisioner", daemon=True)
        thread.start()
        self._threads.append(thread)

    # --- processes ---

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent
        )

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(verify=self._tls(), headers={"Authorization": f"Bearer {self.token}"}, timeout=5) as client:
            while time.monotonic() < deadline:
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise ClusterStartError(f"{name} exited with status {process.returncode}:\n{self.log_tail(name)}")
                try:
                    if client.get(f"{self.server}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
        raise ClusterStartError(f"kube-apiserver not ready after {READY_TIMEOUT:.0f} s:\n{self.log_tail('kube-apiserver')}")

    def client_certificate(self, user: str, group: str) -> tuple[Path, Path]:
        """(certificate, key) files of a client certificate for ``user`` in ``group``, signed by the cluster's CA:
        for programs that authenticate with a certificate rather than a token (the Prometheus Operator)."""
        ca = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        ca_key = serialization.load_pem_private_key((self.workdir / "ca.key").read_bytes(), password=None)
        assert isinstance(ca_key, rsa.RSAPrivateKey)
        key = _key()
        certificate = _certificate(user, key, (ca, ca_key), group=group)
        paths = (self.workdir / f"{user}.crt", self.workdir / f"{user}.key")
        paths[0].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        paths[1].write_bytes(_pem_key(key))
        paths[1].chmod(0o600)
        return paths

    def spawn(self, name: str, argv: list[str]) -> None:
        """Start another program beside the control plane; it is stopped with it. Its log: ``<workdir>/<name>.log``."""
        self._spawn(name, argv)

    def client(self) -> httpx.Client:
        """An HTTP client for the API server, authenticated as the test's admin."""
        return httpx.Client(base_url=self.server, verify=self._tls(), headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def kube_system_uid(self) -> str:
        """The UID of the kube-system namespace: the identity the stack's cluster check reads."""
        with self.client() as client:
            response = client.get("/api/v1/namespaces/kube-system")
            response.raise_for_status()
            return str(response.json()["metadata"]["uid"])

    def stop(self) -> None:
        """End every process started, the last started first; wait for each."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def wait_for(check: Any, seconds: float, interval: float = 0.5) -> Any:
    """The first truthy result of ``check()`` within ``seconds``; None when there was none."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    return None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux PR_SET_PDEATHSIG), so a
    killed run (a CI timeout, SIGKILL) leaves no control plane behind; ``stop`` covers every orderly end."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise ClusterStartError(f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}")
    return response


def tools_path(path: str) -> str:
    """``path`` with build/tools/bin first: the built programs win over anything the machine has."""
    return f"{BIN_DIR}{':' + path if path else ''}"
