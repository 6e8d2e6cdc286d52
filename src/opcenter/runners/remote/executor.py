"""`CeleryExecutor`: the scheduler's side of running attempts on Celery workers.

`submit` records the attempt as a queued `worker_attempt` row (committed first), then sends the
message to the queue of the node's resource group. A watcher thread reads the rows of running and
finished attempts a few times a second (one indexed query, runners/remote/rows.py) and turns them
into `on_started` / `on_finished`. An attempt whose heartbeat has not moved for `stale_seconds`
(measured on this process's own clock, so no clock skew between machines matters) is finished
INTERRUPTED by a compare-and-set, and reported as a FAILURE: the engine's automatic-rerun rules
apply to it once, like to any interrupted attempt. `stop` sets the row's `stop_requested`; the
worker kills the attempt's process group and only then finishes the row, so the instance leaves
RUNNING after its group is gone.

`shutdown` stops the watching only: attempts keep running on their workers, and the next leader
adopts them (`adopt`, called by the engine after its recovery) and waits for their results.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opcenter.context import now_ms
from opcenter.runners.base import ExecutorEvents, InstanceResult, InstanceSpec, Outcome, call_events
from opcenter.runners.logs import format_log_line
from opcenter.runners.remote import rows
from opcenter.runners.remote.app import TASK_NAME, make_app
from opcenter.runners.remote.wire import encode_spec, queue_of
from opcenter.store.db import Database

__all__ = ["DEFAULT_STALE_SECONDS", "WATCH_SECONDS", "CeleryExecutor"]

logger = logging.getLogger(__name__)

DEFAULT_STALE_SECONDS = 10.0  # an attempt whose heartbeat stands still this long is interrupted
WATCH_SECONDS = 0.2  # how often the watcher reads the worker rows
_SLOTS_SECONDS = 1.0  # how often the workers' slots are counted again
_LOG_NAME = re.compile(r"^(\d+)\.(\d+)\.log$")


@dataclass
class _Tracked:
    started: bool = False
    beat: int | None = None  # the heartbeat value last seen
    beat_seen: float = 0.0  # when it was last seen to change (monotonic, this process)


class CeleryExecutor:
    """Runs attempts on `opcenter worker` processes through the broker at `broker_url`.

    `slots` is the number of slots of the workers that heartbeat (their `--concurrency`,
    summed), so the engine hands over no more attempts than the workers can start; with no
    worker up it is 0 and claimed instances wait (WAIT_RESOURCE)."""

    def __init__(
        self,
        db: Database,
        broker_url: str,
        *,
        stale_seconds: float = DEFAULT_STALE_SECONDS,
        watch_seconds: float = WATCH_SECONDS,
    ) -> None:
        self.db = db
        self.broker_url = broker_url
        self.stale_seconds = stale_seconds
        self.watch_seconds = watch_seconds
        self.slots = 0
        self.sandbox = None  # jobs are confined on the workers
        self._app = make_app(broker_url)
        self._lock = threading.Lock()
        self._active: dict[rows.Key, _Tracked] = {}
        self._events: ExecutorEvents | None = None
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._slots_at = 0.0

    # -- the Executor protocol --------------------------------------------------------------

    def start(self, events: ExecutorEvents) -> None:
        """Start the watcher thread; events go to `events`."""
        if self._events is not None:
            raise RuntimeError("CeleryExecutor.start called twice")
        self._events = events
        self._count_slots()
        self._thread = threading.Thread(
            target=self._watch, name="opcenter-celery-watch", daemon=True
        )
        self._thread.start()

    def submit(self, spec: InstanceSpec) -> None:
        """Record the attempt queued, then send its message. Raises when the broker cannot take
        it (the engine then records the attempt FAILURE: the row is closed first)."""
        key = (spec.instance_id, spec.attempt)
        with self._lock:
            if key in self._active:
                raise ValueError(f"instance {spec.instance_id} attempt {spec.attempt} is active")
            self._active[key] = _Tracked(beat_seen=time.monotonic())
        queue, payload = queue_of(spec), encode_spec(spec)
        try:
            with self.db.transaction() as session:
                rows.queue(session, key, queue, json.dumps(payload), now_ms())
            self._app.send_task(TASK_NAME, args=[payload], queue=queue)
        except Exception:
            with self._lock:
                self._active.pop(key, None)
            self._close_unsent(key)
            raise

    def stop(self, instance_id: int, attempt: int) -> bool:
        """Ask the worker running the attempt to kill its process group (or drop it before a
        worker claims it); the result comes through the watcher. False when it is unknown or
        finished."""
        with self.db.transaction() as session:
            state = rows.request_stop(session, (instance_id, attempt), now_ms())
        return state is not None

    def shutdown(self, wait: bool = True) -> None:
        """Stop watching. Remote attempts go on running; the next leader adopts them."""
        self._closing.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # -- beyond the protocol: handover and logs ---------------------------------------------

    def adopt(self, attempts: dict[rows.Key, str]) -> None:
        """Take over attempts a previous leader handed to workers (key → row state): wait for
        their results; re-send the message of a queued one (the previous leader may have died
        between recording it and sending it; a duplicate is dropped by the claim)."""
        for key, state in attempts.items():
            with self._lock:
                self._active[key] = _Tracked(beat_seen=time.monotonic())
            if state != rows.QUEUED:
                continue
            with self.db.transaction(readonly=True) as session:
                found = rows.queued_message(session, key)
            if found is not None:
                queue, payload = found
                self._app.send_task(TASK_NAME, args=[json.loads(payload)], queue=queue)

    def write_lines(self, path: Path, lines: list[str]) -> None:
        """The engine's own lines of an attempt's log (its header, how it ended) go into the
        store, where the worker writes the job's output, so every API process reads one log."""
        match = _LOG_NAME.match(Path(path).name)
        if match is None:
            return
        key = (int(match.group(1)), int(match.group(2)))
        data = "".join(format_log_line(line) for line in lines).encode("utf-8")
        with self.db.transaction() as session:
            rows.append_chunk(session, key, data, now_ms())

    # -- internals ----------------------------------------------------------------------------

    def _close_unsent(self, key: rows.Key) -> None:
        try:
            with self.db.transaction() as session:
                rows.request_stop(session, key, now_ms())
                rows.mark_reported(session, [key])
        except Exception:
            logger.exception("instance %s attempt %s: cannot close its unsent row", *key)

    def _watch(self) -> None:
        while not self._closing.wait(self.watch_seconds):
            try:
                self._watch_once()
            except Exception:
                logger.exception("watching the workers failed; trying again")

    def _watch_once(self) -> None:
        with self.db.transaction(readonly=True) as session:
            found = rows.watch(session)
        done: list[rows.Key] = []
        for row in found:
            key = (row.instance_id, row.attempt)
            with self._lock:
                tracked = self._active.get(key)
            if tracked is None:
                if row.state == rows.FINISHED:
                    done.append(key)  # nobody waits for it (its instance ended otherwise)
                continue
            if row.state == rows.RUNNING:
                self._running(key, tracked, row)
            else:
                self._finished(key, row)
                done.append(key)
        if done:
            with self.db.transaction() as session:
                rows.mark_reported(session, done)
        if time.monotonic() - self._slots_at >= _SLOTS_SECONDS:
            self._count_slots()

    def _running(self, key: rows.Key, tracked: _Tracked, row: Any) -> None:
        if not tracked.started:
            tracked.started = True
            self._call("on_started", key[0], key[1], None)
        now = time.monotonic()
        if row.heartbeat_at != tracked.beat:
            tracked.beat, tracked.beat_seen = row.heartbeat_at, now
            return
        if now - tracked.beat_seen < self.stale_seconds:
            return
        message = (
            f"interrupted: worker {row.worker} on host {row.host} sent no heartbeat for "
            f"{self.stale_seconds:g} s"
        )
        with self.db.transaction() as session:
            if rows.interrupt(session, key, row.heartbeat_at, message, now_ms()):
                # The worker cannot write the log's last line any more: say it here.
                line = format_log_line(message).encode("utf-8")
                rows.append_chunk(session, key, line, now_ms())
        # The next look finds the row finished (or running again, if the worker came back).

    def _finished(self, key: rows.Key, row: Any) -> None:
        with self._lock:
            self._active.pop(key, None)
        outcome = _OUTCOMES.get(row.outcome or "", Outcome.FAILURE)
        self._call(
            "on_finished", InstanceResult(key[0], key[1], outcome, row.exit_code, row.message)
        )

    def _count_slots(self) -> None:
        self._slots_at = time.monotonic()
        since = now_ms() - int(self.stale_seconds * 1000)
        with self.db.transaction(readonly=True) as session:
            self.slots = rows.live_slots(session, since)

    def _call(self, name: str, *args: object) -> None:
        call_events(self._events, name, *args)


_OUTCOMES = {o.value: o for o in Outcome}
