"""Logging for the controller: every line carries the rollout, namespace and revision.

The coordinator sets the context for the rollout it is working on (``rollout_context``);
a filter copies it onto every record, so lines from the adapters (router, Prometheus,
notifiers) say which rollout they were for without passing it around. ``--log-format
json`` gives one JSON object per line for log pipelines.

With a thousand rollouts one broken dependency would repeat the same warning a thousand
times per tick, so a warning or error identical to one logged in the last minute (same
logger, message and rollout) is held back and counted; the next one let through says how
many were held back.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator

_CONTEXT: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "rollout_log_context", default=()
)
CONTEXT_FIELDS = ("rollout", "namespace", "revision")


@contextlib.contextmanager
def rollout_context(*, rollout: str, namespace: str, revision: str = "") -> Iterator[None]:
    token = _CONTEXT.set((("rollout", rollout), ("namespace", namespace), ("revision", revision)))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = dict(_CONTEXT.get())
        for field in CONTEXT_FIELDS:
            if not hasattr(record, field):
                setattr(record, field, context.get(field, ""))
        return True


class RepeatFilter(logging.Filter):
    """Let an identical warning through once per ``period`` seconds, counting the rest."""

    def __init__(self, period: float = 60.0, *, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.period = period
        self._clock = clock
        self._seen: dict[tuple[object, ...], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, record.getMessage(), _CONTEXT.get())
        now = self._clock()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < self.period:
                self._seen[key] = (last[0], last[1] + 1)
                return False
            self._seen[key] = (now, 0)
            if len(self._seen) > 10_000:
                self._forget_before(now - self.period)
        if last is not None and last[1]:
            record.msg = f"{record.getMessage()} (and {last[1]} times more in {self.period:g}s)"
            record.args = ()
        return True

    def _forget_before(self, cutoff: float) -> None:
        for key in [k for k, (at, _) in self._seen.items() if at < cutoff]:
            del self._seen[key]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, "")
            if value:
                entry[field] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        context = " ".join(
            f"{field}={value}" for field in CONTEXT_FIELDS if (value := getattr(record, field, ""))
        )
        return f"{base} [{context}]" if context else base


def configure(*, level: str = "info", fmt: str = "text") -> None:
    """Set up the root logger once for the controller process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(RepeatFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
