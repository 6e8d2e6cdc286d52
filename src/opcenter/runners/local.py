"""`LocalExecutor`: a pool of worker threads, each supervising one child process at a time.

The work happens in child processes, so threads are enough: a slot thread takes the oldest
queued attempt (FIFO), runs it with `run_attempt`, reports the result, and takes the next. A
crash while running one attempt is logged and reported as a FAILURE of that attempt; the slot
goes on with the next one.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from opcenter.runners.base import (
    ExecutorEvents,
    InstanceResult,
    InstanceSpec,
    Outcome,
    ProcessHandle,
    call_events,
)
from opcenter.runners.runner import Runner
from opcenter.runners.sandbox import Sandbox
from opcenter.settings import DEFAULT_STOP_GRACE_SECONDS, Settings

__all__ = ["STOP_GRACE_SECONDS", "LocalExecutor"]

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = DEFAULT_STOP_GRACE_SECONDS  # between SIGTERM and SIGKILL

_Key = tuple[int, int]


@dataclass(eq=False)
class _Attempt:
    spec: InstanceSpec
    stop: threading.Event = field(default_factory=threading.Event)
    running: bool = False

    @property
    def key(self) -> _Key:
        return self.spec.instance_id, self.spec.attempt


class LocalExecutor:
    """Runs attempts in up to `slots` child processes at once, in submission order.

    Events: `on_started` when an attempt's process is launched, with its process group's handle
    (for a virtual node: with None, just before it succeeds; never for an attempt that cannot be
    started), then exactly one `on_finished` per submitted attempt, whatever happens; for an
    attempt with a process, only once its whole process group is gone. Both come from the slot
    thread running the attempt, `on_started` first; `on_finished` for an attempt dropped from
    the queue (by `stop` or `shutdown(wait=False)`) or submitted after shutdown comes from a
    separate notifier thread, never from inside the call that caused it, so callers may hold
    their own locks.
    A callback that raises is logged and ignored.
    """

    def __init__(
        self,
        slots: int | None = None,
        *,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
        runners: Mapping[int, Runner] | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.slots = slots if slots is not None else (os.cpu_count() or 1)
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, got {self.slots}")
        self.stop_grace_seconds = stop_grace_seconds
        # The default runners (and runners/attempt.py, which runs a process) are loaded by the
        # first attempt a slot runs: a run of virtual and dry-run instances never needs them.
        self._runners: dict[int, Runner] | None = dict(runners) if runners is not None else None
        self.sandbox = sandbox
        self._cond = threading.Condition()
        self._queue: deque[_Attempt] = deque()
        self._active: dict[_Key, _Attempt] = {}  # queued or running
        self._events: ExecutorEvents | None = None
        self._closing = False
        self._slot_threads: list[threading.Thread] = []
        self._notifier: threading.Thread | None = None
        self._notices: queue.SimpleQueue[InstanceResult | None] = queue.SimpleQueue()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, runners: Mapping[int, Runner] | None = None
    ) -> LocalExecutor:
        """The executor a server builds: `settings.workers` slots, the stop grace period
        `settings.stop_grace_seconds` (OPCENTER_WORKERS, OPCENTER_STOP_GRACE_SECONDS) and the
        job sandbox of the settings (runners/sandbox.py)."""
        return cls(
            settings.workers,
            stop_grace_seconds=settings.stop_grace_seconds,
            runners=runners,
            sandbox=Sandbox.from_settings(settings),
        )

    def start(self, events: ExecutorEvents) -> None:
        """Start the slot threads; events go to `events`. Raises RuntimeError if called twice."""
        with self._cond:
            if self._events is not None:
                raise RuntimeError("LocalExecutor.start called twice")
            self._events = events
        self._slot_threads = [
            _spawn(self._work, f"opcenter-slot-{number}") for number in range(1, self.slots + 1)
        ]
        self._notifier = _spawn(self._notify, "opcenter-executor-notices")

    def submit(self, spec: InstanceSpec) -> None:
        """Queue an attempt (it runs when a slot is free). After `shutdown`, the attempt is
        reported as a FAILURE instead. Raises ValueError if the same (instance_id, attempt) is
        already queued or running."""
        attempt = _Attempt(spec)
        with self._cond:
            if attempt.key in self._active:
                raise ValueError(f"instance {spec.instance_id} attempt {spec.attempt} is active")
            if not self._closing:
                self._active[attempt.key] = attempt
                self._queue.append(attempt)
                self._cond.notify()
                return
        # The notifier may have ended already; report from a thread of its own.
        result = self._dropped(spec, Outcome.FAILURE, "executor is shut down")
        _spawn(lambda: self._deliver(result), "opcenter-executor-late-notice")

    def stop(self, instance_id: int, attempt: int) -> bool:
        """Terminate a running attempt's process group (SIGTERM, SIGKILL after the grace
        period) or drop a queued one; either way it ends with an `on_finished` STOPPED.
        Returns False when the attempt is unknown or already finished."""
        with self._cond:
            found = self._active.get((instance_id, attempt))
            if found is None:
                return False
            found.stop.set()
            if found.running:
                return True
            self._queue.remove(found)
            del self._active[found.key]
        self._notices.put(self._dropped(found.spec, Outcome.STOPPED, "stopped before it started"))
        return True

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work. With `wait`, queued and running attempts run to their end; without,
        queued attempts are dropped (STOPPED) and running ones are stopped. Returns when every
        slot thread has ended, so no process of this executor is left running."""
        with self._cond:
            self._closing = True
            dropped = [] if wait else list(self._queue)
            for attempt in dropped:
                self._queue.remove(attempt)
                del self._active[attempt.key]
            if not wait:
                for attempt in self._active.values():
                    attempt.stop.set()
            self._cond.notify_all()
        for attempt in dropped:
            self._notices.put(self._dropped(attempt.spec, Outcome.STOPPED, "executor shut down"))
        current = threading.current_thread()
        for thread in self._slot_threads:
            if thread is not current:
                thread.join()
        # Only now: a `stop` that races this shutdown still gets its notice delivered.
        self._notices.put(None)
        if self._notifier is not None and self._notifier is not current:
            self._notifier.join()

    # -- slot threads ---------------------------------------------------------------------------

    def _next(self) -> _Attempt | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            attempt = self._queue.popleft()
            attempt.running = True
            return attempt

    def _work(self) -> None:
        while (attempt := self._next()) is not None:
            result: InstanceResult | None = None
            try:
                result = self._run(attempt)
            except Exception as exc:
                logger.exception("instance %s attempt %s: executor error", *attempt.key)
                message = f"executor error: {exc}"
                result = InstanceResult(*attempt.key, Outcome.FAILURE, None, message)
            finally:
                # Always release the attempt and report it: exactly one on_finished per submit.
                with self._cond:
                    self._active.pop(attempt.key, None)
                self._deliver(result or InstanceResult(*attempt.key, Outcome.FAILURE, None, ""))

    def _run(self, attempt: _Attempt) -> InstanceResult:
        # The slot thread supervises the process to its end and outlives it: it may safely be
        # the parent that the process's parent-death signal watches (runners/attempt.py).
        from opcenter.runners.attempt import run_attempt

        def started(process: ProcessHandle | None) -> None:
            self._call("on_started", attempt.spec.instance_id, attempt.spec.attempt, process)

        return run_attempt(
            attempt.spec,
            self._loaded_runners(),
            stop=attempt.stop,
            on_started=started,
            grace_seconds=self.stop_grace_seconds,
            sandbox=self.sandbox,
        )

    def _loaded_runners(self) -> dict[int, Runner]:
        with self._cond:  # two slots may start their first attempts at once
            if self._runners is None:
                from opcenter.runners.registry import default_runners

                self._runners = default_runners()
            return self._runners

    # -- events ---------------------------------------------------------------------------------

    def _dropped(self, spec: InstanceSpec, outcome: Outcome, message: str) -> InstanceResult:
        from opcenter.runners.attempt import _ended_early

        return _ended_early(spec, outcome, message)

    def _notify(self) -> None:
        while (result := self._notices.get()) is not None:
            self._deliver(result)

    def _deliver(self, result: InstanceResult) -> None:
        self._call("on_finished", result)

    def _call(self, name: str, *args: object) -> None:
        call_events(self._events, name, *args)


def _spawn(target: Callable[[], None], name: str) -> threading.Thread:
    # Daemon threads: an executor nobody shut down must not keep the interpreter alive.
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
