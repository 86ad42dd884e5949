"""The project's Rollout CRD as shipped in ``manifests/crd.yaml``, for tests to apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["CRD_PATH", "crd_document"]

CRD_PATH = Path(__file__).resolve().parents[2] / "manifests" / "crd.yaml"


def crd_document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text(encoding="utf-8"))
    return loaded
