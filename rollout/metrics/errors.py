"""What can go wrong when asking a metrics system for a number, one class per cause.

The analysis treats every one of these as "could not judge" (inconclusive), but people
need to know which it was: Prometheus down is an operations problem, a bad query is a
policy bug, no data usually means a wrong workload name or no traffic, NaN means an empty
histogram window, several series means a query that forgot to aggregate. Providers raise
only these; no third-party exception crosses the adapter boundary.
"""

from __future__ import annotations

from rollout.errors import MetricsError

__all__ = [
    "BadQuery",
    "MetricsError",
    "NoData",
    "NotANumber",
    "SeveralSeries",
    "Unreachable",
]


class Unreachable(MetricsError):
    """The metrics server could not be reached or did not answer in time."""


class BadQuery(MetricsError):
    """The server refused the query; ``server_message`` is its own error text."""

    def __init__(self, message: str, *, server_message: str = "", query: str = "") -> None:
        self.server_message = server_message
        self.query = query
        super().__init__(message)


class NoData(MetricsError):
    """The query returned an empty vector: nothing matched."""


class NotANumber(MetricsError):
    """The query returned NaN or an infinity (e.g. a quantile over an empty window)."""


class SeveralSeries(MetricsError):
    """The query returned several series where one number was expected."""

    def __init__(self, message: str, *, count: int) -> None:
        self.count = count
        super().__init__(message)
