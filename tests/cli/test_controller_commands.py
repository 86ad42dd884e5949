"""``rollout run --help``: every setting, flag or environment variable, is discoverable.

Inputs: the ``run`` command's declared options. Outputs: the help text, which names each
option's ``ROLLOUT_*`` variable, describes every option, and lists the variables that are
never flags (secrets).
"""

from __future__ import annotations

import click
from click.testing import CliRunner

from rollout.cli.controller_commands import run
from rollout.cli.main import main


def help_text() -> str:
    result = CliRunner().invoke(main, ["run", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_option_shows_its_environment_variable_and_a_description() -> None:
    text = help_text()
    options = [p for p in run.params if isinstance(p, click.Option) and p.name != "help"]
    assert len(options) > 15
    for option in options:
        assert option.envvar, option.name
        assert f"env var: {option.envvar}" in text, option.name
        assert option.help, f"--{option.name} has no description"


def test_prometheus_url_is_described() -> None:
    line = next(line for line in help_text().splitlines() if "--prometheus-url" in line)
    assert "Prometheus that holds the mesh metrics" in line
    assert "ROLLOUT_PROMETHEUS_URL" in line


def test_variables_that_are_never_flags_are_listed() -> None:
    text = help_text()
    for variable in (
        "ROLLOUT_HOOK_SECRET",
        "ROLLOUT_GIT_TOKEN",
        "ROLLOUT_GIT_SSH_KEY",
        "ROLLOUT_PROMETHEUS_BEARER_TOKEN",
        "ROLLOUT_PROMETHEUS_CA_FILE",
    ):
        assert variable in text
