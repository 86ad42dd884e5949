"""What every server process of the embedded stack has: a working directory, a log, a
readiness wait and a clean stop.

:class:`ServerProcess` is the base of the Envoy and Prometheus runners. It owns a fresh
temporary working directory (removed by ``stop()``) unless one is given, starts the binary
through :class:`~rollout_local.processes.child_process.ChildProcess` with its output in a log
file, waits until the subclass's readiness check passes (failing fast, with the log's tail,
when the process exits while starting), and stops it with SIGTERM, then SIGKILL after a
grace period. Subclasses say what they run and how readiness shows.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from rollout.errors import RolloutError
from rollout_local.lifecycle import Lifecycle
from rollout_local.processes.child_process import ChildProcess

__all__ = ["ServerProcess"]


class ServerProcess(Lifecycle):
    """One server process on loopback with its own working directory and log file."""

    #: the process's name in messages, as its command is spelled: ``envoy``
    name: ClassVar[str]
    #: the exception raised when the process cannot be started or reached
    error: ClassVar[type[RolloutError]]
    #: the log file's name in the working directory
    log_name: ClassVar[str]
    #: how often the readiness check runs while starting
    ready_poll_seconds: ClassVar[float] = 0.1
    #: how long ``stop()`` waits after SIGTERM before SIGKILL
    stop_grace_seconds: ClassVar[float] = 10.0

    def __init__(
        self,
        *,
        binary: str | None,
        workdir: Path | None,
        ready_timeout: float,
        die_with_parent: bool,
    ) -> None:
        self._binary = binary
        self._owns_workdir = workdir is None
        self._workdir = workdir
        self._ready_timeout = ready_timeout
        self._die_with_parent = die_with_parent
        self._child = ChildProcess()

    def _not_started(self) -> RolloutError:
        return self.error(f"{self.name} is not started")

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise self._not_started()
        return self._workdir

    @property
    def log_path(self) -> Path:
        return self.workdir / self.log_name

    @property
    def running(self) -> bool:
        return self._child.running

    @property
    def pid(self) -> int | None:
        return self._child.pid

    def _log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except (OSError, RolloutError):
            return []

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the process's log, for error messages."""
        return "\n".join(self._log_lines()[-lines:])

    def _prepare_workdir(self, *, install_hint: str) -> Path:
        """Check that the binary exists and make the working directory; return it."""
        if self._binary is None:
            raise self.error(f"{self.name} is not installed: {install_hint}")
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix=f"rollout-{self.name}-"))
        self._workdir.mkdir(parents=True, exist_ok=True)
        return self._workdir

    def _spawn(self, arguments: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        self._child.start(
            [str(self._binary), *arguments],
            log_path=self.log_path,
            cwd=self.workdir,
            env=env,
            die_with_parent=self._die_with_parent,
        )

    def _wait_ready(self, is_ready: Callable[[], bool]) -> None:
        """Poll ``is_ready`` until it passes; raise with the log's tail if the process exits
        or the time runs out."""
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if self._child.exited:
                raise self.error(
                    f"{self.name} exited with code {self._child.returncode} while starting:\n"
                    + self.log_tail()
                )
            if is_ready():
                return
            time.sleep(self.ready_poll_seconds)
        raise self.error(
            f"{self.name} was not ready within {self._ready_timeout:.0f}s:\n{self.log_tail()}"
        )

    def stop(self, *, grace: float | None = None) -> None:
        """Terminate (kill after ``grace`` seconds), reap, and remove an owned workdir."""
        self._terminate(grace=self.stop_grace_seconds if grace is None else grace)
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _terminate(self, *, grace: float) -> None:
        """Stop the process only (a failed start retries in the same working directory)."""
        self._child.terminate(grace=grace)
