"""The real kube-apiserver's request log: its audit log, read as the stand-in's records.

Tests ask "which calls did the controller make?" (least privilege, one writer, no writes
when nothing changed). The stand-in answers from its own log (:class:`kubelite.RequestRecord`);
the real server answers from its audit log, which :class:`.kube_control_plane.KubeControlPlane`
enables at level ``Metadata`` for every request. :class:`AuditLog` turns each audit event
into the same record (verb, group, version, resource, namespace, name, subresource, query,
response code, user agent), so a test reads ``server.requests`` whichever server it runs on.

The log backend writes an event as each request completes (long-running requests such as
watches when their response starts), so a read first sends a marker request and waits until
its event is in the file: every request a client finished before the read is then in the log.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubelite import RequestRecord

__all__ = ["AUDIT_POLICY", "AuditLog"]

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
"""

_METHODS = {
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETE",
}
_MARKER = "rollout-audit-marker"


def _record(event: dict[str, Any]) -> RequestRecord:
    verb = str(event.get("verb", ""))
    uri = urlsplit(str(event.get("requestURI", "")))
    target: dict[str, Any] = event.get("objectRef") or {}
    status: dict[str, Any] = event.get("responseStatus") or {}
    return RequestRecord(
        method=_METHODS.get(verb, "GET"),
        path=uri.path,
        verb=verb,
        group=str(target.get("apiGroup", "")),
        version=str(target.get("apiVersion", "")),
        resource=str(target.get("resource", "")),
        namespace=str(target.get("namespace", "")),
        name=str(target.get("name", "")),
        subresource=str(target.get("subresource", "")),
        query=uri.query,
        code=int(status.get("code", 0)),
        user_agent=str(event.get("userAgent", "")),
    )


class AuditLog:
    """Reads one audit log file from a mark onwards (see the module docstring)."""

    def __init__(self, path: Path, *, base_url: str, context: ssl.SSLContext) -> None:
        self._path = path
        self._base_url = base_url
        self._context = context
        self._start = 0
        self._since = ""
        """When the last clear's marker was received: an event logged after the mark for a
        request received before it (the log may write a finished request's event a moment
        after its response) still belongs before the clear."""

    def _flush(self, timeout: float = 10.0) -> bytes:
        """Send a marker request; return the log from the mark up to and including its event."""
        marker = uuid.uuid4().hex
        url = f"{self._base_url}/version?{_MARKER}={marker}"
        with urllib.request.urlopen(url, timeout=5, context=self._context) as response:
            response.read()
        deadline = time.monotonic() + timeout
        while True:
            with self._path.open("rb") as log:
                log.seek(self._start)
                data = log.read()
            end = data.find(marker.encode("ascii"))
            if end >= 0:
                return data[: data.find(b"\n", end) + 1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"the audit log never recorded the marker request {marker}")
            time.sleep(0.05)

    def records(self) -> list[RequestRecord]:
        """Every request since the last :meth:`clear`, oldest first (markers left out)."""
        seen: set[str] = set()
        found: list[RequestRecord] = []
        for line in self._flush().decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            event: dict[str, Any] = json.loads(line)
            audit_id = str(event.get("auditID", ""))
            if audit_id in seen or _MARKER in str(event.get("requestURI", "")):
                continue
            seen.add(audit_id)
            if str(event.get("requestReceivedTimestamp", "")) < self._since:
                continue  # received before the last clear, logged after its mark
            found.append(_record(event))
        return found

    def clear(self) -> None:
        """Forget every request so far: later reads start after them."""
        data = self._flush()
        self._start += len(data)
        for line in data.decode("utf-8", errors="replace").splitlines():
            if _MARKER in line:
                event: dict[str, Any] = json.loads(line)
                # MicroTime: fixed width, UTC, so later times compare greater as text
                self._since = str(event.get("requestReceivedTimestamp", ""))
