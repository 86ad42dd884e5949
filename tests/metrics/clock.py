"""A clock the batch's tests move by hand: the batch reads wall and monotonic time through
callables, so its schedule (renewals, forgetting) can be driven without waiting."""

from __future__ import annotations


class Clock:
    """The time the batch reads, moved by the test."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
