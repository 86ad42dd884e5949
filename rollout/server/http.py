"""The controller's HTTP endpoint: probes, metrics, Git push hooks (and the dashboard) on
one port, served by Starlette on uvicorn in a background thread.

Kubernetes probes ``/healthz`` (liveness: the process's loop is alive) and ``/readyz``
(readiness: 503 until the first successful sync and while a condition that blocks it
fails, such as the Rollout API not being served, then 200 with any other failing
condition listed as a warning: ``rollout.server.conditions``); Prometheus scrapes
``/metrics``; Git hosts and Flux post to the hook paths so a push is synced at once
instead of at the next poll:

- ``POST /hooks/git``: GitHub (``X-Hub-Signature-256``) or GitLab (``X-Gitlab-Token``)
  push webhooks;
- ``POST /hooks/flux``: Flux notification-controller's ``generic-hmac`` Provider
  (``X-Signature``), whose body is a Flux event rather than a push payload, hence a path
  of its own.

What each path answers, and the order of the hook checks (411/413 before the body, 401,
400), is :mod:`rollout.server.endpoints`. A push answers 202, a GitHub ``ping`` or another
event 200. The hooks are off (404) unless both a secret and ``on_push`` are given.

Why uvicorn rather than ``http.server``: one event loop holds every connection, so a burst
of hooks is not reset for want of threads and a client that stalls or goes away costs a
coroutine, not a thread and a ``BrokenPipe`` traceback (``bench/push_hooks.py`` measures
both). Access logs go to ``logging`` at debug level, without query strings or header
values; uvicorn's own loggers are left as the process set them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rollout.server import endpoints, hooks
from rollout.server.conditions import Conditions
from rollout.server.endpoints import FLUX_HOOK_PATH, GIT_HOOK_PATH, PushCallback
from rollout.server.metrics import ControllerMetrics
from rollout.server.serving import UvicornThread

__all__ = ["FLUX_HOOK_PATH", "GIT_HOOK_PATH", "ControllerServer", "PushCallback"]

logger = logging.getLogger(__name__)


class ControllerServer:
    """An HTTP server for probes, metrics and push hooks, plus any ``extra_routes``.

    ``is_alive`` answers the liveness probe; readiness comes from ``is_ready`` when given,
    else from the flag that :meth:`mark_ready` sets. ``port=0`` picks a free port, read
    back from :attr:`port` after :meth:`start`. ``extra_routes`` (the dashboard) are
    matched after the controller's own paths.
    """

    def __init__(
        self,
        *,
        metrics: ControllerMetrics,
        host: str = "127.0.0.1",
        port: int = 0,
        is_alive: Callable[[], bool] = lambda: True,
        is_ready: Callable[[], bool] | None = None,
        conditions: Conditions | None = None,
        on_push: PushCallback | None = None,
        hook_secret: str | None = None,
        max_body_bytes: int = hooks.DEFAULT_MAX_BODY_BYTES,
        request_timeout: float = 10.0,
        extra_routes: Sequence[BaseRoute] = (),
    ) -> None:
        if hook_secret == "":
            raise ValueError("the hook secret must not be empty; pass None to turn hooks off")
        self.metrics = metrics
        self._is_alive = is_alive
        self._is_ready = is_ready
        self._ready = threading.Event()
        self.conditions = conditions or Conditions()
        self.on_push = on_push
        self.hook_secret = hook_secret
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self._address = (host, port)
        self._extra_routes = tuple(extra_routes)
        self._serving: UvicornThread | None = None

    # -- readiness -----------------------------------------------------------------------

    def mark_ready(self, ready: bool = True) -> None:
        """Set the readiness flag (used when no ``is_ready`` callback was given)."""
        if ready:
            self._ready.set()
        else:
            self._ready.clear()

    def is_alive(self) -> bool:
        return self._is_alive()

    def is_ready(self) -> bool:
        """Whether the controller has synced (or, as a follower, may take over)."""
        if self._is_ready is not None:
            return self._is_ready()
        return self._ready.is_set()

    @property
    def hooks_enabled(self) -> bool:
        return self.hook_secret is not None and self.on_push is not None

    def app(self) -> ASGIApp:
        """The ASGI application: the controller's routes, then the extra ones."""
        hook_settings = endpoints.HookSettings(
            secret=self.hook_secret,
            on_push=self.on_push,
            max_body_bytes=self.max_body_bytes,
            request_timeout=self.request_timeout,
        )
        routes = [*endpoints.routes(self, hook_settings), *self._extra_routes]
        return _AccessLog(Starlette(routes=routes))

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> ControllerServer:
        """Bind, then serve in a background thread until :meth:`stop`; returns ``self``."""
        if self._serving is not None:
            raise RuntimeError("the controller server is already started")
        serving = UvicornThread(
            self.app(),
            host=self._address[0],
            port=self._address[1],
            keep_alive=self.request_timeout,
            name="controller-http",
        )
        serving.start()
        self._serving = serving
        logger.info("controller HTTP server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Safe to call twice."""
        if self._serving is not None:
            self._serving.stop()
        self._serving = None

    @property
    def port(self) -> int:
        if self._serving is None:
            raise RuntimeError("the controller server is not started")
        return self._serving.port

    @property
    def url(self) -> str:
        if self._serving is None:
            raise RuntimeError("the controller server is not started")
        return self._serving.url

    def __enter__(self) -> ControllerServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _AccessLog:
    """One debug line per request: client, method, path (never the query), status, time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.DEBUG):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]
        logged = [False]

        def log_once() -> None:
            if logged[0]:
                return
            logged[0] = True
            client = scope.get("client") or ("-", 0)
            logger.debug(
                "%s %s %s %s %.1fms",
                client[0],
                scope["method"],
                scope["path"],
                status[0] or "-",
                (time.perf_counter() - started) * 1000,
            )

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log_once()  # before the client can read the end of the answer
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log_once()
