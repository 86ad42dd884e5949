"""The ``rollout`` command: one click group; each subcommand lives in its own module.

Every command turns the project's errors into a one-line message and an exit code; no
traceback reaches a user.
"""

from __future__ import annotations

import click

from rollout import __version__
from rollout.cli import controller_commands, demo, local, people_commands, spec_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rollout")
def main() -> None:
    """GitOps progressive delivery: shift Istio traffic step by step, roll back on SLO breach."""


main.add_command(spec_commands.validate)
main.add_command(spec_commands.plan)
main.add_command(local.local)
main.add_command(controller_commands.run)
main.add_command(people_commands.status)
main.add_command(people_commands.promote)
main.add_command(people_commands.abort)
main.add_command(people_commands.retry)
main.add_command(demo.demo)
