"""``rollout validate`` on the example repository: the latency SLOs' bucket notes.

Input: ``examples/``; outputs: the exit code, the ``note:`` lines and the JSON ``notes``.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rollout.cli.main import main

EXAMPLES = str(Path(__file__).resolve().parents[2] / "examples")


def test_validate_reports_where_a_p99_threshold_snaps_to_an_edge() -> None:
    result = CliRunner().invoke(main, ["validate", EXAMPLES])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert any(
        "shop/checkout: istio-latency-p99: maxMs 300 lies inside the histogram bucket (250, 500]"
        in note
        and "snaps this SLO to the edge 250 ms" in note
        for note in notes
    )


def test_validate_json_carries_the_notes() -> None:
    result = CliRunner().invoke(main, ["validate", "--output", "json", EXAMPLES])
    report = json.loads(result.output)
    assert report["valid"] is True
    assert any("istio-latency-p99" in note for note in report["notes"])
