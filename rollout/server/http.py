"""The controller's HTTP endpoint: probes, metrics and Git push hooks on one port.

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

A hook request is checked in this order, and stops at the first failure: ``Content-Length``
present and within the cap (411/413, before a byte of the body is read, and before
``100 Continue`` when the client asks for it), the signature or token (401), the payload
(400). Only then is ``on_push(branch, commit)`` called; it must only schedule the sync and
return. A push answers 202, a GitHub ``ping`` or another event 200. The hooks are off (404)
unless both a secret and ``on_push`` are given. Access logs go to ``logging`` at debug
level, without query strings or header values.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from rollout.server import hooks
from rollout.server.conditions import Conditions
from rollout.server.metrics import ControllerMetrics

__all__ = ["FLUX_HOOK_PATH", "GIT_HOOK_PATH", "ControllerServer", "PushCallback"]

logger = logging.getLogger(__name__)

GIT_HOOK_PATH = "/hooks/git"
FLUX_HOOK_PATH = "/hooks/flux"

#: Called with the pushed branch and commit (None when the payload names none).
PushCallback = Callable[[str | None, str | None], None]

_PROBE_PATHS = ("/healthz", "/readyz", "/metrics")
_HOOK_PATHS = (GIT_HOOK_PATH, FLUX_HOOK_PATH)


class ControllerServer:
    """A threaded HTTP server for probes, metrics and push hooks.

    ``is_alive`` answers the liveness probe; readiness comes from ``is_ready`` when given,
    else from the flag that :meth:`mark_ready` sets. ``port=0`` picks a free port, read
    back from :attr:`port` after :meth:`start`.
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
    ) -> None:
        if hook_secret == "":
            raise ValueError("the hook secret must not be empty; pass None to turn hooks off")
        self.metrics = metrics
        self.is_alive = is_alive
        self._is_ready = is_ready
        self._ready = threading.Event()
        self.conditions = conditions or Conditions()
        self.on_push = on_push
        self.hook_secret = hook_secret
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self._address = (host, port)
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- readiness -----------------------------------------------------------------------

    def mark_ready(self, ready: bool = True) -> None:
        """Set the readiness flag (used when no ``is_ready`` callback was given)."""
        if ready:
            self._ready.set()
        else:
            self._ready.clear()

    def is_ready(self) -> bool:
        """Whether the controller has synced (or, as a follower, may take over)."""
        if self._is_ready is not None:
            return self._is_ready()
        return self._ready.is_set()

    @property
    def hooks_enabled(self) -> bool:
        return self.hook_secret is not None and self.on_push is not None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> ControllerServer:
        """Bind and serve in a background thread; returns ``self``."""
        if self._http is not None:
            raise RuntimeError("the controller server is already started")
        self._http = _HttpServer(self._address, self)
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"controller-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("controller HTTP server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Safe to call twice."""
        if self._http is None:
            return
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("the controller server is not started")
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._http.server_address[0]) if self._http else self._address[0]
        return f"http://{host}:{self.port}"

    def __enter__(self) -> ControllerServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], owner: ControllerServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "rollout-controller"
    sys_version = ""

    def setup(self) -> None:
        self._started = time.perf_counter()
        super().setup()
        # a slow or stalled client cannot hold a worker thread for longer than this
        self.connection.settimeout(self.server.owner.request_timeout)

    @property
    def owner(self) -> ControllerServer:
        return self.server.owner

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    # -- dispatch ------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._started = time.perf_counter()
        if self.route == "/healthz":
            self._probe(self._safely(self.owner.is_alive), "ok", "not alive")
        elif self.route == "/readyz":
            ready, text = self.owner.conditions.readiness(self._safely(self.owner.is_ready))
            self._send_text(HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE, text)
        elif self.route == "/metrics":
            body, content_type = self.owner.metrics.exposition(self.headers.get("Accept"))
            self._send(HTTPStatus.OK, body, content_type)
        elif self.route in _HOOK_PATHS:
            self._method_not_allowed("POST")
        else:
            self._send_text(HTTPStatus.NOT_FOUND, "not found")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self._started = time.perf_counter()
        if self.route in _PROBE_PATHS:
            self._method_not_allowed("GET, HEAD")
        elif self.route in _HOOK_PATHS:
            self._hook()
        else:
            self._send_text(HTTPStatus.NOT_FOUND, "not found")

    def do_PUT(self) -> None:
        self._unsupported()

    def do_DELETE(self) -> None:
        self._unsupported()

    def do_PATCH(self) -> None:
        self._unsupported()

    def _unsupported(self) -> None:
        self._started = time.perf_counter()
        if self.route in _HOOK_PATHS:
            self._method_not_allowed("POST")
        elif self.route in _PROBE_PATHS:
            self._method_not_allowed("GET, HEAD")
        else:
            self._send_text(HTTPStatus.NOT_FOUND, "not found")
        self.close_connection = True

    def handle_expect_100(self) -> bool:
        """Refuse an oversized or unauthenticated-by-construction upload before its body."""
        if self.command == "POST" and self.route in _HOOK_PATHS and self.owner.hooks_enabled:
            try:
                hooks.check_content_length(
                    self.headers.get("Content-Length"), limit=self.owner.max_body_bytes
                )
            except hooks.WebhookRejected as rejected:
                self._reject(rejected, hook=self._hook_name())
                return False
        return super().handle_expect_100()

    # -- hooks ---------------------------------------------------------------------------

    def _hook_name(self) -> str:
        return "flux" if self.route == FLUX_HOOK_PATH else "git"

    def _hook(self) -> None:
        owner, hook = self.owner, self._hook_name()
        if not owner.hooks_enabled or owner.hook_secret is None or owner.on_push is None:
            self.close_connection = True
            self._send_text(HTTPStatus.NOT_FOUND, "push hooks are not enabled")
            return
        try:
            length = hooks.check_content_length(
                self.headers.get("Content-Length"), limit=owner.max_body_bytes
            )
            body = self.rfile.read(length)
            if len(body) != length:
                raise hooks.WebhookRejected(400, "the body ended before Content-Length bytes")
            headers = dict(self.headers.items())
            if hook == "flux":
                event = hooks.read_flux_event(headers, body, secret=owner.hook_secret)
            else:
                event = hooks.read_git_push(headers, body, secret=owner.hook_secret)
        except hooks.WebhookRejected as rejected:
            self._reject(rejected, hook=hook)
            return
        if not event.sync:
            owner.metrics.count_webhook(hook=hook, outcome="ignored")
            self._send_json(HTTPStatus.OK, {"status": "ignored", "event": event.event})
            return
        try:
            owner.on_push(event.branch, event.commit)
        except Exception:
            logger.exception("the push callback failed for a %s webhook", event.provider)
            owner.metrics.count_webhook(hook=hook, outcome="error")
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"status": "error"})
            return
        logger.info(
            "%s push webhook (%s): branch %s, commit %s: sync scheduled",
            event.provider,
            event.event,
            event.branch or "-",
            event.commit or "-",
        )
        owner.metrics.count_webhook(hook=hook, outcome="accepted")
        self._send_json(
            HTTPStatus.ACCEPTED,
            {"status": "accepted", "branch": event.branch, "commit": event.commit},
        )

    def _reject(self, rejected: hooks.WebhookRejected, *, hook: str) -> None:
        outcome = {401: "unauthorized", 413: "too_large", 411: "no_length"}.get(
            rejected.status, "bad_request"
        )
        self.owner.metrics.count_webhook(hook=hook, outcome=outcome)
        logger.warning("rejected a %s webhook: %s (%d)", hook, rejected, rejected.status)
        if rejected.status in (411, 413):
            self.close_connection = True  # the body, if any, was never read
        self._send_json(
            HTTPStatus(rejected.status), {"status": "rejected", "reason": str(rejected)}
        )

    # -- responses -----------------------------------------------------------------------

    def _safely(self, check: Callable[[], bool]) -> bool:
        try:
            return bool(check())
        except Exception:
            logger.exception("a probe callback raised")
            return False

    def _probe(self, healthy: bool, good: str, bad: str) -> None:
        if healthy:
            self._send_text(HTTPStatus.OK, good)
        else:
            self._send_text(HTTPStatus.SERVICE_UNAVAILABLE, bad)

    def _method_not_allowed(self, allow: str) -> None:
        self._send_text(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed", allow=allow)

    def _send_text(self, status: HTTPStatus, text: str, *, allow: str | None = None) -> None:
        self._send(status, (text + "\n").encode(), "text/plain; charset=utf-8", allow=allow)

    def _send_json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, *, allow: str | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if allow is not None:
            self.send_header("Allow", allow)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # -- access log ----------------------------------------------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if logger.isEnabledFor(logging.DEBUG):
            elapsed_ms = (time.perf_counter() - self._started) * 1000
            logger.debug(
                "%s %s %s %s %.1fms",
                self.address_string(),
                self.command,
                self.route,
                getattr(code, "value", code),
                elapsed_ms,
            )

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http: " + format, *args)
