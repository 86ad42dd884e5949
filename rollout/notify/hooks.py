"""The HTTP hook caller: posts a signed ``RolloutHook`` body to a rollout's hook and reads
the answer (the ``HookCaller`` port).

A hook is a receiver like an alert target, so it shares the alerts' one posting path
(:class:`~rollout.notify.notifier.JsonPoster`: no redirects, nothing secret logged,
retries with backoff on timeouts, connection errors, 429 and 5xx) and their signature
(``X-Rollout-Signature-256``, HMAC-SHA256 of the raw body, :func:`verify_signature` on the
receiver's side). What differs is that the answer matters:

- 2xx is **yes**;
- any other 4xx is **no** (not retried: the receiver answered);
- a timeout, a refused connection, 5xx or 429 once the hook's ``retries`` are spent, or a
  URL or signing key that cannot be resolved, is **failed**.

The body is ``{"apiVersion": ..., "kind": "RolloutHook", "name": <hook>, ...}`` followed
by :meth:`rollout.ports.HookCall.as_dict`; the header ``X-Rollout-Hook`` names the kind.
``load`` hooks are nudged on two worker threads, at most one call in flight per hook of a
rollout, so a slow load generator never delays a tick.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading

from rollout import GROUP_VERSION
from rollout.errors import NotifyError, NotifyRejected
from rollout.notify.factory import resolve_signing_key, resolve_url
from rollout.notify.notifier import JsonPoster, RetryPolicy, encode_json
from rollout.notify.webhook import SIGNATURE_HEADER, sign
from rollout.ports import SecretResolver
from rollout.spec.base import seconds
from rollout.spec.hooks import Hook
from rollout.version_ports import HookAnswer, HookCall

__all__ = ["HOOK_HEADER", "HOOK_KIND", "HttpHookCaller", "hook_body", "retry_policy"]

log = logging.getLogger("rollout.hooks")

HOOK_KIND = "RolloutHook"
HOOK_HEADER = "X-Rollout-Hook"
_BACKOFF_CAP = 2.0


def hook_body(hook: Hook, call: HookCall) -> dict[str, object]:
    """The documented ``RolloutHook`` document for one call of ``hook``."""
    return {"apiVersion": GROUP_VERSION, "kind": HOOK_KIND, "name": hook.name, **call.as_dict()}


def retry_policy(hook: Hook) -> RetryPolicy:
    """``retries + 1`` attempts of ``timeout`` each, with short backoffs between them."""
    attempts = hook.retries + 1
    timeout = seconds(hook.timeout)
    return RetryPolicy(
        max_attempts=attempts,
        attempt_timeout=timeout,
        deadline=attempts * (timeout + _BACKOFF_CAP),
        backoff_base=0.2,
        backoff_cap=_BACKOFF_CAP,
    )


def _detail(error: NotifyError) -> str:
    """What the receiver or the failure said, without the poster's framing."""
    text = str(error)
    if isinstance(error, NotifyRejected):
        return text.split("rejected the alert: ", 1)[-1]
    return text.split("): ", 1)[-1]


class HttpHookCaller:
    """Calls hooks over HTTP, resolving their URLs and keys through ``resolver``."""

    def __init__(self, *, resolver: SecretResolver, load_workers: int = 2) -> None:
        self._resolver = resolver
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=load_workers, thread_name_prefix="hook-load"
        )
        self._lock = threading.Lock()
        self._in_flight: set[tuple[str, str, str]] = set()

    def call(self, hook: Hook, call: HookCall) -> HookAnswer:
        what = f"{hook.type} hook {hook.name!r}"
        try:
            url = resolve_url(hook, what=what, namespace=call.namespace, resolver=self._resolver)
            key = resolve_signing_key(
                hook, what=what, namespace=call.namespace, resolver=self._resolver
            )
            poster = JsonPoster(
                target=f"{hook.type} hook {hook.name}", url=url, policy=retry_policy(hook)
            )
            body = encode_json(hook_body(hook, call))
            headers = {HOOK_HEADER: hook.type.value}
            if key:
                headers[SIGNATURE_HEADER] = sign(body, key)
            delivery = poster.post(body, headers=headers)
        except NotifyRejected as error:
            return HookAnswer("no", _detail(error))
        except NotifyError as error:
            return HookAnswer("failed", _detail(error))
        return HookAnswer("yes", f"HTTP {delivery.status}")

    def nudge(self, hook: Hook, call: HookCall) -> None:
        key = (call.namespace, call.rollout, hook.name)
        with self._lock:
            if key in self._in_flight:
                return
            self._in_flight.add(key)
        try:
            self._pool.submit(self._load, key, hook, call)
        except RuntimeError:  # closed: the controller is stopping
            self._done(key)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _load(self, key: tuple[str, str, str], hook: Hook, call: HookCall) -> None:
        try:
            answer = self.call(hook, call)
            if not answer.approved:
                log.info("%s/%s: load hook %s: %s", key[0], key[1], hook.name, answer.detail)
        finally:
            self._done(key)

    def _done(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._in_flight.discard(key)
