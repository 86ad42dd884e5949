"""Commands for people: ``rollout status``, ``promote``, ``abort`` and ``retry``.

They act through the cluster (the Rollout resource), never through Git: a command is an
annotation the controller reads on its next tick and records in the status with who and
when. ``status`` reads the resources and renders them with ``rollout.cli.status_view``.

Every command finds its rollout the same way, as kubectl does: ``-n`` or else the
namespace of the kubeconfig's context (``default`` when it names none); ``NAME`` may also
be written ``NAMESPACE/NAME``, as ``status`` prints it. ``status -A`` lists every namespace.
The same commands serve as the ``kubectl canary`` plugin (``rollout.cli.kubectl_plugin``).
"""

from __future__ import annotations

import getpass
import socket
import sys
import time
from typing import Literal, NoReturn

import click

from rollout.cli.status_view import RolloutView, detail_lines, summary_line
from rollout.errors import ApiNotServed, NotFound, RolloutError
from rollout.kube.rollout_resource import CommandAction
from rollout.kube.store import KubeStateStore
from rollout.kubeapi.client import api_client, default_namespace
from rollout.ports import Stored

CRD_HINT = (
    "this cluster does not serve Rollout resources (rollouts.canary.rollout.dev): "
    "install the CRD first with `kubectl apply -f manifests/crd.yaml`"
)

_kubeconfig = click.option("--kubeconfig", envvar="KUBECONFIG", default=None)
_context = click.option("--context", envvar="ROLLOUT_KUBE_CONTEXT", default=None)
_namespace = click.option(
    "--namespace",
    "-n",
    default=None,
    help="Default: the kubeconfig context's namespace, else 'default'.",
)
_by = click.option("--as", "by", default=None, help="Who is asking (default: user@host).")


def _store(kubeconfig: str | None, context: str | None) -> KubeStateStore:
    return KubeStateStore(api_client(kubeconfig=kubeconfig, context=context))


def local_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _fail(error: Exception) -> NoReturn:
    message = CRD_HINT if isinstance(error, ApiNotServed) else str(error)
    context = click.get_current_context(silent=True)
    program = context.find_root().info_name if context is not None else None
    click.echo(f"{program or 'rollout'}: {message}", err=True)
    sys.exit(1)


def _target(
    name: str, namespace: str | None, kubeconfig: str | None, context: str | None
) -> tuple[str, str]:
    """``(namespace, name)`` of a ``NAME`` or ``NAMESPACE/NAME`` argument."""
    if "/" in name:
        prefix, _, short = name.partition("/")
        if namespace is not None and namespace != prefix:
            raise click.UsageError(f"{name!r} names namespace {prefix!r} but -n says {namespace!r}")
        return prefix, short
    return namespace or default_namespace(kubeconfig=kubeconfig, context=context), name


def _elsewhere(store: KubeStateStore, name: str | None) -> list[Stored]:
    """Rollouts in other namespaces, for a hint when none is found in this one."""
    try:
        return [item for item in store.list_rollouts(None) if name is None or item.name == name]
    except RolloutError:
        return []  # listing every namespace may not be allowed; the hint is optional


def _view(item: Stored) -> RolloutView:
    return RolloutView(
        item.namespace,
        item.name,
        str(item.spec.get("version", "?")),
        item.state,
        observed=item.observed,
    )


def _status_text(
    store: KubeStateStore, name: str | None, namespace: str | None
) -> tuple[str, bool]:
    """What one refresh prints, and whether a named rollout was found."""
    items = [i for i in store.list_rollouts(namespace) if name is None or i.name == name]
    if not items:
        where = f"namespace {namespace}" if namespace else "any namespace"
        others = _elsewhere(store, name) if namespace else []
        hint = f"; found in: {', '.join(i.key for i in others)}" if others else ""
        what = f"rollout {name!r} not found" if name else "no rollouts"
        return f"{what} in {where}{hint}", name is None
    lines: list[str] = []
    detailed = name is not None or len(items) == 1
    for item in sorted(items, key=lambda i: i.key):
        view = _view(item)
        lines.extend(detail_lines(view) if detailed else [summary_line(view)])
    return "\n".join(lines), True


@click.command()
@click.argument("name", required=False)
@_namespace
@click.option("--all-namespaces", "-A", is_flag=True, help="Every namespace.")
@click.option("--watch", "-w", is_flag=True, help="Refresh until interrupted.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between refreshes.")
@_kubeconfig
@_context
def status(
    name: str | None,
    namespace: str | None,
    all_namespaces: bool,
    watch: bool,
    interval: float,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Rollouts (or NAME): phase, versions, weights and the evidence behind decisions."""
    try:
        scope: str | None
        if name is not None:
            scope, name = _target(name, namespace, kubeconfig, context)
        elif all_namespaces:
            scope = None
        else:
            scope = namespace or default_namespace(kubeconfig=kubeconfig, context=context)
        store = _store(kubeconfig, context)
        while True:
            text, found = _status_text(store, name, scope)
            if not found and not watch:
                raise NotFound(text)
            if watch:
                click.clear()
            click.echo(text)
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
    namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
    by: str | None,
) -> None:
    try:
        scope, short = _target(name, namespace, kubeconfig, context)
        store = _store(kubeconfig, context)
        command = store.request_command(scope, short, action, by or local_user())
    except (RolloutError, ValueError) as error:
        _fail(error)
    click.echo(f"{action} of {scope}/{short} requested by {command.by} (id {command.id})")


def _people_command(action: Literal["abort", "retry"], help_text: str) -> click.Command:
    @click.command(name=action, help=help_text)
    @click.argument("name")
    @_namespace
    @_by
    @_kubeconfig
    @_context
    def command(
        name: str,
        namespace: str | None,
        by: str | None,
        kubeconfig: str | None,
        context: str | None,
    ) -> None:
        _command(action, name, namespace, kubeconfig, context, by)

    return command


@click.command()
@click.argument("name")
@_namespace
@click.option("--full", is_flag=True, help="Skip every remaining step and promote now.")
@_by
@_kubeconfig
@_context
def promote(
    name: str,
    namespace: str | None,
    full: bool,
    by: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Promote NAME past its current step (or fully, with --full)."""
    _command("promote-full" if full else "promote", name, namespace, kubeconfig, context, by)


abort = _people_command(
    "abort",
    "Abort NAME: all traffic back to stable at once (after a promotion of managed versions, "
    "back on the old stable while its keep window runs).",
)
retry = _people_command("retry", "Retry NAME's failed version without a change in Git.")
