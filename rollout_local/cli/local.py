"""``rollout local ...``: run parts of the embedded stack by hand.

``rollout local apiserver --port PORT --kubeconfig PATH`` serves the local Kubernetes API
server in the foreground and writes a kubeconfig for it, so ``kubectl --kubeconfig PATH``
or a controller started with that kubeconfig can talk to it. Ctrl-C (or SIGTERM) stops it
cleanly.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from kubelite import LocalApiServer


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
def apiserver(port: int, host: str, kubeconfig_path: Path, namespace: str) -> None:
    """Serve the local Kubernetes API server in the foreground until interrupted."""
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        server = LocalApiServer(port=port, host=host).start()
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from error
    try:
        server.write_kubeconfig(kubeconfig_path, namespace=namespace)
        click.echo(f"local API server listening on {server.url}")
        click.echo(f"kubeconfig written to {kubeconfig_path}")
        while not stop_requested.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        click.echo("local API server stopped")
