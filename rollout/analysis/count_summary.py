"""The words a count policy's evidence says to people: counts, ratios, the e-value.

Kept apart from ``count_check.py`` (the tests themselves) so the arithmetic and the
wording can change on their own: ``rollout status``, the alerts and the Rollout's
conditions all read the message built here, and it must stay plain (no e-notation, the
rollback level beside the evidence, whether the SLO is shown yet).
"""

from __future__ import annotations

import math

__all__ = ["ACCEPT_LOG_LEVEL", "summary"]

ACCEPT_LOG_LEVEL = math.log(1000.0)
"""Acceptance: a canary at twice its SLO is shown within it with probability <= 0.1%."""


def _plain_number(value: float) -> str:
    """A number for people, never in e-notation: ``3,990``, ``200``, ``0.4``; past a million
    only its size matters."""
    if value >= 1e6:
        return "over 1,000,000"
    if value >= 10:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def summary(
    bad_field: str,
    *,
    canary: tuple[float, float],
    stable: tuple[float, float] | None,
    allowed: float | None,
    log_evidence: float,
    log_threshold: float,
    tested: bool,
    acceptance: float | None,
    shared_incidents: float = 0.0,
) -> str:
    noun = "errors" if bad_field == "errors" else "slow"

    def part(counts: tuple[float, float]) -> str:
        bad, total = counts
        ratio = f" ({bad / total:.2%})" if total else ""
        return f"{bad:.0f} {noun} in {total:.0f} requests{ratio}"

    text = f"canary {part(canary)}"
    if stable is not None:
        text += f" vs stable {part(stable)}"
    if allowed is not None:
        text += f", SLO max {allowed:.2%}"
    if shared_incidents and allowed is not None:
        # why a canary over its SLO may not be rolled back: stable was over it too
        count = f"{shared_incidents:.0f} interval" + ("s" if shared_incidents != 1 else "")
        text += (
            f"; stable over the SLO too in {count} (a shared incident): judged there"
            " against stable, not the SLO"
        )
    if tested:
        evidence = math.exp(min(log_evidence, 700.0)) if math.isfinite(log_evidence) else 0.0
        # the e-value: how many times likelier these counts are if the canary is worse
        text += (
            f"; evidence the canary is worse {_plain_number(evidence)}"
            f" (rollback at {_plain_number(math.exp(log_threshold))})"
        )
    if acceptance is not None:
        shown = acceptance >= ACCEPT_LOG_LEVEL
        text += "; within SLO: " + (
            "shown"
            if shown
            else f"not yet shown ({min(acceptance, 700.0):.1f} of {ACCEPT_LOG_LEVEL:.1f})"
        )
    return text
