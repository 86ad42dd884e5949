"""The local Kubernetes API server: lifecycle, bootstrap and the request log.

:class:`LocalApiServer` wires the resource table, the object store and the HTTP handler
into a threaded HTTP/1.1 server on 127.0.0.1. At start it creates the namespaces a new
cluster has (``default``, ``kube-system``, ``kube-public``, ``kube-node-lease``) and applies
the Istio CRDs (:mod:`.builtin_crds`) through the ordinary CRD path. Stopping wakes every
open watch so threads end promptly. ``request_log`` names a file that receives the request
log as JSON lines too (:func:`read_request_log` reads it back), for readers in another
process.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import TracebackType

from kubelite import kubeconfig
from kubelite.builtin_crds import BUILTIN_CRDS
from kubelite.handlers import ApiHttpServer
from kubelite.resources import CRD_GROUP, ResourceRegistry
from kubelite.server_state import RequestRecord, ServerState
from kubelite.storage import ObjectStore

__all__ = ["LocalApiServer", "read_request_log"]

_INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class LocalApiServer:
    """A stand-in Kubernetes API server on 127.0.0.1 (see the package docstring)."""

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        history_limit: int = 1000,
        bookmark_interval: float = 5.0,
        default_watch_timeout: float = 1800.0,
        request_log: str | Path | None = None,
    ) -> None:
        self._requested = (host, port)
        # held open for the server's life and closed by stop(), so no with-block fits
        self._request_log = (
            None if request_log is None else Path(request_log).open("a")  # noqa: SIM115
        )
        self.registry = ResourceRegistry.with_builtins()
        self.store = ObjectStore(self.registry, history_limit=history_limit)
        self._state = ServerState(
            registry=self.registry,
            store=self.store,
            bookmark_interval=bookmark_interval,
            default_watch_timeout=default_watch_timeout,
            request_log=self._request_log,
        )
        self._http: ApiHttpServer | None = None
        self._thread: threading.Thread | None = None
        self._bootstrap()

    def _bootstrap(self) -> None:
        namespaces = self.registry.by_key(("", "namespaces"))
        definitions = self.registry.by_key((CRD_GROUP, "customresourcedefinitions"))
        assert namespaces is not None and definitions is not None
        for name in _INITIAL_NAMESPACES:
            self.store.create(namespaces, "", {"metadata": {"name": name}})
        for crd in BUILTIN_CRDS:
            self.store.create(definitions, "", crd)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> LocalApiServer:
        """Listen and serve in a background thread; returns ``self``."""
        if self._http is not None:
            raise RuntimeError("the local API server is already started")
        self._http = ApiHttpServer(self._requested, self._state)
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"local-apiserver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open watches and close the socket. Safe to call twice."""
        if self._http is None:
            return
        self.store.close()
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http = None
        self._thread = None
        if self._request_log is not None:
            with self._state.records_lock:
                self._request_log.close()
                self._state.request_log = None

    def __enter__(self) -> LocalApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._requested[0]

    @property
    def port(self) -> int:
        """The bound port (the kernel's choice when constructed with ``port=0``)."""
        if self._http is None:
            raise RuntimeError("the local API server is not started")
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig for this server to ``path``; returns the path."""
        return kubeconfig.write_kubeconfig(path, server_url=self.url, namespace=namespace)

    # -- request log ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request served so far, oldest first."""
        with self._state.records_lock:
            return list(self._state.records)

    def clear_requests(self) -> None:
        with self._state.records_lock:
            self._state.records.clear()


def read_request_log(text: str) -> list[RequestRecord]:
    """The records in the text of a ``request_log`` file (a partial last line is left out)."""
    lines = text.split("\n")[:-1]
    return [RequestRecord(**json.loads(line)) for line in lines if line]
