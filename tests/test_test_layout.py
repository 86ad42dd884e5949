"""How the tests share code: fixtures through ``conftest.py``, helpers in helper modules.

Inputs: the source of every Python file under ``tests/``. Outputs under test: that no file
imports a test module (``test_*``) or a ``conftest`` as a library, and that no fixture is
re-imported into a module with ``# noqa: F401`` to make pytest find it: a fixture two
folders share is defined in their common ``conftest.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TEST_OR_CONFTEST = re.compile(r"(^|\.)(conftest|test_\w+)$")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def test_no_test_imports_a_test_module_or_a_conftest() -> None:
    offending = [
        f"{path.relative_to(TESTS)}: {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith("tests.") and TEST_OR_CONFTEST.search(module)
    ]

    assert offending == []


def test_no_fixture_is_re_imported_to_be_found() -> None:
    offending = [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("*.py"))
        if "noqa: F401" in path.read_text(encoding="utf-8") and path != Path(__file__).resolve()
    ]

    assert offending == []
