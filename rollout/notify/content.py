"""What an alert says, whatever service carries it.

Slack, Teams and Discord lay the same content out differently; this module decides the
content once so the three agree: a severity per event, a headline, the facts (rollout,
namespace, versions, step, weight, commit, author) and one line per failed check with its
value against its threshold, sample size and p-value. Pure functions of a Notification.
"""

from __future__ import annotations

import enum

from rollout.analysis.verdicts import Evidence, Outcome
from rollout.events import Notification
from rollout.spec.alerts import AlertEvent

__all__ = [
    "Severity",
    "check_detail",
    "check_title",
    "clip",
    "facts",
    "headline",
    "number",
    "reported_checks",
]


class Severity(enum.Enum):
    """How an event should look: Slack's ``good``/``warning``/``danger`` and their hex."""

    GOOD = ("good", 0x2EB886)
    WARNING = ("warning", 0xDAA038)
    DANGER = ("danger", 0xA30200)

    @property
    def slack_color(self) -> str:
        return self.value[0]

    @property
    def rgb(self) -> int:
        return self.value[1]

    @property
    def hex(self) -> str:
        return f"{self.rgb:06X}"

    @classmethod
    def of(cls, event: AlertEvent) -> Severity:
        if event in (AlertEvent.ROLLED_BACK, AlertEvent.FAILED):
            return cls.DANGER
        if event in (
            AlertEvent.PAUSED,
            AlertEvent.INCONCLUSIVE,
            AlertEvent.SPEC_INVALID,
            AlertEvent.HOOK_FAILED,
        ):
            return cls.WARNING
        return cls.GOOD


def number(value: float) -> str:
    """A metric value for people: at most six significant digits, no float noise."""
    return f"{value:.6g}"


def headline(notification: Notification) -> str:
    """``Rollout shop/checkout: v2 rolled back, traffic back on v1``: one line, no markup,
    naming the version it is about first (``to_version``; ``from_version`` is stable)."""
    n = notification
    return f"Rollout {n.namespace}/{n.rollout}: {_what_happened(n)}"


def _what_happened(n: Notification) -> str:
    new, stable = n.to_version, n.from_version
    replacing = f", replacing {stable}" if stable else ""
    still = f"; {stable} still stable" if stable else ""
    back_on = f", traffic back on {stable}" if stable else ""
    weight = f" at {n.weight}%" if n.weight is not None else ""
    if n.event is AlertEvent.STARTED:
        return f"rolling out {new}{replacing}"
    if n.event is AlertEvent.STEP_ADVANCED:
        return f"{new} advanced a step, now{weight or ' at a new weight'}"
    if n.event is AlertEvent.PAUSED:
        return f"{new} paused{weight} until promoted{still}"
    if n.event is AlertEvent.PROMOTED:
        return f"{new} promoted{replacing}"
    if n.event is AlertEvent.ROLLED_BACK:
        return f"{new} rolled back{back_on}"
    if n.event is AlertEvent.FAILED:
        return f"{new} failed{back_on}"
    if n.event is AlertEvent.INCONCLUSIVE:
        return f"{new} cannot be judged{still}"
    if n.event is AlertEvent.HOOK_FAILED:
        return f"a hook of the {new} rollout failed{weight}"
    return f"invalid new spec, keeping the last valid one ({new})"


def reported_checks(notification: Notification) -> tuple[Evidence, ...]:
    """The checks an alert names: the failed ones, else the inconclusive ones."""
    failed = notification.failed_checks
    if failed:
        return failed
    return tuple(e for e in notification.evidence if e.outcome is Outcome.INCONCLUSIVE)


def check_title(evidence: Evidence) -> str:
    """``Failed check: istio-error-ratio/error-ratio``."""
    state = "Failed" if evidence.outcome is Outcome.FAIL else "Inconclusive"
    return f"{state} check: {evidence.policy}/{evidence.check}"


def check_detail(evidence: Evidence) -> str:
    """``value 0.052 against threshold 0.01 (stable 0.002, n=1200, p=0.0003): <message>``."""
    parts: list[str] = []
    if evidence.value is not None:
        parts.append(f"value {number(evidence.value)}")
    if evidence.threshold is not None:
        parts.append(f"against threshold {number(evidence.threshold)}")
    extras: list[str] = []
    if evidence.stable_value is not None:
        extras.append(f"stable {number(evidence.stable_value)}")
    if evidence.sample_size is not None:
        extras.append(f"n={number(evidence.sample_size)}")
    if evidence.p_value is not None:
        extras.append(f"p={number(evidence.p_value)}")
    text = " ".join(parts) or "no value"
    if extras:
        text += f" ({', '.join(extras)})"
    return f"{text}: {evidence.message}" if evidence.message else text


def facts(notification: Notification) -> list[tuple[str, str]]:
    """The labelled facts every service shows, in order; absent ones are left out."""
    n = notification
    rows = [("Rollout", n.rollout), ("Namespace", n.namespace)]
    rows.append(("From version", n.from_version or "(none)"))
    rows.append(("To version", n.to_version))
    if n.step is not None:
        rows.append(("Step", str(n.step)))
    if n.weight is not None:
        rows.append(("Weight", f"{n.weight}%"))
    for evidence in reported_checks(n):
        rows.append((check_title(evidence), check_detail(evidence)))
    if n.commit:
        rows.append(("Commit", n.commit[:12]))
    if n.author:
        rows.append(("Author", n.author))
    return rows


def clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
