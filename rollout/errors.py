"""The project's own exception hierarchy.

Adapters translate third-party exceptions (kubernetes, prometheus-api-client, gitpython,
requests) into these at the edge, so the core and the coordinator handle one documented
family of errors and no third-party traceback ever reaches a user.
"""

from __future__ import annotations


class RolloutError(Exception):
    """Base of every error the project raises on purpose."""


class SpecError(RolloutError):
    """A rollout spec or policy is invalid; carries the problems found."""

    def __init__(self, problems: list[object]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class TemplateError(RolloutError):
    """A policy template names a placeholder that is missing or unknown.

    ``field`` names the policy field (``query``, ``max``, ...) when it is known; ``param``
    names the parameter whose value is wrong (``maxErrorRatio``), when one is to blame.
    """

    def __init__(self, message: str, *, field: str | None = None, param: str | None = None) -> None:
        self.field = field
        self.param = param
        super().__init__(message)


class SourceError(RolloutError):
    """The spec source (Git or the cluster) could not be read."""


class ClusterError(RolloutError):
    """A call to the Kubernetes API failed."""


class NotFound(ClusterError):
    """The object does not exist (HTTP 404)."""


class ApiNotServed(NotFound):
    """The server does not serve the API at all (HTTP 404 naming no object): for a custom
    resource, its CRD is not installed."""


class Conflict(ClusterError):
    """Optimistic concurrency failed: the object changed since it was read (HTTP 409/422)."""


class TrafficConfigError(ClusterError):
    """The mesh objects cannot carry the rollout as asked (a missing VirtualService, route,
    destination or subset); nothing was written. Carries one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class MetricsError(RolloutError):
    """A metrics query failed; subclasses say how."""


class NotifyError(RolloutError):
    """An alert could not be delivered."""


class NotifyConfigError(NotifyError):
    """An alert target cannot be used as configured: its URL or secret cannot be resolved,
    or the URL is not an http(s) URL. Retrying does not help."""


class NotifyRejected(NotifyError):
    """The receiver refused the alert with a 4xx other than 429; it is not retried."""

    def __init__(self, message: str, *, status: int) -> None:
        self.status = status
        super().__init__(message)


class NotifyUnavailable(NotifyError):
    """The receiver could not be reached or kept failing (timeouts, connection errors, 5xx,
    429) until the attempts or the delivery deadline ran out."""
