"""Commands for people: ``rollout status``, ``promote``, ``abort`` and ``retry``.

They act through the cluster (the Rollout resource), never through Git: a command is an
annotation the controller reads on its next tick and records in the status with who and
when. ``status`` reads the resources and renders them with ``rollout.cli.status_view``.
"""

from __future__ import annotations

import getpass
import socket
import sys
import time
from typing import Literal

import click

from rollout.cli.status_view import RolloutView, detail_lines, summary_line
from rollout.errors import NotFound, RolloutError
from rollout.kube.client import api_client
from rollout.kube.rollout_resource import CommandAction
from rollout.kube.store import KubeStateStore

_kubeconfig = click.option("--kubeconfig", envvar="KUBECONFIG", default=None)
_context = click.option("--context", envvar="ROLLOUT_KUBE_CONTEXT", default=None)
_namespace = click.option("--namespace", "-n", default=None, help="Default: every namespace.")


def _store(kubeconfig: str | None, context: str | None) -> KubeStateStore:
    return KubeStateStore(api_client(kubeconfig=kubeconfig, context=context))


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _fail(error: Exception) -> None:
    click.echo(f"rollout: {error}", err=True)
    sys.exit(1)


@click.command()
@click.argument("name", required=False)
@_namespace
@click.option("--watch", "-w", is_flag=True, help="Refresh until interrupted.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between refreshes.")
@_kubeconfig
@_context
def status(
    name: str | None,
    namespace: str | None,
    watch: bool,
    interval: float,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Every rollout (or NAME): phase, versions, weights and the evidence behind decisions."""
    try:
        store = _store(kubeconfig, context)
        while True:
            items = [i for i in store.list(namespace) if name is None or i.name == name]
            if name is not None and not items:
                raise NotFound(f"rollout {name!r} not found")
            lines: list[str] = []
            for item in sorted(items, key=lambda i: i.key):
                view = RolloutView(
                    item.namespace, item.name, str(item.spec.get("version", "?")), item.state
                )
                lines.extend(
                    detail_lines(view) if name or len(items) == 1 else [summary_line(view)]
                )
            if watch:
                click.clear()
            click.echo("\n".join(lines) if lines else "no rollouts")
            if not watch:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
    except RolloutError as error:
        _fail(error)


def _command(
    action: CommandAction,
    name: str,
    namespace: str,
    kubeconfig: str | None,
    context: str | None,
    by: str | None,
) -> None:
    try:
        store = _store(kubeconfig, context)
        command = store.request_command(namespace, name, action, by or _who())
    except (RolloutError, ValueError) as error:
        _fail(error)
        return
    click.echo(f"{action} of {namespace}/{name} requested by {command.by} (id {command.id})")


def _people_command(action: Literal["abort", "retry"], help_text: str) -> click.Command:
    @click.command(name=action, help=help_text)
    @click.argument("name")
    @click.option("--namespace", "-n", default="default", show_default=True)
    @click.option("--as", "by", default=None, help="Who is asking (default: user@host).")
    @_kubeconfig
    @_context
    def command(
        name: str, namespace: str, by: str | None, kubeconfig: str | None, context: str | None
    ) -> None:
        _command(action, name, namespace, kubeconfig, context, by)

    return command


@click.command()
@click.argument("name")
@click.option("--namespace", "-n", default="default", show_default=True)
@click.option("--full", is_flag=True, help="Skip every remaining step and promote now.")
@click.option("--as", "by", default=None, help="Who is asking (default: user@host).")
@_kubeconfig
@_context
def promote(
    name: str,
    namespace: str,
    full: bool,
    by: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Promote NAME past its current step (or fully, with --full)."""
    _command("promote-full" if full else "promote", name, namespace, kubeconfig, context, by)


abort = _people_command("abort", "Abort NAME: all traffic back to stable at once.")
retry = _people_command("retry", "Retry NAME's failed version without a change in Git.")
