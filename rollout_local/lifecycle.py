"""Start and stop, once for every part of the embedded stack.

Each part (a server process, an HTTP server in a thread, the mesh agent, the whole demo
stack) is started by ``start()``, which returns the part, and stopped by ``stop()``, which
is safe to call twice; :class:`Lifecycle` turns that pair into a context manager, and
:class:`ServingThread` is the one way an HTTP server of the stack serves in the background.
"""

from __future__ import annotations

import abc
import threading
from http.server import ThreadingHTTPServer
from typing import Self

__all__ = ["Lifecycle", "ServingThread"]


class Lifecycle(abc.ABC):
    """``with part: ...`` starts the part and stops it however the block ends."""

    @abc.abstractmethod
    def start(self) -> Self:
        """Start the part; return it."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the part and release what it holds; safe to call twice."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class ServingThread:
    """An HTTP server answering from a daemon thread until :meth:`close`.

    ``poll_interval`` bounds how long :meth:`close` waits for the serving loop to notice.
    """

    def __init__(self, server: ThreadingHTTPServer, *, name: str, poll_interval: float) -> None:
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": poll_interval},
            name=name,
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self, *, timeout: float = 5.0) -> None:
        """Stop serving, close the socket, and wait for the thread."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout)
