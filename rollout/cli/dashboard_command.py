"""``rollout dashboard``: the dashboard on a person's own machine, with their kubeconfig.

It binds 127.0.0.1 only and prints a URL carrying a random one-time token, as Jupyter
does: opening it sets a session cookie and spends the token, and every request without
that cookie is answered 401. Reads and actions go to the API server with the kubeconfig's
credentials, so the person can do there exactly what ``kubectl`` lets them; actions are
recorded with their name (``user@host``), as ``rollout promote`` records them.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click

from rollout.cli.people_commands import local_user
from rollout.dashboard.access import OneTimeToken
from rollout.dashboard.app import dashboard_app
from rollout.errors import RolloutError
from rollout.kube.dashboard_reads import DashboardReads
from rollout.kubeapi.client import api_client
from rollout.server.serving import UvicornThread

__all__ = ["dashboard"]

LOOPBACK = "127.0.0.1"


@click.command()
@click.option("--port", default=0, show_default=True, help="Port on 127.0.0.1 (0: a free one).")
@click.option("--kubeconfig", envvar="KUBECONFIG", default=None)
@click.option("--context", envvar="ROLLOUT_KUBE_CONTEXT", default=None)
@click.option("--interval", default=2.0, show_default=True, help="Seconds between live updates.")
def dashboard(port: int, kubeconfig: str | None, context: str | None, interval: float) -> None:
    """Serve the dashboard on 127.0.0.1 and print its one-time sign-in URL."""
    try:
        api = api_client(kubeconfig=kubeconfig, context=context)
        gate = OneTimeToken(local_user())
        server = UvicornThread(
            dashboard_app(DashboardReads(api), gate, interval=interval),
            host=LOOPBACK,
            port=port,
            name="dashboard",
        )
        server.start()
    except (RolloutError, OSError) as error:
        click.echo(f"rollout dashboard: {error}", err=True)
        sys.exit(1)
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo("The dashboard is served on 127.0.0.1; open this URL (its token works once):")
    click.echo(
        f"    {server.url}/?token={gate.token}",
    )
    click.echo("Ctrl-C stops it.")
    stopped.wait()
    server.stop()
