"""The ``rollout`` group: its own commands, and the ``demo`` and ``local`` plug-ins.

Inputs: the command line, in a fresh interpreter so that only what the command loads is
imported; outputs: the commands ``--help`` lists, and which packages were imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

from click.testing import CliRunner

from rollout.cli.main import PLUGIN_GROUP, main

# runs one command line in-process and prints the embedded-stack modules it imported
_PROBE = """
import json, sys
from click.testing import CliRunner
from rollout.cli.main import main
result = CliRunner().invoke(main, sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("rollout_local", "kubelite"))
print(json.dumps({"exit": result.exit_code, "loaded": loaded}))
"""


def _probe(*args: str) -> tuple[int, list[str]]:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    probe = json.loads(completed.stdout.splitlines()[-1])
    return int(probe["exit"]), [str(name) for name in probe["loaded"]]


def test_help_lists_the_product_commands_and_the_plugged_in_ones() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert listed == {
        "abort",
        "dashboard",
        "demo",
        "local",
        "plan",
        "promote",
        "retry",
        "run",
        "status",
        "validate",
    }


def test_plugged_in_commands_come_from_the_entry_point_group() -> None:
    points = {point.name: point.value for point in metadata.entry_points(group=PLUGIN_GROUP)}

    assert points == {
        "demo": "rollout_local.cli.demo:demo",
        "local": "rollout_local.cli.local:local",
    }


def test_a_product_command_loads_neither_the_stack_nor_the_local_api_server() -> None:
    assert _probe("validate", "--help") == (0, [])


def test_the_local_command_loads_the_local_api_server_when_run() -> None:
    exit_code, loaded = _probe("local", "apiserver", "--help")

    assert exit_code == 0
    assert "kubelite" in loaded
