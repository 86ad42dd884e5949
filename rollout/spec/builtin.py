"""The SLO policies shipped with the package.

In a wheel they live in ``rollout/builtin_policies`` (copied there from the repository's
top-level ``policies/`` at build time); in a source checkout they are read from
``policies/`` directly, so both install modes see the same files.
"""

from __future__ import annotations

import functools
from pathlib import Path

from rollout.errors import SpecError
from rollout.spec.policy import Policy
from rollout.spec.yamldocs import load_documents


def policy_directory() -> Path:
    package = Path(__file__).resolve().parent.parent
    installed = package / "builtin_policies"
    if installed.is_dir():
        return installed
    return package.parent / "policies"


@functools.cache
def shipped_policies() -> tuple[Policy, ...]:
    """Every shipped policy; a broken shipped policy is a packaging defect and raises."""
    policies: list[Policy] = []
    for path in sorted(policy_directory().glob("*.yaml")):
        for document in load_documents(path.read_text(encoding="utf-8"), str(path)):
            try:
                policies.append(Policy.model_validate(document.body))
            except ValueError as error:
                raise SpecError([f"{path}: shipped policy is invalid: {error}"]) from error
    return tuple(policies)
