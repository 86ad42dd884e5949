"""State shared by the local API server's handler threads, and the request log's records.

:class:`ServerState` bundles the resource table, the object store, watch settings and the
request log; :class:`RequestRecord` is one logged request (method, path, Kubernetes verb,
group, version, resource, namespace, name, subresource, query and status code), which
tests read through ``LocalApiServer.requests`` to list the calls a client made. With a
``request_log`` file each record is also appended to it as one JSON line as it is served, so
a reader in another process (a benchmark running the server as a child process) sees the
calls without sharing the server's interpreter.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass, field
from typing import IO

from kubelite.resources import ResourceRegistry
from kubelite.storage import ObjectStore

__all__ = ["RequestRecord", "ServerState"]


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it, for tests that list the calls a client made."""

    method: str
    path: str
    verb: str
    group: str = ""
    version: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    query: str = ""
    code: int = 0
    user_agent: str = ""


@dataclass
class ServerState:
    """What every handler thread shares: the kinds, the objects and the request log."""

    registry: ResourceRegistry
    store: ObjectStore
    bookmark_interval: float = 5.0
    default_watch_timeout: float = 1800.0
    records: list[RequestRecord] = field(default_factory=list)
    records_lock: threading.Lock = field(default_factory=threading.Lock)
    request_log: IO[str] | None = None

    def record(self, entry: RequestRecord) -> None:
        with self.records_lock:
            self.records.append(entry)
            if self.request_log is not None:
                self.request_log.write(json.dumps(dataclasses.asdict(entry)) + "\n")
                self.request_log.flush()
