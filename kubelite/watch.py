"""Watches: the stream of ``{"type": ..., "object": ...}`` events behind ``?watch=true``.

:func:`run_watch` produces the events of one watch request and hands each to ``send``; the
HTTP handler frames them as chunked, newline-delimited JSON. Semantics follow the real
server:

- no ``resourceVersion`` (or ``"0"``): synthetic ``ADDED`` events for the current objects
  first, then changes; with ``sendInitialEvents=true`` and bookmarks allowed, a ``BOOKMARK``
  annotated ``k8s.io/initial-events-end`` marks the end of the initial list;
- a ``resourceVersion``: every change after it, from the kind's bounded history; if that
  history no longer reaches back so far, the stream carries one ``ERROR`` event holding a
  410 ``Expired`` Status (HTTP 200, as the watch cache answers) and ends;
- label and field selectors filter events; an object that stops (starts) matching is sent
  as ``DELETED`` (``ADDED``);
- ``timeoutSeconds`` ends the stream; with ``allowWatchBookmarks=true`` a ``BOOKMARK``
  carrying the current resourceVersion is sent every ``bookmark_interval`` seconds;
- the stream also ends when the client hangs up or the server stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelite import selectors, status, tables
from kubelite.resources import ResourceType
from kubelite.storage import ObjectStore

__all__ = ["WatchRequest", "run_watch"]

JsonObject = dict[str, Any]
_LIVENESS_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class WatchRequest:
    """One watch: what to watch, from where, for how long, and how to print objects."""

    resource: ResourceType
    version: str
    namespace: str | None
    matchers: list[selectors.Matcher]
    resource_version: str
    timeout_seconds: float
    allow_bookmarks: bool
    send_initial_events: bool
    bookmark_interval: float
    as_table: bool = False
    include_object: str = "Metadata"


def _visible(request: WatchRequest, obj: JsonObject | None) -> bool:
    if obj is None:
        return False
    namespace = obj.get("metadata", {}).get("namespace", "")
    if request.namespace is not None and namespace != request.namespace:
        return False
    return selectors.match_all(request.matchers, obj)


def _present(request: WatchRequest, obj: JsonObject, *, first: bool) -> JsonObject:
    shown = dict(obj)
    shown["apiVersion"] = request.resource.api_version(request.version)
    if request.as_table:
        return tables.table_for(
            request.resource,
            [shown],
            resource_version=str(obj.get("metadata", {}).get("resourceVersion", "")),
            include_object=request.include_object,
            with_headers=first,
        )
    return shown


def _bookmark(request: WatchRequest, revision: int, *, initial_end: bool = False) -> JsonObject:
    metadata: JsonObject = {"resourceVersion": str(revision)}
    if initial_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {
        "type": "BOOKMARK",
        "object": {
            "kind": request.resource.kind,
            "apiVersion": request.resource.api_version(request.version),
            "metadata": metadata,
        },
    }


def start_revision(resource_version: str) -> int | None:
    """The revision a watch resumes after, ``None`` to start from the current objects."""
    if resource_version in ("", "0"):
        return None
    try:
        revision = int(resource_version)
    except ValueError as error:
        raise status.bad_request(f"invalid resource version: {resource_version!r}") from error
    if revision < 0:
        raise status.bad_request(f"invalid resource version: {resource_version!r}")
    return revision


def run_watch(
    store: ObjectStore,
    request: WatchRequest,
    *,
    send: Callable[[JsonObject], None],
    client_gone: Callable[[], bool],
) -> None:
    """Send the watch's events until timeout, hang-up or server stop."""
    deadline = time.monotonic() + request.timeout_seconds
    first = True
    after = start_revision(request.resource_version)
    if after is None or request.send_initial_events:
        items, after = store.list_objects(request.resource, request.namespace)
        for obj in items:
            if _visible(request, obj):
                send({"type": "ADDED", "object": _present(request, obj, first=first)})
                first = False
        if request.send_initial_events and request.allow_bookmarks:
            send(_bookmark(request, after, initial_end=True))
    last_bookmark = time.monotonic()
    while not store.closed and not client_gone():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            events, complete_to = store.wait_for_events(
                request.resource, after=after, timeout=min(remaining, _LIVENESS_POLL_SECONDS)
            )
        except status.ApiError as error:
            send({"type": "ERROR", "object": error.to_status()})
            return
        for event in events:
            was, now = _visible(request, event.previous), _visible(request, event.object)
            if event.type == "DELETED":
                kind = "DELETED" if was else ""
            elif was and now:
                kind = event.type
            elif now:
                kind = "ADDED"
            elif was:
                kind = "DELETED"
            else:
                kind = ""
            if kind:
                send({"type": kind, "object": _present(request, event.object, first=first)})
                first = False
        after = max(after, complete_to)
        if (
            request.allow_bookmarks
            and time.monotonic() - last_bookmark >= request.bookmark_interval
        ):
            send(_bookmark(request, after))
            last_bookmark = time.monotonic()
