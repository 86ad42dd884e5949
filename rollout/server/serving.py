"""An ASGI app served by uvicorn in a background thread, on a socket bound up front.

The controller's endpoint and ``rollout dashboard`` both serve this way: the socket is
bound (and listening) before the thread starts, so ``port=0`` gives a free port that is
known at once, and :meth:`stop` returns once the port is closed. uvicorn's own logging
setup and signal handlers are left out: the process owns both.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

__all__ = ["BACKLOG", "UvicornThread"]

BACKLOG = 2048
_START_TIMEOUT = 10.0
_SHUTDOWN_GRACE_SECONDS = 2


class UvicornThread:
    """Serve ``app`` on ``host:port`` until :meth:`stop`."""

    def __init__(
        self, app: ASGIApp, *, host: str, port: int, keep_alive: float = 5.0, name: str = "http"
    ) -> None:
        self._app = app
        self._address = (host, port)
        self._keep_alive = keep_alive
        self._name = name
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(self._address)
            sock.listen(BACKLOG)  # at once: no window where another socket shares the port
        except OSError:
            sock.close()
            raise
        config = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=False,
            lifespan="off",
            http="h11",
            backlog=BACKLOG,
            server_header=False,
            timeout_keep_alive=max(1, int(self._keep_alive)),
            timeout_graceful_shutdown=_SHUTDOWN_GRACE_SECONDS,
        )
        server = uvicorn.Server(config)
        self._server, self._socket = server, sock
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"{self._name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self._name} server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and close the socket. Safe to call twice."""
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_SHUTDOWN_GRACE_SECONDS + 5)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._socket = None
        self._thread = None

    @property
    def started(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the server is not started")
        return int(self._socket.getsockname()[1])

    @property
    def host(self) -> str:
        if self._socket is None:
            return self._address[0]
        return str(self._socket.getsockname()[0])

    @property
    def url(self) -> str:
        host = self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
