"""Run the real Kubernetes control plane (etcd and kube-apiserver) on loopback.

The project's own API server (:mod:`kubelite`) is fast and small, but it is not the thing
users run against; this is. ``scripts/build-control-plane`` builds ``etcd`` and
``kube-apiserver`` from Go modules into a cache outside the repository (see
``controlplane/go.mod`` for the pins); :class:`KubeControlPlane` starts both as child
processes, each with its log in the working directory:

- etcd on two free loopback ports, with ``--unsafe-no-fsync`` (the data is thrown away);
- kube-apiserver on ``https://127.0.0.1:<port>`` with a fresh CA and serving certificate,
  client-certificate authentication, ``--authorization-mode=RBAC``, service-account token
  signing (so the TokenRequest API mints tokens the server verifies) and the default
  admission plugins (``NamespaceLifecycle`` refuses objects in a missing namespace);
- it returns once ``/readyz`` answers 200 and the ``default`` namespace exists, and
  ``write_kubeconfig`` writes an admin kubeconfig (client certificate in ``system:masters``).

No controller manager runs: nothing turns Deployments into Pods or finishes a namespace's
deletion; tests set Deployment status through the status subresource, as before.
``stop()`` ends kube-apiserver, then etcd, and removes the working directory it made.

Example::

    with KubeControlPlane() as cluster:
        cluster.write_kubeconfig(path)     # kubectl --kubeconfig path version -> v1.37.x
"""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import kubernetes
import yaml

from kubelite import RequestRecord
from rollout_local.lifecycle import Lifecycle
from rollout_local.processes.child_process import ChildProcess
from rollout_local.processes.kube_audit import AUDIT_POLICY, AuditLog
from rollout_local.processes.prometheus_server import free_port

if TYPE_CHECKING:
    from rollout_local.processes.kube_pki import ControlPlanePki

__all__ = ["BINARIES_ENV", "ControlPlaneError", "KubeControlPlane", "control_plane_binaries"]

BINARIES_ENV = "ROLLOUT_CONTROL_PLANE_BIN"
"""A directory with ``etcd`` and ``kube-apiserver`` to use instead of building them."""

_BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-control-plane"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or reached; the log tail is included."""


def control_plane_binaries() -> Path:
    """The directory holding ``etcd`` and ``kube-apiserver``: from the environment, or built.

    Building runs ``scripts/build-control-plane``, which reuses its cache when the pins are
    unchanged (a fraction of a second) and otherwise builds (minutes on a fresh machine).
    """
    configured = os.environ.get(BINARIES_ENV)
    if configured:
        directory = Path(configured)
    elif _BUILD_SCRIPT.exists():
        result = subprocess.run(
            ["bash", str(_BUILD_SCRIPT)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ControlPlaneError(f"building the control plane failed:\n{result.stderr[-4000:]}")
        directory = Path(result.stdout.strip().splitlines()[-1])
    else:
        raise ControlPlaneError(
            f"no control plane binaries: set {BINARIES_ENV} to a directory holding etcd and "
            "kube-apiserver, or run from a checkout that has scripts/build-control-plane"
        )
    for name in ("etcd", "kube-apiserver"):
        if not os.access(directory / name, os.X_OK):
            raise ControlPlaneError(f"{directory / name} is missing or not executable")
    return directory


class KubeControlPlane(Lifecycle):
    """etcd and kube-apiserver on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        port: int = 0,
        binaries: Path | None = None,
        workdir: Path | None = None,
        ready_timeout: float = 180.0,
        extra_apiserver_args: Sequence[str] = (),
        die_with_parent: bool = True,
    ) -> None:
        self._requested_port = port
        self._binaries = binaries
        self._owns_workdir = workdir is None
        self._workdir = workdir
        self._ready_timeout = ready_timeout
        self._extra_args = list(extra_apiserver_args)
        self._die_with_parent = die_with_parent
        self._etcd = ChildProcess()
        self._apiserver = ChildProcess()
        self._port: int | None = None
        self._pki: ControlPlanePki | None = None
        self._audit: AuditLog | None = None

    # -- where things are ------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise ControlPlaneError("the control plane is not started")
        return self._port

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def pki(self) -> ControlPlanePki:
        if self._pki is None:
            raise ControlPlaneError("the control plane is not started")
        return self._pki

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise ControlPlaneError("the control plane is not started")
        return self._workdir

    def log_tail(self, name: str = "kube-apiserver", lines: int = 40) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        # cryptography is loaded only when a control plane starts (it is not small)
        from rollout_local.processes.kube_pki import write_pki

        binaries = self._binaries or control_plane_binaries()
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="rollout-kube-"))
        self._pki = write_pki(self._workdir / "pki")
        try:
            etcd_url = self._start_etcd(binaries / "etcd")
            self._start_apiserver(binaries / "kube-apiserver", etcd_url)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_etcd(self, binary: Path) -> str:
        client, peer = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        self._etcd.start(
            [
                str(binary),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            log_path=self.workdir / "etcd.log",
            cwd=self.workdir,
            die_with_parent=self._die_with_parent,
        )
        self._wait("etcd", self._etcd, lambda: _status(f"{client_url}/health", None) == 200)
        return client_url

    def _start_apiserver(self, binary: Path, etcd_url: str) -> None:
        self._port = self._requested_port or free_port()
        pki = self.pki
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        audit_log = self.workdir / "audit.log"
        self._apiserver.start(
            [
                str(binary),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self._port}",
                f"--cert-dir={self.workdir / 'certs'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki.service_account_public_key}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                f"--audit-policy-file={policy}",
                f"--audit-log-path={audit_log}",
                *self._extra_args,
            ],
            log_path=self.workdir / "kube-apiserver.log",
            cwd=self.workdir,
            die_with_parent=self._die_with_parent,
        )
        context = self.admin_ssl_context()
        self._wait(
            "kube-apiserver",
            self._apiserver,
            lambda: (
                _status(f"{self.url}/readyz", context) == 200
                and _status(f"{self.url}/api/v1/namespaces/default", context) == 200
            ),
        )
        self._audit = AuditLog(audit_log, base_url=self.url, context=context)

    def _wait(self, name: str, child: ChildProcess, ready: Any) -> None:
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if child.exited:
                raise ControlPlaneError(
                    f"{name} exited with {child.returncode} while starting:\n{self.log_tail(name)}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise ControlPlaneError(
            f"{name} was not ready after {self._ready_timeout:.0f}s:\n{self.log_tail(name)}"
        )

    def stop(self, *, grace: float = 10.0) -> None:
        """Stop kube-apiserver, then etcd; remove the working directory if it was ours."""
        self._apiserver.terminate(grace=grace)
        self._etcd.terminate(grace=grace)
        self._port = None
        self._audit = None
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- request log (from the audit log) ------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served since start or the last :meth:`clear_requests`, oldest first."""
        if self._audit is None:
            raise ControlPlaneError("the control plane is not started")
        return self._audit.records()

    def clear_requests(self) -> None:
        if self._audit is None:
            raise ControlPlaneError("the control plane is not started")
        self._audit.clear()

    # -- setup -----------------------------------------------------------------------------

    def install_crds(self, documents: Sequence[dict[str, Any]], *, timeout: float = 30.0) -> None:
        """Create CustomResourceDefinitions and return once each one is served (Established)."""
        path = self.workdir / "installer.kubeconfig"
        api = kubernetes.config.new_client_from_config(config_file=str(self.write_kubeconfig(path)))
        try:
            extensions = kubernetes.client.ApiextensionsV1Api(api)
            for document in documents:
                extensions.create_custom_resource_definition(document)  # type: ignore[arg-type]
            for document in documents:
                name = document["metadata"]["name"]
                deadline = time.monotonic() + timeout
                while not _established(extensions.read_custom_resource_definition(name)):
                    if time.monotonic() > deadline:
                        raise ControlPlaneError(f"CRD {name} not Established after {timeout:.0f}s")
                    time.sleep(0.05)
        finally:
            api.close()

    # -- clients ---------------------------------------------------------------------------

    def admin_ssl_context(self) -> ssl.SSLContext:
        """An SSL context trusting the CA and presenting the admin client certificate."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def write_kubeconfig(
        self, path: str | Path, *, namespace: str = "default", token: str | None = None
    ) -> Path:
        """Write a kubeconfig for this server: the admin certificate, or ``token`` if given."""
        user: dict[str, str]
        if token is None:
            user = {
                "client-certificate-data": _b64(self.pki.admin_cert),
                "client-key-data": _b64(self.pki.admin_key),
            }
        else:
            user = {"token": token}
        name = "rollout-real" if token is None else "rollout-real-token"
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": _b64(self.pki.ca_cert),
                    },
                }
            ],
            "users": [{"name": name, "user": user}],
            "contexts": [
                {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
            ],
            "current-context": name,
            "preferences": {},
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(document, sort_keys=False))
        target.chmod(0o600)
        return target


def _established(crd: Any) -> bool:
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _status(url: str, context: ssl.SSLContext | None) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):
        return None
