"""Kubernetes client errors, translated at the edge into the project's own hierarchy.

The ``kubernetes`` client raises ``ApiException`` with the server's ``Status`` object as a
JSON string, and lets urllib3's connection errors through as they are. Nothing above the
adapter should see either: :func:`translated` turns them into :mod:`rollout.errors` with a
one-line message a person can act on:

- 404 becomes :class:`~rollout.errors.NotFound`, or its :class:`~rollout.errors.ApiNotServed`
  when the server does not serve the API at all (a CRD not installed);
- 409, and 422 from a JSON patch the server could not apply (a failed ``test`` op or a
  path that is gone: the object moved under a guarded patch), become
  :class:`~rollout.errors.Conflict`. kube-apiserver 1.37 says only "the server rejected our
  request due to an error in our request" there, with no cause; older servers and some
  proxies name the failed test, and both are recognised;
- anything else becomes :class:`~rollout.errors.ClusterError` with the server's message;
- a server that cannot be reached becomes :class:`~rollout.errors.ClusterError` naming
  the cause, never a urllib3 traceback.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException, OpenApiException
from kubernetes.config.config_exception import ConfigException

from rollout.errors import ApiNotServed, ClusterError, Conflict, NotFound

__all__ = ["is_unserved_api", "status_of", "translate", "translated"]

_FAILED_TEST_MARKERS = ("test failed", "testing value")
_UNAPPLICABLE_PATCH = "the server rejected our request due to an error in our request"


def status_of(error: ApiException) -> dict[str, Any]:
    """The ``Status`` object in an ``ApiException`` body, or ``{}`` when there is none."""
    body = error.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return {}
    try:
        decoded = json.loads(body)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _server_message(error: ApiException, status: dict[str, Any]) -> str:
    message = str(status.get("message") or "").strip()
    causes = (status.get("details") or {}).get("causes") or []
    cause_messages = [
        str(cause.get("message")) for cause in causes if isinstance(cause, dict) and cause
    ]
    extra = [text for text in cause_messages if text and text not in message]
    if extra:
        message = f"{message}: {'; '.join(extra)}" if message else "; ".join(extra)
    if not message:
        message = str(error.reason or "").strip() or "no message from the server"
    return message


def _failed_test(status: dict[str, Any], message: str) -> bool:
    if status.get("code") != 422 and status.get("reason") != "Invalid":
        return False
    lowered = message.lower()
    if lowered.strip() == _UNAPPLICABLE_PATCH:
        return True
    return any(marker in lowered for marker in _FAILED_TEST_MARKERS)


def is_unserved_api(error: ApiException) -> bool:
    """True when a 404 means the API (group, version or resource) is not served at all.

    An object that does not exist is a 404 whose ``details`` name the object; an API the
    server does not serve is a 404 "the server could not find the requested resource"
    without a name.
    """
    if error.status != 404:
        return False
    details = status_of(error).get("details") or {}
    return not details.get("name")


def translate(error: BaseException, *, action: str) -> ClusterError:
    """The project error for a client-side exception; ``action`` says what was being done,
    e.g. ``"reading VirtualService shop/checkout"``."""
    if isinstance(error, ClusterError):
        return error
    if isinstance(error, ApiException):
        status = status_of(error)
        message = _server_message(error, status)
        code = error.status
        text = f"{action}: {message} (HTTP {code})" if code else f"{action}: {message}"
        if code == 404:
            return ApiNotServed(text) if is_unserved_api(error) else NotFound(text)
        if code == 409 or (code == 422 and _failed_test(status, message)):
            return Conflict(text)
        return ClusterError(text)
    if isinstance(error, urllib3.exceptions.MaxRetryError):
        reason = error.reason if error.reason is not None else error
        return ClusterError(f"{action}: cannot reach the Kubernetes API: {_one_line(reason)}")
    if isinstance(error, urllib3.exceptions.HTTPError):
        return ClusterError(f"{action}: the Kubernetes API connection failed: {_one_line(error)}")
    if isinstance(error, ConfigException):
        return ClusterError(f"{action}: bad Kubernetes configuration: {_one_line(error)}")
    if isinstance(error, OpenApiException):
        return ClusterError(f"{action}: {_one_line(error)}")
    if isinstance(error, OSError):
        return ClusterError(f"{action}: {_one_line(error)}")
    return ClusterError(f"{action}: {type(error).__name__}: {_one_line(error)}")


def _one_line(error: object) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Run a block of client calls; re-raise their errors as :mod:`rollout.errors`.

    The original exception is kept as ``__cause__`` for debugging logs but suppressed from
    the printed context, so a user sees one line.
    """
    try:
        yield
    except ClusterError:
        raise
    except (
        ApiException,
        OpenApiException,
        ConfigException,
        urllib3.exceptions.HTTPError,
        OSError,
    ) as error:
        translated_error = translate(error, action=action)
        translated_error.__cause__ = error
        translated_error.__suppress_context__ = True
        raise translated_error from error
