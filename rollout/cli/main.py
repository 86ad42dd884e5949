"""The ``rollout`` command: one click group; each subcommand lives in its own module.

Every command turns the project's errors into a one-line message and an exit code; no
traceback reaches a user. Commands that live outside the product package (``rollout demo``
and ``rollout local``, from the embedded stack in ``rollout_local``) plug in through the
``rollout.cli_commands`` entry-point group, so this package never imports them.
"""

from __future__ import annotations

from importlib import metadata

import click

from rollout import __version__
from rollout.cli import controller_commands, dashboard_command, people_commands, spec_commands

PLUGIN_GROUP = "rollout.cli_commands"


class _PluginGroup(click.Group):
    """A group that also offers the commands registered under :data:`PLUGIN_GROUP`.

    A plugin is imported only when its command is run or listed by ``--help``, so
    ``rollout run`` never loads the embedded stack, and a plugin that fails to import breaks
    only its own command, with a one-line message.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugin_entry_points()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        entry_point = _plugin_entry_points().get(cmd_name)
        if command is not None or entry_point is None:
            return command
        try:
            loaded = entry_point.load()
        except ImportError as error:
            raise click.ClickException(
                f"cannot load 'rollout {cmd_name}' from {entry_point.value}: {error}"
            ) from error
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"{entry_point.value} is not a click command")
        return loaded


def _plugin_entry_points() -> dict[str, metadata.EntryPoint]:
    return {point.name: point for point in metadata.entry_points(group=PLUGIN_GROUP)}


@click.group(cls=_PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rollout")
def main() -> None:
    """GitOps progressive delivery: shift Istio traffic step by step, roll back on SLO breach."""


main.add_command(spec_commands.validate)
main.add_command(spec_commands.plan)
main.add_command(controller_commands.run)
main.add_command(people_commands.status)
main.add_command(people_commands.promote)
main.add_command(people_commands.abort)
main.add_command(people_commands.retry)
main.add_command(dashboard_command.dashboard)
