"""The ``rollout demo`` and ``rollout local`` commands, plugged into the ``rollout`` CLI.

``pyproject.toml`` registers them in the ``rollout.cli_commands`` entry-point group, which
:mod:`rollout.cli.main` loads, so the product's CLI needs no import of this package.
"""
