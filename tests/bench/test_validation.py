"""The spec-repository benchmark runs end to end on a small repository and reports figures."""

from __future__ import annotations

import json
from pathlib import Path

from bench import validation


def test_small_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    figures = validation.main(["--specs", "25", "--repeat", "1", "--json", str(out)])
    assert figures["specs"] == 25
    assert json.loads(out.read_text()) == figures
    for name in ("first_sync_seconds", "validate_seconds", "yaml_baseline_seconds"):
        assert figures[name] > 0
    assert figures["validate_vs_yaml_ratio"] > 0
