"""A real local webhook receiver: where alerts land in the tests and in the demo.

A ``ThreadingHTTPServer`` on 127.0.0.1 and a free port that records every request (method,
path, headers, raw body, parsed JSON) and answers 200, unless told to fail the next N
requests with a status (and a ``Retry-After``) or to hang on them, which is how the tests
make a webhook flaky, rate-limited or dead. Given the generic webhook's signing secret, it
checks ``X-Rollout-Signature-256`` on every request and can refuse bad ones with 401.
``echo`` receives one readable line per request, so the demo can show alerts as they come.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rollout.notify.webhook import SIGNATURE_HEADER, verify_signature
from rollout_local.lifecycle import Lifecycle, ServingThread

__all__ = ["ReceivedRequest", "WebhookReceiver", "format_alert"]


@dataclasses.dataclass(frozen=True)
class ReceivedRequest:
    """One request as it arrived, and how the receiver answered it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    status: int
    hung: bool
    signature_valid: bool | None
    at: float

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclasses.dataclass(frozen=True)
class _Plan:
    status: int
    hang: float | None = None
    retry_after: str | None = None
    body: str = ""


class WebhookReceiver(Lifecycle):
    """Records webhook posts; ``start()``/``stop()`` or use it as a context manager."""

    def __init__(
        self,
        *,
        signing_secret: str | None = None,
        reject_bad_signatures: bool = False,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self._secret = signing_secret
        self._reject_bad_signatures = reject_bad_signatures
        self._echo = echo
        self._received: list[ReceivedRequest] = []
        self._plans: deque[_Plan] = deque()
        self._changed = threading.Condition()
        self._release = threading.Event()
        self._serving: ServingThread | None = None

    # lifecycle

    def start(self) -> WebhookReceiver:
        if self._serving is not None:
            return self
        self._release.clear()
        self._serving = ServingThread(
            _Server(("127.0.0.1", 0), _handler_for(self)),
            name="webhook-receiver",
            poll_interval=0.05,  # stop() waits up to one poll interval
        )
        return self

    def stop(self) -> None:
        """Stop serving; requests hanging on purpose are released first."""
        self._release.set()
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; add any path."""
        if self._serving is None:
            raise RuntimeError("the receiver is not started")
        return f"http://127.0.0.1:{self._serving.port}"

    # behaviour

    def fail_next(
        self, count: int, *, status: int = 500, retry_after: str | None = None, body: str = ""
    ) -> None:
        """Answer the next ``count`` requests with ``status`` (and ``Retry-After``)."""
        with self._changed:
            self._plans.extend(
                _Plan(status, retry_after=retry_after, body=body) for _ in range(count)
            )

    def hang_next(self, count: int, *, seconds: float = 30.0) -> None:
        """Hold the next ``count`` requests without answering, up to ``seconds`` or ``stop()``."""
        with self._changed:
            self._plans.extend(_Plan(200, hang=seconds) for _ in range(count))

    # what arrived

    @property
    def received(self) -> list[ReceivedRequest]:
        """A snapshot of every request so far, in arrival order."""
        with self._changed:
            return list(self._received)

    def clear(self) -> None:
        with self._changed:
            self._received.clear()
            self._plans.clear()

    def wait_for(self, count: int, *, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Wait until at least ``count`` requests arrived; ``TimeoutError`` otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._received) >= count, timeout):
                raise TimeoutError(
                    f"{len(self._received)} request(s) arrived within {timeout}s, {count} expected"
                )
            return list(self._received)

    # the handler's side

    def _take(self, headers: dict[str, str], body: bytes, method: str, path: str) -> _Plan:
        """Record one request and decide the answer, atomically."""
        signature_valid: bool | None = None
        if self._secret is not None:
            header = next(
                (v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None
            )
            signature_valid = verify_signature(body, header, self._secret)
        with self._changed:
            plan = self._plans.popleft() if self._plans else _Plan(200)
            if plan.hang is None and self._reject_bad_signatures and signature_valid is False:
                plan = _Plan(401, body="bad signature")
            try:
                parsed: Any = json.loads(body) if body else None
            except ValueError:
                parsed = None
            request = ReceivedRequest(
                method=method,
                path=path,
                headers=headers,
                body=body,
                json=parsed,
                status=plan.status,
                hung=plan.hang is not None,
                signature_valid=signature_valid,
                at=time.time(),
            )
            self._received.append(request)
            self._changed.notify_all()
        if self._echo is not None:
            self._echo(format_alert(request))
        return plan

    def _hang(self, seconds: float) -> None:
        self._release.wait(seconds)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops bursts of concurrent alerts


def _handler_for(receiver: WebhookReceiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key: value for key, value in self.headers.items()}
            plan = receiver._take(headers, body, self.command, self.path)
            if plan.hang is not None:
                receiver._hang(plan.hang)
            answer = (plan.body or ("ok" if plan.status < 300 else "error")).encode()
            try:
                self.send_response(plan.status)
                if plan.retry_after is not None:
                    self.send_header("Retry-After", plan.retry_after)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the client gave up (a timeout test); nothing to answer

        do_PUT = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def format_alert(request: ReceivedRequest) -> str:
    """One readable line for a received alert, whatever service's payload it carries."""
    stamp = time.strftime("%H:%M:%S", time.localtime(request.at))
    head = f"{stamp} {request.method} {request.path} -> {request.status}"
    if request.signature_valid is not None:
        head += " signed" if request.signature_valid else " BAD-SIGNATURE"
    return f"{head}  {_describe(request.json, request.body)}"


def _describe(payload: Any, raw: bytes) -> str:
    if not isinstance(payload, dict):
        return raw[:200].decode("utf-8", "replace")
    if payload.get("kind") == "RolloutEvent":
        versions = f"{payload.get('fromVersion')} -> {payload.get('toVersion')}"
        line = f"[{payload.get('event')}] {payload.get('namespace')}/{payload.get('rollout')} "
        line += versions
        if payload.get("step") is not None:
            line += f" step {payload['step']}"
        if payload.get("weight") is not None:
            line += f" weight {payload['weight']}%"
        line += f": {payload.get('summary', '')}"
        for item in payload.get("evidence") or []:
            if isinstance(item, dict) and item.get("outcome") == "fail":
                line += (
                    f" | failed {item.get('policy')}/{item.get('check')}"
                    f" value {item.get('value')} threshold {item.get('threshold')}"
                )
        return line
    if isinstance(payload.get("embeds"), list):
        return f"[discord] {payload.get('content', '')}"
    attachments = payload.get("attachments")
    if payload.get("type") == "message" and isinstance(attachments, list) and attachments:
        card = attachments[0].get("content") if isinstance(attachments[0], dict) else None
        text = card.get("fallbackText", "") if isinstance(card, dict) else ""
        return f"[teams] {text}"
    if "text" in payload:
        return f"[slack] {payload['text']}"
    return json.dumps(payload, separators=(",", ":"))[:200]
