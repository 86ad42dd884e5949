"""The controller's own endpoints as Starlette routes: probes, metrics and push hooks.

:mod:`rollout.server.http` serves these (and the dashboard's, when it is on) on uvicorn;
this module says what each path answers. Every route takes every method and answers 405
with its own ``Allow`` itself, so the header is stable (``GET, HEAD`` or ``POST``).

A hook request is checked in this order, and stops at the first failure: ``Content-Length``
present and within the cap (411/413) before the body is asked for, so uvicorn never sends
``100 Continue`` for an upload we refuse and never reads a byte of it; then the signature or
token (401); then the payload (400). A body that does not arrive within the request timeout
answers 408. Only then is ``on_push(branch, commit)`` called, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from rollout.server import hooks
from rollout.server.conditions import Conditions
from rollout.server.metrics import ControllerMetrics

__all__ = ["FLUX_HOOK_PATH", "GIT_HOOK_PATH", "HookSettings", "Probes", "PushCallback", "routes"]

logger = logging.getLogger("rollout.server.http")

GIT_HOOK_PATH = "/hooks/git"
FLUX_HOOK_PATH = "/hooks/flux"

#: Called with the pushed branch and commit (None when the payload names none).
PushCallback = Callable[[str | None, str | None], None]

_READ_METHODS = ("GET", "HEAD")
# every route takes every method and answers 405 itself, with a stable Allow header
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_NO_STORE = {"Cache-Control": "no-store"}


class Probes(Protocol):
    """What the probe and metrics routes ask: the server that owns them."""

    metrics: ControllerMetrics
    conditions: Conditions

    def is_alive(self) -> bool: ...

    def is_ready(self) -> bool: ...


@dataclass(frozen=True)
class HookSettings:
    """The push hooks' secret, callback and limits; hooks are off (404) without both."""

    secret: str | None
    on_push: PushCallback | None
    max_body_bytes: int = hooks.DEFAULT_MAX_BODY_BYTES
    request_timeout: float = 10.0

    @property
    def enabled(self) -> bool:
        return self.secret is not None and self.on_push is not None


def routes(probes: Probes, hook_settings: HookSettings) -> list[BaseRoute]:
    """The probe, metrics and hook routes, in the order Starlette matches them."""

    async def healthz(request: Request) -> Response:
        if request.method not in _READ_METHODS:
            return _method_not_allowed("GET, HEAD")
        if await _safely(probes.is_alive):
            return _text(200, "ok")
        return _text(503, "not alive")

    async def readyz(request: Request) -> Response:
        if request.method not in _READ_METHODS:
            return _method_not_allowed("GET, HEAD")
        ready, text = probes.conditions.readiness(await _safely(probes.is_ready))
        return _text(200 if ready else 503, text)

    async def metrics(request: Request) -> Response:
        if request.method not in _READ_METHODS:
            return _method_not_allowed("GET, HEAD")
        body, content_type = await run_in_threadpool(
            probes.metrics.exposition, request.headers.get("accept")
        )
        return Response(body, 200, headers=_NO_STORE, media_type=content_type)

    def hook(name: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            if request.method != "POST":
                return _method_not_allowed("POST")
            return await _hook(request, name, hook_settings, probes.metrics)

        return endpoint

    return [
        Route("/healthz", healthz, methods=_ALL_METHODS),
        Route("/readyz", readyz, methods=_ALL_METHODS),
        Route("/metrics", metrics, methods=_ALL_METHODS),
        Route(GIT_HOOK_PATH, hook("git"), methods=_ALL_METHODS),
        Route(FLUX_HOOK_PATH, hook("flux"), methods=_ALL_METHODS),
    ]


async def _hook(
    request: Request, hook: str, settings: HookSettings, metrics: ControllerMetrics
) -> Response:
    if not settings.enabled or settings.secret is None or settings.on_push is None:
        return _text(404, "push hooks are not enabled", close=True)
    try:
        length = hooks.check_content_length(
            request.headers.get("content-length"), limit=settings.max_body_bytes
        )
        body = await _read_body(request, length, settings.request_timeout)
        headers = dict(request.headers.items())
        if hook == "flux":
            event = hooks.read_flux_event(headers, body, secret=settings.secret)
        else:
            event = hooks.read_git_push(headers, body, secret=settings.secret)
    except hooks.WebhookRejected as rejected:
        return _reject(rejected, hook=hook, metrics=metrics)
    if not event.sync:
        metrics.count_webhook(hook=hook, outcome="ignored")
        return JSONResponse({"status": "ignored", "event": event.event}, headers=_NO_STORE)
    try:
        await run_in_threadpool(settings.on_push, event.branch, event.commit)
    except Exception:
        logger.exception("the push callback failed for a %s webhook", event.provider)
        metrics.count_webhook(hook=hook, outcome="error")
        return JSONResponse({"status": "error"}, 500, headers=_NO_STORE)
    logger.info(
        "%s push webhook (%s): branch %s, commit %s: sync scheduled",
        event.provider,
        event.event,
        event.branch or "-",
        event.commit or "-",
    )
    metrics.count_webhook(hook=hook, outcome="accepted")
    return JSONResponse(
        {"status": "accepted", "branch": event.branch, "commit": event.commit},
        202,
        headers=_NO_STORE,
    )


async def _read_body(request: Request, length: int, timeout: float) -> bytes:
    """The body, read only now that its length passed the checks; 408 if it stalls."""
    try:
        body = await asyncio.wait_for(request.body(), timeout)
    except TimeoutError:
        raise hooks.WebhookRejected(408, "the body did not arrive in time") from None
    except ClientDisconnect:
        raise hooks.WebhookRejected(400, "the client went away before the body ended") from None
    if len(body) != length:
        raise hooks.WebhookRejected(400, "the body ended before Content-Length bytes")
    return body


def _reject(rejected: hooks.WebhookRejected, *, hook: str, metrics: ControllerMetrics) -> Response:
    outcome = {401: "unauthorized", 413: "too_large", 411: "no_length", 408: "timeout"}.get(
        rejected.status, "bad_request"
    )
    metrics.count_webhook(hook=hook, outcome=outcome)
    logger.warning("rejected a %s webhook: %s (%d)", hook, rejected, rejected.status)
    # the body, if any, was never read (411/413) or never finished (408): close
    close = rejected.status in (408, 411, 413)
    headers = {**_NO_STORE, **({"Connection": "close"} if close else {})}
    return JSONResponse(
        {"status": "rejected", "reason": str(rejected)}, rejected.status, headers=headers
    )


async def _safely(check: Callable[[], bool]) -> bool:
    try:
        return bool(await run_in_threadpool(check))
    except Exception:
        logger.exception("a probe callback raised")
        return False


def _text(status: int, text: str, *, close: bool = False) -> Response:
    headers = {**_NO_STORE, **({"Connection": "close"} if close else {})}
    return PlainTextResponse(text + "\n", status, headers=headers)


def _method_not_allowed(allow: str) -> Response:
    return PlainTextResponse("method not allowed\n", 405, headers={**_NO_STORE, "Allow": allow})
