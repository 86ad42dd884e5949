"""API errors as the Kubernetes API server reports them: ``Status`` objects.

Every failure the local API server answers is an :class:`ApiError` turned into a
``{"kind": "Status", "apiVersion": "v1", "status": "Failure", ...}`` body with the reason,
code and message shape of the real server (``k8s.io/apimachinery/pkg/api/errors``), so
clients that branch on ``reason`` or parse the message behave as they would on a cluster.
The constructors below name the real server's helpers (``NewNotFound``, ``NewConflict``...).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "already_exists",
    "bad_request",
    "conflict",
    "expired",
    "invalid",
    "method_not_allowed",
    "not_found",
    "rejected_patch",
    "resource_not_found",
    "success_status",
    "unsupported_media_type",
]

JsonObject = dict[str, Any]


class ApiError(Exception):
    """A request failed; carries everything needed to render the ``Status`` body."""

    def __init__(
        self,
        *,
        code: int,
        reason: str,
        message: str,
        details: JsonObject | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> JsonObject:
        """The ``Status`` object the server writes as the response body."""
        body: JsonObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(group: str, plural: str, name: str) -> JsonObject:
    details: JsonObject = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    return details


def _qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(*, group: str, plural: str, name: str) -> ApiError:
    """``virtualservices.networking.istio.io "reviews" not found`` (404)."""
    return ApiError(
        code=404,
        reason="NotFound",
        message=f'{_qualified(group, plural)} "{name}" not found',
        details=_details(group, plural, name),
    )


def resource_not_found() -> ApiError:
    """The URL names no resource this server serves (404, as for an unknown path)."""
    return ApiError(
        code=404,
        reason="NotFound",
        message="the server could not find the requested resource",
        details={},
    )


def already_exists(*, group: str, plural: str, name: str) -> ApiError:
    """``deployments.apps "web" already exists`` (409)."""
    return ApiError(
        code=409,
        reason="AlreadyExists",
        message=f'{_qualified(group, plural)} "{name}" already exists',
        details=_details(group, plural, name),
    )


def conflict(*, group: str, plural: str, name: str, cause: str | None = None) -> ApiError:
    """Optimistic concurrency failed (409 Conflict), with the real server's wording."""
    why = cause or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return ApiError(
        code=409,
        reason="Conflict",
        message=f'Operation cannot be fulfilled on {_qualified(group, plural)} "{name}": {why}',
        details=_details(group, plural, name),
    )


def invalid(
    *, kind: str, group: str, name: str, field: str, value: str, detail: str, cause: str
) -> ApiError:
    """A field failed validation (422 Invalid), shaped like ``errors.NewInvalid``.

    ``cause`` is the cause type (``FieldValueInvalid``, ``FieldValueRequired``...).
    """
    qualified_kind = f"{kind}.{group}" if group and kind else kind
    summary = f"{field}: {detail}"
    if cause == "FieldValueInvalid":
        summary = f"{field}: Invalid value: {value}: {detail}"
    elif cause == "FieldValueRequired":
        summary = f"{field}: Required value: {detail}"
    details: JsonObject = {
        "name": name,
        "causes": [{"reason": cause, "message": summary.split(": ", 1)[1], "field": field}],
    }
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    return ApiError(
        code=422,
        reason="Invalid",
        message=f'{qualified_kind} "{name}" is invalid: {summary}',
        details=details,
    )


def rejected_patch() -> ApiError:
    """A JSON patch could not be applied, e.g. a failed ``test`` op or a missing path.

    kube-apiserver 1.37 answers 422, reason ``Invalid``, a fixed message and empty details:
    the patch library's own error is not passed on.
    """
    return ApiError(
        code=422,
        reason="Invalid",
        message="the server rejected our request due to an error in our request",
        details={},
    )


def bad_request(message: str) -> ApiError:
    """A malformed request (400 BadRequest)."""
    return ApiError(code=400, reason="BadRequest", message=message)


def method_not_allowed() -> ApiError:
    """The resource does not support the verb (405 MethodNotAllowed)."""
    return ApiError(
        code=405,
        reason="MethodNotAllowed",
        message="the server does not allow this method on the requested resource",
        details={},
    )


def unsupported_media_type(accepted: list[str]) -> ApiError:
    """A patch whose content type the resource does not accept (415)."""
    return ApiError(
        code=415,
        reason="UnsupportedMediaType",
        message=(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted)
        ),
    )


def expired(*, requested: int, oldest: int) -> ApiError:
    """A watch asked for history that is gone (410 Expired)."""
    return ApiError(
        code=410,
        reason="Expired",
        message=f"too old resource version: {requested} ({oldest})",
    )


def success_status(*, group: str, plural: str, name: str, uid: str) -> JsonObject:
    """The body of a successful delete for kinds that do not return the deleted object."""
    details = _details(group, plural, name)
    details["uid"] = uid
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
