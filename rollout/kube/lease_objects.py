"""The ``coordination.k8s.io/v1`` Lease object as :mod:`rollout.kube.lease` reads and writes it.

One request per call and no retry inside the HTTP library: the election loop retries on its
own schedule, and a call retried by urllib3 could outlast the renew deadline. The raw JSON
object is returned, so the MicroTimes come back exactly as sent, and the client's errors
become the project's own (``NotFound``, ``Conflict``, ``ClusterError``) here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import kubernetes
import urllib3

from rollout.errors import ClusterError, Conflict, NotFound

__all__ = ["LeaseObjects", "micro_time", "parse_micro_time"]


def micro_time(moment: datetime | None = None) -> datetime:
    """``moment`` (default: now) in UTC, ready to be sent as a Kubernetes ``MicroTime``.

    The API server parses MicroTime with exactly six fractional digits
    (``2006-01-02T15:04:05.000000Z07:00``), but the client serialises datetimes with
    :meth:`datetime.isoformat`, which drops the fraction when it is zero. A zero
    microsecond is therefore sent as one: a shift of 1 µs, and always a valid MicroTime.
    """
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment if moment.microsecond else moment.replace(microsecond=1)


def parse_micro_time(value: object) -> datetime | None:
    """A MicroTime read from the API (``...Z`` or ``...+00:00``), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return micro_time(datetime.fromisoformat(value))
    except ValueError:
        return None


def single_attempt_client(api_client: Any) -> Any:
    """A client like ``api_client`` whose requests are never retried by urllib3.

    The election loop does its own retrying on its own schedule; a call retried inside the
    HTTP library could outlast the renew deadline by several request timeouts.
    """
    configuration = copy.deepcopy(api_client.configuration)
    configuration.retries = 0
    single = kubernetes.client.ApiClient(configuration)
    single.user_agent = api_client.user_agent  # the Lease calls name the controller too
    return single


class LeaseObjects:
    """Reads, creates and replaces the Lease ``namespace/name``, one request each."""

    def __init__(self, api_client: Any, namespace: str, name: str) -> None:
        self._client = single_attempt_client(api_client)
        self._api = kubernetes.client.CoordinationV1Api(self._client)
        self.namespace = namespace
        self.name = name

    def close(self) -> None:
        self._client.close()

    def read(self, timeout: float) -> dict[str, Any]:
        return self._call_api(
            self._api.read_namespaced_lease, self.name, self.namespace, timeout=timeout
        )

    def create(self, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }
        return self._call_api(
            self._api.create_namespaced_lease, self.namespace, body, timeout=timeout
        )

    def replace(
        self,
        spec: dict[str, Any],
        based_on: dict[str, Any],
        timeout: float,
        *,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Replace the spec (and annotations, none by default), conditional on the
        resourceVersion ``based_on`` carries."""
        metadata = based_on.get("metadata") or {}
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "resourceVersion": metadata.get("resourceVersion"),
                **({"annotations": annotations} if annotations else {}),
            },
            "spec": spec,
        }
        return self._call_api(
            self._api.replace_namespaced_lease, self.name, self.namespace, body, timeout=timeout
        )

    def _call_api(self, method: Callable[..., Any], *args: Any, timeout: float) -> dict[str, Any]:
        """Call the client and return the raw JSON object, with MicroTimes as sent."""
        try:
            response = method(*args, _preload_content=False, _request_timeout=timeout)
            document = json.loads(response.data)
        except kubernetes.client.ApiException as error:
            message = f"lease {self.namespace}/{self.name}: HTTP {error.status} {error.reason}"
            if error.status == 404:
                raise NotFound(message) from None
            if error.status == 409:
                raise Conflict(message) from None
            raise ClusterError(message) from None
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            raise ClusterError(
                f"lease {self.namespace}/{self.name}: {type(error).__name__}"
            ) from None
        if not isinstance(document, dict):
            raise ClusterError(f"lease {self.namespace}/{self.name}: not a JSON object")
        return document
