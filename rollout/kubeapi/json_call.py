"""A JSON request through the official client, without its per-call generic layers.

The generated ``CustomObjectsApi`` methods validate every argument with pydantic
(``validate_call``), walk the whole body in Python to "sanitise" it
(``ApiClient.sanitize_for_serialization``: a status with its analysis counters is thousands
of values, every one visited), and only then hand it to ``json.dumps``. For a body that is
already plain JSON data (dicts, lists, strings, numbers, booleans, None) that walk returns an
equal copy, so the bytes sent are the same without it. At a thousand rollouts the status
write through that path was a quarter of the controller's interpreter time.

:func:`send` builds the request with the client's own ``ApiClient.param_serialize`` (path
quoting, default headers, the configuration's authentication, refreshed tokens included)
and sends it with ``ApiClient.call_api`` over the client's own connection pool; the body
is encoded once by the client's REST layer (``json.dumps``) and the answer decoded once.
A non-2xx answer raises the same ``ApiException`` subclasses the generated methods raise,
so :func:`rollout.kubeapi.errors.translated` reads it as before. It carries every write of
a push's path: the status, the spec mirror, the VirtualService patch and the Event (whose
generated method also builds the client's models of the answer, field by field).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from rollout.kubeapi.client import REQUEST_TIMEOUT, json_object

__all__ = ["CUSTOM_OBJECT", "EVENTS", "JSON", "send"]

JSON = "application/json"

CUSTOM_OBJECT = "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}"
"""One namespaced custom object (a Rollout's spec, a VirtualService)."""

EVENTS = "/api/v1/namespaces/{namespace}/events"

_AUTH = ["BearerToken"]
"""The authentication settings every generated Kubernetes API method names."""


def send(
    api: k8s_client.ApiClient,
    method: str,
    path: str,
    path_params: Mapping[str, str],
    body: object,
    *,
    content_type: str = JSON,
    timeout: tuple[float, float] = REQUEST_TIMEOUT,
) -> dict[str, Any]:
    """Send ``body`` (plain JSON data) to ``path`` (``{name}`` placeholders filled from
    ``path_params``, quoted as the client quotes them); the JSON object answered."""
    request = api.param_serialize(
        method=method,
        resource_path=path,
        path_params=dict(path_params),
        header_params={"Accept": JSON, "Content-Type": content_type},
        auth_settings=_AUTH,
    )
    verb, url, headers = request[0], request[1], request[2]
    response = api.call_api(verb, url, headers, body=body, _request_timeout=timeout)
    data = response.read()
    text = data.decode("utf-8") if isinstance(data, bytes) else str(data or "")
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response, body=text, data=None)
    return json_object(json.loads(text))
