"""The dashboard's routes: the list, one page per rollout, its live stream, and actions.

Pages are Jinja2 templates; the chart is uPlot, vendored under ``static/vendor`` so the
pages work with no network. A rollout page opens a server-sent event stream that samples
the Rollout every ``interval`` seconds and sends a point (weight, per policy the canary
and stable rates, threshold and evidence) and the rollout's state; the page updates the
chart and the text without a reload.

Every request needs a session (:mod:`rollout.dashboard.access`): without one the answer is
401 (with the sign-in form when signing in with a Kubernetes token). Reads need ``get``
and actions ``patch`` on rollouts in the rollout's namespace (always granted for a local
session, whose kubeconfig the API server judges). An action is a form POST that carries
the session's CSRF token, from a page of our own origin; it becomes the same Rollout
command the CLI's ``promote``/``abort``/``retry`` write, recorded with the user's name.
Every answer forbids caching, framing and inline script, and sends no referrer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from rollout.dashboard import views
from rollout.dashboard.access import COOKIE_NAME, SESSION_SECONDS, Gate, Session, Verb
from rollout.dashboard.history import History
from rollout.errors import NotFound, RolloutError
from rollout.ports import Stored
from rollout.state import Command

__all__ = ["ACTIONS", "DashboardReads", "dashboard_app"]

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
_FORM_LIMIT = 16 * 1024
ACTIONS = {
    "promote": "Promote past this step",
    "promote-full": "Promote fully (skip every remaining step)",
    "abort": "Abort: all traffic back to stable",
    "retry": "Retry the failed version",
}
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class DashboardReads(Protocol):
    """What the dashboard reads and writes (``rollout.kube.dashboard_reads``)."""

    def list_rollouts(self, namespace: str | None = None) -> list[Stored]: ...

    def load(self, namespace: str, name: str) -> Stored: ...

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]: ...

    def request_command(self, namespace: str, name: str, action: str, by: str) -> Command: ...


class _Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def dashboard_app(
    reads: DashboardReads, gate: Gate, *, interval: float = 2.0, history: History | None = None
) -> ASGIApp:
    """The dashboard as an ASGI app, to serve at ``/`` or mount under a prefix."""
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["clock"] = _clock
    samples = history or History(min_gap=interval / 2)

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        base = request.scope.get("root_path", "")
        full = {"base": base, "mode": gate.mode, **context}
        return templates.TemplateResponse(
            request, name, full, status_code=status, headers=_SECURITY_HEADERS
        )

    def refuse(request: Request, status: int, message: str) -> Response:
        if status == 401 and gate.mode == "kubernetes":
            return page(request, "sign_in.html", {"message": message}, 401)
        return page(request, "message.html", {"status": status, "message": message}, status)

    def session_of(request: Request) -> Session:
        session = gate.sessions.find(request.cookies.get(COOKIE_NAME))
        if session is None:
            if gate.mode == "local":
                raise _Denied(401, "open the URL that `rollout dashboard` printed")
            raise _Denied(401, "sign in with a Kubernetes bearer token")
        return session

    async def require(session: Session, verb: Verb, namespace: str) -> None:
        if not await run_in_threadpool(gate.may, session, verb, namespace):
            raise _Denied(403, f"{session.user} may not {verb} rollouts in {namespace}")

    async def index(request: Request) -> Response:
        token = request.query_params.get("token")
        if token is not None and gate.mode == "local":
            return _signed_in(request, gate.sign_in(token), next_path="/")
        session = session_of(request)
        namespace = request.query_params.get("namespace") or None
        search = request.query_params.get("q", "")
        everything = await run_in_threadpool(reads.list_rollouts, None)
        namespaces = sorted({item.namespace for item in everything})
        visible = [ns for ns in namespaces if await run_in_threadpool(gate.may, session, "get", ns)]
        if namespaces and not visible:
            raise _Denied(403, f"{session.user} may not get rollouts in any namespace")
        shown = [item for item in everything if item.namespace in visible]
        rows = views.rows(shown, search=search, namespace=namespace)
        return page(
            request,
            "list.html",
            {
                "session": session,
                "rows": rows,
                "namespaces": visible,
                "namespace": namespace or "",
                "search": search,
            },
        )

    async def rollout_page(request: Request) -> Response:
        session = session_of(request)
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        await require(session, "get", namespace)
        item = await _load(reads, namespace, name)
        try:
            events = await run_in_threadpool(reads.events, namespace, name)
        except RolloutError as error:
            log.warning("dashboard: %s", error)
            events = []
        shown = views.detail(item, events)
        may_act = await run_in_threadpool(gate.may, session, "patch", namespace)
        return page(
            request,
            "rollout.html",
            {
                "session": session,
                "d": shown,
                "actions": ACTIONS,
                "may_act": may_act,
                "done": request.query_params.get("done", ""),
            },
        )

    async def stream(request: Request) -> Response:
        session = session_of(request)
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        await require(session, "get", namespace)
        await _load(reads, namespace, name)
        key = f"{namespace}/{name}"
        return StreamingResponse(
            _events(request, session, key, namespace, name),
            media_type="text/event-stream",
            headers={**_SECURITY_HEADERS, "X-Accel-Buffering": "no"},
        )

    async def _events(
        request: Request, session: Session, key: str, namespace: str, name: str
    ) -> AsyncIterator[str]:
        sent = 0.0
        while True:
            try:
                if not await run_in_threadpool(gate.may, session, "get", namespace):
                    yield _sse("denied", {"message": "access withdrawn"})
                    return
                item = await run_in_threadpool(reads.load, namespace, name)
            except RolloutError as error:
                yield _sse("problem", {"message": str(error)})
            else:
                samples.record(key, views.chart_point(item, at=time.time()))
                points = samples.since(key, sent)
                if points:
                    sent = points[-1].at
                    yield _sse("points", [point.as_json() for point in points])
                yield _sse("state", _live_state(item))
            await asyncio.sleep(interval)

    async def act(request: Request) -> Response:
        session = session_of(request)
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        form = await _form(request)
        _check_csrf(request, session, str(form.get("csrf", "")))
        action = str(form.get("action", ""))
        if action not in ACTIONS:
            raise _Denied(400, f"unknown action {action!r}")
        await require(session, "patch", namespace)
        try:
            await run_in_threadpool(
                reads.request_command, namespace, name, action, f"{session.user} (dashboard)"
            )
        except NotFound as error:
            raise _Denied(404, str(error)) from None
        except RolloutError as error:
            raise _Denied(502, str(error)) from None
        log.info("dashboard: %s of %s/%s requested by %s", action, namespace, name, session.user)
        base = request.scope.get("root_path", "")
        return RedirectResponse(
            f"{base}/rollouts/{namespace}/{name}?{urlencode({'done': action})}",
            303,
            headers=_SECURITY_HEADERS,
        )

    async def sign_in(request: Request) -> Response:
        if gate.mode != "kubernetes":
            raise _Denied(404, "not found")
        if request.method == "GET":
            return page(request, "sign_in.html", {"message": ""}, 200)
        form = await _form(request)
        credential = str(form.get("token", ""))
        session = await run_in_threadpool(gate.sign_in, credential)
        return _signed_in(request, session, next_path="/")

    async def sign_out(request: Request) -> Response:
        session = session_of(request)
        form = await _form(request)
        _check_csrf(request, session, str(form.get("csrf", "")))
        gate.sessions.close(session.id)
        response = page(request, "message.html", {"status": 200, "message": "signed out"})
        response.delete_cookie(COOKIE_NAME, path=_cookie_path(request))
        return response

    def _signed_in(request: Request, session: Session | None, *, next_path: str) -> Response:
        if session is None:
            raise _Denied(401, "that token is not valid (a dashboard URL's token works once)")
        base = request.scope.get("root_path", "")
        response = RedirectResponse(base + next_path, 303, headers=_SECURITY_HEADERS)
        response.set_cookie(
            COOKIE_NAME,
            session.id,
            max_age=SESSION_SECONDS,
            path=_cookie_path(request),
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def static_files(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if gate.mode == "local" and gate.sessions.find(request.cookies.get(COOKIE_NAME)) is None:
            await refuse(request, 401, "no session")(scope, receive, send)
            return
        await StaticFiles(directory=str(_HERE / "static"))(scope, receive, send)

    routes = [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/sign-in", sign_in, methods=["GET", "POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Route("/rollouts/{namespace}/{name}", rollout_page, methods=["GET", "HEAD"]),
        Route("/rollouts/{namespace}/{name}/stream", stream, methods=["GET"]),
        Route("/rollouts/{namespace}/{name}/actions", act, methods=["POST"]),
        Mount("/static", app=static_files),
    ]

    async def denied(request: Request, error: Exception) -> Response:
        assert isinstance(error, _Denied)
        return refuse(request, error.status, str(error))

    async def not_found(request: Request, error: Exception) -> Response:
        if gate.sessions.find(request.cookies.get(COOKIE_NAME)) is None:
            return refuse(request, 401, "no session")
        return refuse(request, 404, "not found")

    return Starlette(routes=routes, exception_handlers={_Denied: denied, 404: not_found})


async def _load(reads: DashboardReads, namespace: str, name: str) -> Stored:
    try:
        return await run_in_threadpool(reads.load, namespace, name)
    except NotFound:
        raise _Denied(404, f"rollout {namespace}/{name} not found") from None
    except RolloutError as error:
        raise _Denied(502, str(error)) from None


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the only kind our pages send), read within a cap."""
    if int(request.headers.get("content-length") or 0) > _FORM_LIMIT:
        raise _Denied(413, "the form is too large")
    body = await request.body()
    if len(body) > _FORM_LIMIT:
        raise _Denied(413, "the form is too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items() if values}


def _check_csrf(request: Request, session: Session, presented: str) -> None:
    if not hmac.compare_digest(presented.encode(), session.csrf.encode()):
        raise _Denied(403, "the form is stale or not ours (CSRF token); reload the page")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise _Denied(403, "the request came from another site")


def _cookie_path(request: Request) -> str:
    return request.scope.get("root_path", "") or "/"


def _live_state(item: Stored) -> dict[str, Any]:
    shown = views.detail(item, ())
    return {
        "phase": shown.row.phase,
        "weight": shown.row.canary_weight,
        "stable": shown.row.stable_version,
        "canary": shown.row.canary_version,
        "verdict": shown.row.verdict,
        "reason": shown.row.verdict_reason,
        "message": shown.row.message,
        "steps": [{"text": step.text, "status": step.status} for step in shown.steps],
        "pending": shown.pending_command.action if shown.pending_command else None,
        "version": shown.row.desired_version,
        "evidence": [
            {key: str(entry.get(key, "")) for key in ("policy", "check", "outcome", "message")}
            for entry in shown.evidence
        ],
    }


def _sse(event: str, data: Sequence[Any] | Mapping[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _clock(seconds: float) -> str:
    if not seconds:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))
