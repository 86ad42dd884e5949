"""The notifier contract and the one HTTP posting path every notifier shares.

A ``Notifier`` turns a ``rollout.events.Notification`` into one service's payload and
delivers it, raising ``rollout.errors.NotifyError`` subclasses and nothing else.

``JsonPoster`` is the delivery: retries with exponential backoff and full jitter on timeouts,
connection errors, 5xx and 429 (429 and 503 honour ``Retry-After``), no retry on other 4xx,
a timeout per attempt and a deadline over all of them.

It is built on the standard library's ``urllib.request``, not on ``requests``: webhook URLs
carry their credentials in the path or query, and ``requests`` goes through urllib3, whose
``urllib3.connectionpool`` logger writes every request path at DEBUG, so a controller run
with debug logging would leak Slack and Discord tokens. The standard library logs nothing.
Alerts are a handful of requests, so connection pooling does not matter. Our opener has only
the proxy, HTTP and HTTPS handlers: no ``file:`` or ``ftp:`` URLs, and no redirect following
(a redirect is reported as a rejection, never replayed to another host).

Secrets never reach a log line or an error message: both name the target and the scrubbed
``scheme://host:port`` only, and third-party exceptions (whose text may hold the URL) are
reduced to their kind and raised ``from None``.
"""

from __future__ import annotations

import abc
import dataclasses
import email.utils
import http.client
import json
import logging
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from rollout import __version__
from rollout.errors import NotifyConfigError, NotifyRejected, NotifyUnavailable
from rollout.events import Notification

__all__ = [
    "DEFAULT_POLICY",
    "Delivery",
    "JsonPoster",
    "Notifier",
    "PayloadNotifier",
    "RetryPolicy",
    "encode_json",
    "scrub_url",
]

log = logging.getLogger("rollout.notify")

_USER_AGENT = f"rollout-controller/{__version__}"
_RESPONSE_SNIPPET = 200


@runtime_checkable
class Notifier(Protocol):
    """Delivers one notification to one alert target."""

    @property
    def target(self) -> str:
        """The alert target's name, the only identity that may be logged."""
        ...

    def send(self, notification: Notification) -> None:
        """Deliver or raise a ``NotifyError`` subclass."""
        ...


class PayloadNotifier(abc.ABC):
    """Posts one chat service's payload, built from the notification, to one webhook.

    Slack, Teams and Discord differ only in the payload: each subclass names its builder.
    """

    @staticmethod
    @abc.abstractmethod
    def payload(notification: Notification) -> dict[str, Any]:
        """The JSON body this service's webhook accepts for ``notification``."""

    def __init__(self, *, poster: JsonPoster) -> None:
        self._poster = poster

    @property
    def target(self) -> str:
        return self._poster.target

    def send(self, notification: Notification) -> None:
        self._poster.post_json(self.payload(notification))


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How hard one alert is tried. Sleeps are ``uniform(0, min(cap, base * 2**retry))``."""

    max_attempts: int = 5
    attempt_timeout: float = 5.0
    deadline: float = 30.0
    backoff_base: float = 0.5
    backoff_cap: float = 8.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2.0**retry))


DEFAULT_POLICY = RetryPolicy()


@dataclasses.dataclass(frozen=True)
class Delivery:
    """A successful post: the status the receiver answered and what it took."""

    status: int
    attempts: int
    elapsed: float


def scrub_url(url: str) -> str:
    """``scheme://host[:port]``: the part of a webhook URL that holds no credential."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def encode_json(payload: object) -> bytes:
    """The exact bytes sent: compact UTF-8 JSON, keys in the order given."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _opener() -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
    ):
        opener.add_handler(handler)
    return opener


def _retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class _Retryable(Exception):
    """One failed attempt that may be tried again; ``wait`` is a server-requested delay."""

    def __init__(self, reason: str, *, wait: float | None = None) -> None:
        self.reason = reason
        self.wait = wait
        super().__init__(reason)


class JsonPoster:
    """Posts JSON bodies to one webhook URL for one target, with retries.

    The URL is checked here (http or https with a host) so a bad target fails before any
    request, with ``NotifyConfigError``.
    """

    def __init__(
        self,
        *,
        target: str,
        url: str,
        policy: RetryPolicy = DEFAULT_POLICY,
        rng: random.Random | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotifyConfigError(f"alert target {target!r}: the URL is not an http(s) URL")
        if any(char.isspace() or not char.isprintable() for char in url):
            raise NotifyConfigError(
                f"alert target {target!r}: the URL contains whitespace or control characters"
            )
        self.target = target
        self.host = scrub_url(url)
        self._url = url
        self._policy = policy
        self._rng = rng or random.Random()
        self._opener = _opener()

    def post(self, body: bytes, *, headers: Mapping[str, str] | None = None) -> Delivery:
        """Post ``body`` (already-encoded JSON) until it is accepted or the policy gives up."""
        policy = self._policy
        started = time.monotonic()
        deadline = started + policy.deadline
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            try:
                status = self._attempt(body, headers or {}, min(policy.attempt_timeout, remaining))
            except _Retryable as failure:
                wait = (
                    failure.wait
                    if failure.wait is not None
                    else policy.backoff(attempt - 1, self._rng)
                )
                left = deadline - time.monotonic()
                if attempt >= policy.max_attempts or wait >= left:
                    why = "attempts" if attempt >= policy.max_attempts else "deadline"
                    log.warning(
                        "alert to target %s (%s) failed after %d attempt(s), %s exhausted: %s",
                        self.target,
                        self.host,
                        attempt,
                        why,
                        failure.reason,
                    )
                    raise NotifyUnavailable(
                        f"alert target {self.target!r} ({self.host}): gave up after "
                        f"{attempt} attempt(s), {why} exhausted; last: {failure.reason}"
                    ) from None
                log.info(
                    "alert to target %s (%s): attempt %d failed (%s); retrying in %.2fs",
                    self.target,
                    self.host,
                    attempt,
                    failure.reason,
                    wait,
                )
                time.sleep(wait)
                continue
            elapsed = time.monotonic() - started
            log.info(
                "alert to target %s (%s) accepted with %d after %d attempt(s) in %.2fs",
                self.target,
                self.host,
                status,
                attempt,
                elapsed,
            )
            return Delivery(status=status, attempts=attempt, elapsed=elapsed)

    def post_json(self, payload: object) -> Delivery:
        """Post ``payload`` encoded as compact UTF-8 JSON."""
        return self.post(encode_json(payload))

    def _attempt(self, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        request = urllib.request.Request(self._url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("User-Agent", _USER_AGENT)
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            with self._opener.open(request, timeout=max(timeout, 0.001)) as response:
                status = int(response.status)
                snippet = response.read(_RESPONSE_SNIPPET + 1)
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            raise _Retryable(f"timed out after {timeout:.2f}s") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise _Retryable(f"timed out after {timeout:.2f}s") from None
            raise _Retryable(f"connection failed ({type(error.reason).__name__})") from None
        except http.client.InvalidURL:
            raise NotifyConfigError(f"alert target {self.target!r}: invalid URL") from None
        except (OSError, http.client.HTTPException) as error:
            raise _Retryable(f"connection failed ({type(error).__name__})") from None
        if 200 <= status < 300:
            return status
        detail = self._snippet(snippet)
        if status == 429 or status >= 500:
            wait = _retry_after(retry_after, now=time.time()) if status in (429, 503) else None
            raise _Retryable(f"HTTP {status}{detail}", wait=wait)
        log.warning(
            "alert to target %s (%s) rejected with HTTP %d%s",
            self.target,
            self.host,
            status,
            detail,
        )
        raise NotifyRejected(
            f"alert target {self.target!r} ({self.host}) rejected the alert: HTTP {status}{detail}",
            status=status,
        )

    def _snippet(self, raw: bytes) -> str:
        """A short, printable excerpt of a response body, with the URL scrubbed out."""
        text = raw[:_RESPONSE_SNIPPET].decode("utf-8", "replace").strip()
        parts = urllib.parse.urlsplit(self._url)
        for secret in (self._url, parts.path, parts.query):
            if secret and secret != "/":
                text = text.replace(secret, "<redacted>")
        text = " ".join(text.split())
        return f": {text}" if text else ""
