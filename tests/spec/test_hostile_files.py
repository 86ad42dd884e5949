"""Hostile files against ``rollout validate``: recursive and exponential aliases, deep
nesting, links out of the directory, FIFOs, huge and binary files are each refused with
``path:line: message`` or ``path: message``, quickly and in little memory, never with a
traceback or a hang, and a linked file's content is never shown.

The billion-laughs figures are measured in a fresh interpreter (so nothing else in the test
run inflates its peak memory), with bounds far from the measured values (about 10 ms of
CPU, under 1 MB of allocations, a 35 MB process) yet far below what the file used to cost
(37 s and 3.6 GB). Time is CPU time, so a machine busy with other work cannot fail it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.spec.hostile import billion_laughs

MEASURE = textwrap.dedent(
    """
    import json, sys, time, tracemalloc
    from rollout.source.files import load_paths

    tracemalloc.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    loaded = load_paths([sys.argv[1]])
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    traced_peak = tracemalloc.get_traced_memory()[1]
    # the peak of this process's own memory: VmHWM starts afresh at exec, while
    # getrusage's ru_maxrss keeps the forking parent's peak (a large pytest process)
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    max_rss = int(hwm.split()[1]) * 1024
    print(json.dumps({
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "traced_peak": traced_peak,
        "max_rss": max_rss,
        "problems": [str(problem) for problem in loaded.problems],
    }))
    """
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_a_billion_laughs_file_is_refused_in_under_a_second_and_100_mb(tmp_path: Path) -> None:
    path = tmp_path / "lol.yaml"
    path.write_text(billion_laughs(levels=9, width=10))

    result = run("-c", MEASURE, str(path))

    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert measured["problems"] == [
        f"{path}:6: more than 100000 values in one document "
        "(counting what aliases and merge keys stand for)"
    ]
    assert measured["cpu_seconds"] < 1.0, measured  # CPU time: other work on the machine
    assert measured["traced_peak"] < 20 * 2**20, measured  # allocations reading the file
    assert measured["max_rss"] < 100 * 2**20, measured  # the whole process, interpreter too


def test_validate_reports_hostile_aliases_as_lines_not_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "lol.yaml").write_text(billion_laughs())
    (tmp_path / "loop.yaml").write_text("apiVersion: canary.rollout.dev/v1alpha1\nx: &a [*a]\n")
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 500 + "]" * 500 + "\n")

    result = run("-m", "rollout", "validate", str(tmp_path))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        f"{tmp_path}/deep.yaml:1: nested deeper than 64 levels",
        f"{tmp_path}/lol.yaml:6: more than 100000 values in one document "
        "(counting what aliases and merge keys stand for)",
        f"{tmp_path}/loop.yaml:2: recursive alias *a: it refers to itself",
    ]


def test_validate_never_follows_a_link_nor_opens_more_than_a_regular_file(
    tmp_path: Path, repo_root: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("kind: Rollout\nmarker: SECRET-MARKER-5c1d\n")
    specs = tmp_path / "specs"
    specs.mkdir()
    example = repo_root / "examples" / "rollouts" / "checkout.yaml"
    (specs / "valid.yaml").write_text(example.read_text())
    (specs / "link.yaml").symlink_to(outside)
    (specs / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(specs / "fifo.yaml")
    (specs / "big.yaml").write_bytes(b"a: " + b"b" * (2 << 20) + b"\n")
    (specs / "binary.yml").write_bytes(b"kind: \x00\xff\n")

    result = run("-m", "rollout", "validate", str(specs))

    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        f"{specs}/big.yaml: 2097156 bytes, over the limit of 1048576",
        f"{specs}/binary.yml: binary, not UTF-8 text",
        f"{specs}/fifo.yaml: not a regular file",
        f"{specs}/link.yaml: a symbolic link: links are never followed",
    ]
    assert "1 rollout(s) valid" in result.stderr
    assert "SECRET-MARKER" not in result.stdout + result.stderr
