"""Where the shipped manifests are, for the tests that build or read them."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MANIFESTS", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "manifests"
