"""The import contracts guard what their names say: they fail when the core reaches up.

Inputs: a copy of the repository's packages and ``.importlinter`` in a temporary folder,
unchanged or with one import added to ``rollout/decide.py``. Outputs: ``lint-imports``'
exit status and the contract it reports broken, with the chain that breaks it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ("rollout", "rollout_local", "kubelite")


def lint_imports(repo_root: Path, workdir: Path, *, decide_imports: str = "") -> str:
    """Run ``lint-imports`` on a copy of the packages, with ``decide_imports`` prepended to
    the body of ``decide.py``; returns its output, raising when the exit status is not the
    one ``decide_imports`` should cause (0 for none, 1 otherwise)."""
    for package in PACKAGES:
        shutil.copytree(
            repo_root / package,
            workdir / package,
            ignore=shutil.ignore_patterns("__pycache__", "builtin_policies"),
        )
    shutil.copy(repo_root / ".importlinter", workdir / ".importlinter")
    decide = workdir / "rollout" / "decide.py"
    text = decide.read_text(encoding="utf-8")
    anchor = "from __future__ import annotations\n"
    decide.write_text(text.replace(anchor, anchor + decide_imports, 1), encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": str(workdir)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    expected = 1 if decide_imports else 0
    assert result.returncode == expected, result.stdout + result.stderr
    return " ".join(result.stdout.split())


def test_the_unchanged_copy_keeps_every_contract(repo_root: Path, tmp_path: Path) -> None:
    output = lint_imports(repo_root, tmp_path)
    assert "0 broken" in output and "BROKEN" not in output


@pytest.mark.parametrize("module", ["urllib.request", "time", "socket", "os", "pathlib"])
def test_the_core_importing_io_breaks_the_purity_contract(
    repo_root: Path, tmp_path: Path, module: str
) -> None:
    output = lint_imports(repo_root, tmp_path, decide_imports=f"import {module}\n")
    assert "The decision core and the ports do no I/O" in output
    assert f"rollout.decide is not allowed to import {module.split('.')[0]}" in output


def test_the_core_importing_the_controller_breaks_the_layers(
    repo_root: Path, tmp_path: Path
) -> None:
    output = lint_imports(repo_root, tmp_path, decide_imports="import rollout.controller\n")
    assert "Layers: cli, controller, coordinator, adapters, ports, core" in output
    assert "rollout.decide -> rollout.controller" in output
    assert "The decision core and the ports do no I/O" in output.split("Broken contracts")[1]


def test_the_core_importing_the_embedded_stack_breaks_its_contract(
    repo_root: Path, tmp_path: Path
) -> None:
    output = lint_imports(repo_root, tmp_path, decide_imports="import kubelite\n")
    assert "Product code never imports the embedded stack" in output.split("Broken contracts")[1]
