"""Verify and read Git push webhooks, with no HTTP server in sight.

A push webhook lets the controller sync at once instead of at the next poll. Anyone who can
reach the port can post to it, so nothing in a request is trusted before its signature or
token checks out against the shared secret:

- GitHub (and Gitea): ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw
  body keyed with the secret. ``X-GitHub-Event`` says ``push`` or ``ping``.
- GitLab: ``X-Gitlab-Token: <secret>``, the secret itself. ``X-Gitlab-Event`` says
  ``Push Hook``, ``Tag Push Hook`` or ``System Hook``.
- Flux notification-controller, Provider type ``generic-hmac``:
  ``X-Signature: <hash-function>=<hex>``, the HMAC of the raw body with the Provider
  secret's ``token``; the function is ``sha256`` today (Flux documents it may change, so
  ``sha224``, ``sha384`` and ``sha512`` are accepted too). The body is a Flux ``Event``
  whose metadata may carry a ``.../revision`` such as ``main@sha1:<commit>``.

Every comparison is constant-time (:func:`hmac.compare_digest`). The caller enforces the
body cap with :func:`check_content_length` before reading a byte of the body. Failures
raise :class:`WebhookRejected` carrying the HTTP status to answer (400, 401, 411, 413);
its message never contains the secret or the presented signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rollout.errors import RolloutError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "PushEvent",
    "WebhookRejected",
    "check_content_length",
    "read_flux_event",
    "read_git_push",
    "sign_body",
]

#: Push payloads are a few KiB; GitHub caps its own at 25 MB, but we need none of that.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

_HMAC_FUNCTIONS: dict[str, Callable[[], Any]] = {
    "sha224": hashlib.sha224,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
_COMMIT = re.compile(r"[0-9a-f]{7,64}")
_NULL_COMMIT = re.compile(r"0+")
_GITLAB_PUSH_EVENTS = frozenset({"Push Hook", "Tag Push Hook", "System Hook"})


class WebhookRejected(RolloutError):
    """A webhook request must be refused; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class PushEvent:
    """What a verified webhook said.

    ``sync`` is False for requests that only prove the hook works (GitHub ``ping``) or
    that are about something other than a push; ``branch`` and ``commit`` are None when
    the payload does not name them (the caller should then sync anyway).
    """

    provider: str
    event: str
    sync: bool
    branch: str | None = None
    commit: str | None = None
    ref: str | None = None


def check_content_length(value: str | None, *, limit: int = DEFAULT_MAX_BODY_BYTES) -> int:
    """The body length to read, from the ``Content-Length`` header, or a rejection.

    Missing: 411 (chunked bodies are not accepted, so the cap holds before reading);
    not a non-negative integer: 400; over ``limit``: 413.
    """
    if value is None:
        raise WebhookRejected(411, "a Content-Length header is required")
    text = value.strip()
    if not text.isdigit():
        raise WebhookRejected(400, "the Content-Length header is not a number")
    length = int(text)
    if length > limit:
        raise WebhookRejected(413, f"the body is larger than {limit} bytes")
    return length


def sign_body(body: bytes, secret: str, *, function: str = "sha256") -> str:
    """The ``<function>=<hex>`` HMAC signature GitHub and Flux send for ``body``."""
    digest = hmac.new(secret.encode(), body, _HMAC_FUNCTIONS[function]).hexdigest()
    return f"{function}={digest}"


# -- GitHub and GitLab ------------------------------------------------------------------


def read_git_push(headers: Mapping[str, str], body: bytes, *, secret: str) -> PushEvent:
    """Authenticate a GitHub or GitLab webhook and read the push it reports.

    The provider is told by its authentication header; a request with neither, or with
    a wrong one, is rejected with 401 before its body is parsed.
    """
    _require_secret(secret)
    github_signature = _header(headers, "X-Hub-Signature-256")
    gitlab_token = _header(headers, "X-Gitlab-Token")
    if github_signature is not None:
        _verify_hmac(github_signature, body, secret, allowed=("sha256",))
        return _read_github(_header(headers, "X-GitHub-Event") or "push", body)
    if gitlab_token is not None:
        if not hmac.compare_digest(gitlab_token.encode(), secret.encode()):
            raise WebhookRejected(401, "the X-Gitlab-Token does not match")
        return _read_gitlab(_header(headers, "X-Gitlab-Event") or "Push Hook", body)
    raise WebhookRejected(401, "no X-Hub-Signature-256 or X-Gitlab-Token header")


def _read_github(event: str, body: bytes) -> PushEvent:
    if event == "ping":
        return PushEvent(provider="github", event=event, sync=False)
    if event != "push":
        return PushEvent(provider="github", event=event, sync=False)
    payload = _json_object(body)
    ref = _optional_str(payload.get("ref"))
    return PushEvent(
        provider="github",
        event=event,
        sync=True,
        ref=ref,
        branch=_branch_of(ref),
        commit=_commit_or_none(payload.get("after")),
    )


def _read_gitlab(event: str, body: bytes) -> PushEvent:
    if event not in _GITLAB_PUSH_EVENTS:
        return PushEvent(provider="gitlab", event=event, sync=False)
    payload = _json_object(body)
    if event == "System Hook" and payload.get("event_name") not in ("push", "tag_push"):
        return PushEvent(provider="gitlab", event=event, sync=False)
    ref = _optional_str(payload.get("ref"))
    commit = _commit_or_none(payload.get("checkout_sha")) or _commit_or_none(payload.get("after"))
    return PushEvent(
        provider="gitlab", event=event, sync=True, ref=ref, branch=_branch_of(ref), commit=commit
    )


# -- Flux -------------------------------------------------------------------------------


def read_flux_event(headers: Mapping[str, str], body: bytes, *, secret: str) -> PushEvent:
    """Authenticate a Flux ``generic-hmac`` notification and read the revision it names.

    Every verified event asks for a sync: Flux sends one when its source has a new
    artifact, and a sync with nothing new costs one ``git fetch``.
    """
    _require_secret(secret)
    signature = _header(headers, "X-Signature")
    if signature is None:
        raise WebhookRejected(401, "no X-Signature header")
    _verify_hmac(signature, body, secret, allowed=tuple(_HMAC_FUNCTIONS))
    payload = _json_object(body)
    reason = _optional_str(payload.get("reason")) or "event"
    metadata = payload.get("metadata")
    revision = None
    if isinstance(metadata, dict):
        for key, value in metadata.items():
            if (key == "revision" or str(key).endswith("/revision")) and isinstance(value, str):
                revision = value
                break
    ref, commit = _split_flux_revision(revision)
    return PushEvent(
        provider="flux", event=reason, sync=True, ref=ref, branch=_branch_of(ref), commit=commit
    )


def _split_flux_revision(revision: str | None) -> tuple[str | None, str | None]:
    """``main@sha1:<hex>`` (Flux 2.x), ``main/<hex>`` (earlier) or ``sha1:<hex>``."""
    if not revision:
        return None, None
    if "@" in revision:
        ref, _, digest = revision.rpartition("@")
        return ref or None, _commit_or_none(digest.partition(":")[2] or digest)
    if revision.startswith(("sha1:", "sha256:")):
        return None, _commit_or_none(revision.partition(":")[2])
    ref, _, commit = revision.rpartition("/")
    return ref or None, _commit_or_none(commit)


# -- shared helpers ---------------------------------------------------------------------


def _require_secret(secret: str) -> None:
    if not secret:
        raise ValueError("a webhook secret must not be empty")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _verify_hmac(presented: str, body: bytes, secret: str, *, allowed: tuple[str, ...]) -> None:
    function, separator, digest = presented.strip().partition("=")
    if not separator or function not in allowed:
        raise WebhookRejected(401, "the signature header is not <hash-function>=<hex>")
    expected = hmac.new(secret.encode(), body, _HMAC_FUNCTIONS[function]).hexdigest()
    if not hmac.compare_digest(expected.encode(), digest.strip().lower().encode()):
        raise WebhookRejected(401, "the body signature does not match")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookRejected(400, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "the body is not a JSON object")
    return payload


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _branch_of(ref: str | None) -> str | None:
    """``refs/heads/main`` -> ``main``; tags and other refs name no branch."""
    if ref is None:
        return None
    if ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/") or None
    if ref.startswith("refs/"):
        return None
    return ref


def _commit_or_none(value: object) -> str | None:
    """A commit id, or None for a missing, malformed or all-zero (deleted ref) one."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not _COMMIT.fullmatch(text) or _NULL_COMMIT.fullmatch(text):
        return None
    return text
