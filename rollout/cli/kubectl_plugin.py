"""``kubectl canary``: the people commands as a kubectl plugin.

kubectl runs any executable named ``kubectl-<name>`` on the PATH as ``kubectl <name>``
(``kubectl rollout`` is kubectl's own, hence ``canary``). The package installs this one as
the ``kubectl-canary`` console script, so ``kubectl canary status -w``, ``promote``,
``abort`` and ``retry`` are the very commands ``rollout`` has, with the same flags: kubectl
hands every argument after the plugin's name to it, and its environment (``KUBECONFIG``).
"""

from __future__ import annotations

import click

from rollout import __version__
from rollout.cli import people_commands

PROG_NAME = "kubectl canary"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name=PROG_NAME)
def plugin() -> None:
    """Rollouts (canary.rollout.dev): status, and a person's promote, abort or retry."""


plugin.add_command(people_commands.status)
plugin.add_command(people_commands.promote)
plugin.add_command(people_commands.abort)
plugin.add_command(people_commands.retry)


def main() -> None:
    """The ``kubectl-canary`` console script."""
    plugin(prog_name=PROG_NAME)
