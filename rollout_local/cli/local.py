"""``rollout local ...``: run parts of the embedded stack by hand.

``rollout local apiserver --port PORT --kubeconfig PATH`` serves the local Kubernetes API
server in the foreground and writes a kubeconfig for it, so ``kubectl --kubeconfig PATH``
or a controller started with that kubeconfig can talk to it. With ``--real`` it runs the
real etcd and kube-apiserver instead (built from Go modules on first use, see
``scripts/build-control-plane``) with RBAC, service-account tokens and an admin kubeconfig.
Ctrl-C (or SIGTERM) stops it cleanly.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from kubelite import LocalApiServer
from kubelite.builtin_crds import BUILTIN_CRDS
from rollout_local.processes.kube_control_plane import ControlPlaneError, KubeControlPlane


@click.group()
def local() -> None:
    """Run parts of the embedded local stack (for the demo and for debugging)."""


@local.command()
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--kubeconfig",
    "kubeconfig_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write a kubeconfig that points at the server.",
)
@click.option("--namespace", default="default", show_default=True, help="Kubeconfig namespace.")
@click.option(
    "--real",
    is_flag=True,
    help="Run the real etcd + kube-apiserver (built from Go modules on first use) on 127.0.0.1.",
)
def apiserver(port: int, host: str, kubeconfig_path: Path, namespace: str, real: bool) -> None:
    """Serve the local Kubernetes API server in the foreground until interrupted."""
    if real and host != "127.0.0.1":
        raise click.UsageError("--real serves on 127.0.0.1 only")
    what = "kube-apiserver" if real else "local API server"
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = signal.signal(signal.SIGTERM, request_stop)
    server: LocalApiServer | KubeControlPlane
    try:
        if real:
            click.echo("starting etcd and kube-apiserver (the first run builds them: minutes)")
            server = KubeControlPlane(port=port).start()
            server.install_crds(BUILTIN_CRDS)  # a mesh-enabled cluster, as the stand-in serves
        else:
            server = LocalApiServer(port=port, host=host).start()
    except ControlPlaneError as error:
        signal.signal(signal.SIGTERM, previous)
        raise click.ClickException(str(error)) from error
    except OSError as error:
        signal.signal(signal.SIGTERM, previous)
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from error
    try:
        server.write_kubeconfig(kubeconfig_path, namespace=namespace)
        click.echo(f"{what} listening on {server.url}")
        click.echo(f"kubeconfig written to {kubeconfig_path}")
        while not stop_requested.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        click.echo(f"{what} stopped")
