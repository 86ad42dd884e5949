"""``python -m rollout`` runs the CLI, as the ``rollout`` console script does."""

from rollout.cli.main import main

main(prog_name="rollout")
