"""The fuzzer against ``rollout validate``: 10,000 generated cases of hostile and mutated
spec files (``tests.spec.hostile``), each written beside one valid spec and validated as a
user runs it (``--output json``).

Every case must end in a report, never a traceback; within five seconds, never a hang
(Hypothesis' deadline, generous for a run that takes milliseconds); with the valid spec
still read whatever lies beside it; and with every problem naming one of the case's files
in a message short enough that it cannot carry a file's content. Slow tier: about 10 ms of
CPU per case, so 10,000 cases take under two minutes on an idle machine; the timeout is
set far above that for machines shared with other work.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollout.cli.spec_commands import validate
from tests.spec.hostile import ANCHOR_KEY, ANCHOR_SPEC, hostile_files

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CASES = 10_000
LONGEST_MESSAGE = 300


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for every case: the valid spec stays, the hostile files are replaced."""
    path = tmp_path_factory.mktemp("fuzz")
    (path / "anchor.yaml").write_text(ANCHOR_SPEC)
    return path


@settings(
    max_examples=CASES,
    deadline=datetime.timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(files=st.lists(hostile_files(), min_size=1, max_size=3))
def test_validate_reports_every_hostile_file_and_reads_the_valid_one(
    directory: Path, files: list[bytes]
) -> None:
    for old in directory.glob("hostile-*"):
        old.unlink()
    for index, data in enumerate(files):
        (directory / f"hostile-{index}.yaml").write_bytes(data)

    result = CliRunner().invoke(validate, ["--output", "json", str(directory)])

    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1)
    report = json.loads(result.stdout)
    assert ANCHOR_KEY in report["rollouts"]
    for problem in report["problems"]:
        assert problem["path"].startswith(f"{directory}/hostile-")
        assert 0 < len(problem["message"]) <= LONGEST_MESSAGE
