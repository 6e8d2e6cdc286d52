"""The engine: one thread that moves instances through their states, event by event.

    executor results ─┐
    ctx.notify() ─────┼─► event queue ─► step: one transaction ─► after commit: logs, submit
    poll (300 ms) ────┘

A step applies what happened (finished attempts), picks up changes other writers made
(engine/changes.py), then advances every touched Dag: instances whose upstream all succeeded
finish at once (dry runs, virtual nodes) or are claimed (WAIT_RESOURCE); claimed ones take free
executor slots (RUNNING, committed *before* the hand-over); Dag statuses follow, and a Dag that
succeeded starts the next date of its run. Everything a step decides is committed in one
transaction before anything is acted on (a log written, a process started), so a crash at any
point leaves the store consistent; `recovery.recover` settles what was running.

No fixed polling sits between dependent instances: a result wakes the thread, and the
successors are decided from in-memory in-degrees (engine/view.py) in the same step.
"""

from __future__ import annotations

import heapq
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.context import ServiceContext
from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine import dags as dagstore
from opcenter.engine import transitions
from opcenter.engine import view as views
from opcenter.engine.alerts import EngineAlerts
from opcenter.engine.changes import Change, ChangeTracker
from opcenter.engine.dispatch import (
    Releases,
    prepare,
    write_lines,
)
from opcenter.engine.leader import Leadership
from opcenter.engine.paths import log_path
from opcenter.engine.recovery import recover, remote_attempts
from opcenter.engine.view import DagView, InstanceView
from opcenter.logcontext import DAG_ID, INSTANCE_ID
from opcenter.runners.base import Executor, InstanceResult, InstanceSpec, Outcome, ProcessHandle
from opcenter.store.prepared import Prepared
from opcenter.store.tables import Dag

__all__ = ["DEFAULT_POLL_SECONDS", "Engine", "EngineBusy"]

logger = logging.getLogger(__name__)

S = InstanceStatus
DEFAULT_POLL_SECONDS = 0.3  # how often changes by other processes are looked for
_ERROR_BACKOFF_SECONDS = (0.05, 2.0)  # after a failed step: first wait, cap
# Dry-run/virtual instances one step finishes at most; the rest go to a following step, so a
# huge no-op cascade does not hold one transaction (and the results waiting behind it) for long.
_INSTANT_PER_STEP = 4000
_LEADERSHIP_CHECK_SECONDS = 1.0  # how often the loop checks that it still leads
# Built once (cached compiled form), Core, run on the connection: asked for every date of a
# range before it starts.
_D = Dag.__table__
_PREVIOUS_STATUS = Prepared(
    sa.select(_D.c.status).where(
        _D.c.run_id == sa.bindparam("run_id"), _D.c.seq == sa.bindparam("seq")
    )
)


def _name_thread(name: str) -> None:
    """Give the calling thread its name in the operating system too (Linux: `top -H`, `ps -L`,
    /proc/<pid>/task/<tid>/comm show it), so an operator or a benchmark can tell the engine's
    CPU from the requests'. Best effort: nothing happens where prctl is missing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def _log_failed_attempt(dag_id: int, instance_id: int, attempt: int, message: str) -> None:
    """One INFO line per failed attempt, once its end is committed, with the instance and
    Dag ids in the log context (the JSON log format carries them as `instance_id`, `dag_id`).
    INFO, not WARNING: a failing job is no fault of the server, and `opcenter run --wait` (an
    engine in a process that configures no logging) would show a WARNING as a bare line from
    Python's last-resort handler, beside its own summary of the failure."""
    tokens = INSTANCE_ID.set(instance_id), DAG_ID.set(dag_id)
    try:
        logger.info("instance %d attempt %d failed: %s", instance_id, attempt, message)
    finally:
        INSTANCE_ID.reset(tokens[0])
        DAG_ID.reset(tokens[1])


class EngineBusy(RuntimeError):
    """Raised when another engine already leads this store."""


class LeadershipLike(Protocol):
    """What the engine needs of its leadership (engine/leader.py `Leadership`)."""

    def acquire(self) -> bool: ...

    def held(self) -> bool: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class _StartFailed:
    """The executor refused an attempt already committed RUNNING."""

    instance_id: int
    attempt: int
    dag_id: int
    reason: str


@dataclass
class _Outbox:
    """What a step does once its transaction has committed."""

    lines: list[tuple[Path, list[str]]] = field(default_factory=list)
    submit: list[tuple[InstanceSpec, int]] = field(default_factory=list)  # spec, dag id
    finished: list[tuple[int, int]] = field(default_factory=list)  # (instance, attempt)
    settled: list[int] = field(default_factory=list)  # Dags that reached SUCCESS or FAILURE
    waited: list[int] = field(default_factory=list)  # ms from ready to RUNNING, per attempt
    ended: list[tuple[str, int]] = field(default_factory=list)  # Dag status, run time (ms)
    failed: list[tuple[int, int, int, str]] = field(default_factory=list)  # dag, inst, attempt, why


_SYNC = object()
_STOP = object()


class Engine:
    """Runs the manual Dags of one store. Use `start()` / `stop()`; `notify()` is the
    ServiceContext hook that makes the engine look at the store at once."""

    def __init__(
        self,
        ctx: ServiceContext,
        executor: Executor | None = None,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        runs: Collection[int] | None = None,
        leadership: LeadershipLike | None = None,
    ) -> None:
        """`runs`: drive (load, advance, recover) only the Dags of these run ids and leave every
        other Dag alone. `leadership`: who may drive the store (default: the store's own
        leadership: engine/leader.py `Leadership` on this store)."""
        if executor is None:
            from opcenter.runners.executors import executor_from_settings

            executor = executor_from_settings(ctx.settings, ctx.db)
        self.ctx = ctx
        self.executor = executor
        self.poll_seconds = poll_seconds
        self.runs = None if runs is None else frozenset(runs)
        self.leadership = leadership if leadership is not None else Leadership(ctx.db, ctx.settings)
        self._events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._dags: dict[int, DagView] = {}
        self._queue: list[tuple[int, int, int, int]] = []  # -priority, instance, dag, attempt
        self._queued: set[tuple[int, int]] = set()  # (instance, attempt) in `_queue`: once each
        self._retries: list[tuple[int, int, int]] = []  # (due ms, instance id, dag id)
        self._in_flight: dict[tuple[int, int], int] = {}  # (instance, attempt) -> dag
        self._stopping: dict[tuple[int, int], int] = {}  # stopped by an operator -> dag
        self._next: set[int] = set()  # Dags to advance in a following step
        self._stale: set[int] = set()  # Dags to reload: the store refused a decision on them
        self._tracker = ChangeTracker()
        self._last_poll = 0.0
        self._draining = False
        self._checked_at = 0.0
        self._previous_notify: Callable[[], None] | None = None
        self._releases = Releases()  # what each version is, for the log headers
        # Set once a step has committed in which one of its Dags failed, or after which it has
        # no Dag left to drive (the last one succeeded): then a run it drives may have ended,
        # and `opcenter run --wait`, waiting for that, looks at once instead of polling.
        self.dags_settled = threading.Event()
        self._dag_failed = False
        self._watchers: dict[int, list[threading.Event]] = {}  # see `watch`
        self._watch_lock = threading.Lock()
        self.alerts = EngineAlerts(ctx.settings.tz, runs=self.runs)  # engine/alerts.py

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Take the leadership, settle what a previous process left running, load the started
        Dags, and begin. Raises EngineBusy when another engine leads the store."""
        if not self.leadership.acquire():
            raise EngineBusy(f"another opcenter engine is running on {self.ctx.settings.data_dir}")
        try:
            self._boot()
        except BaseException:
            self.leadership.release()
            raise
        self.executor.start(self)
        views.accept_seeds(self.ctx.db)  # new runs created in this process hand over their rows
        self._previous_notify = self.ctx.notify
        self.ctx.notify = self.notify
        named = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, args=(named,), name="opcenter-engine", daemon=True
        )
        self._thread.start()
        named.wait(5)  # the thread carries its OS name once `start` returns
        self.notify()

    def stop(self, *, drain: bool = False, timeout: float | None = None) -> None:
        """Stop the engine. With `drain`, no new attempt starts and running ones are awaited and
        recorded; without, running processes are killed and left RUNNING in the store, exactly
        as after a crash (the next start marks them FAILURE)."""
        if self._thread is None:
            return
        if drain:
            self._draining = True
            self.notify()
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._in_flight and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.02)
        self._events.put(_STOP)
        self._thread.join()
        self._thread = None
        self.executor.shutdown(wait=False)
        if self._previous_notify is not None:
            self.ctx.notify = self._previous_notify
        views.drop_seeds(self.ctx.db)
        self.leadership.release()

    def notify(self) -> None:
        """Look at the store now (new runs, operator changes)."""
        self._events.put(_SYNC)

    def load(self) -> tuple[int, int]:
        """(attempts queued for a slot, free executor slots), read from any thread (metrics)."""
        busy = len(self._in_flight) + len(self._stopping)
        return len(self._queued), max(0, self.executor.slots - busy)

    def watch(self, dag_id: int) -> threading.Event:
        """An Event set once a step of this engine has committed the Dag's SUCCESS or FAILURE.
        For an in-process waiter (the benchmarks) that would otherwise poll the store and
        compete with the engine for the interpreter: watch first, then read the Dag's status
        once (it may have finished before the watch), then wait."""
        event = threading.Event()
        with self._watch_lock:
            self._watchers.setdefault(dag_id, []).append(event)
        return event

    # -- ExecutorEvents (any thread) ------------------------------------------------------------

    def on_started(self, instance_id: int, attempt: int, process: ProcessHandle | None) -> None:
        """RUNNING was committed before the hand-over; the attempt's process group is recorded
        here, synchronously, before the executor lets the job's code run (its start gate), so
        recovery can kill what is left of it if this server dies. None: no process (virtual)."""
        if process is None:
            return
        token = INSTANCE_ID.set(instance_id)  # for the log lines
        try:
            with self.ctx.db.transaction() as session:
                transitions.record_process(
                    session,
                    instance_id,
                    attempt,
                    process.pgid,
                    process.start_ticks,
                    process.boot_id,
                )
        except Exception:
            logger.exception("cannot record the process of instance %s", instance_id)
        finally:
            INSTANCE_ID.reset(token)

    def on_finished(self, result: InstanceResult) -> None:
        self._events.put((result, self.ctx.clock()))

    # -- the loop -----------------------------------------------------------------------------

    def _loop(self, named: threading.Event) -> None:
        _name_thread("opcenter-engine")
        named.set()
        failures = 0
        while True:
            events = self._collect()
            if _STOP in events or not self._still_leading():
                return
            try:
                self._step(events)
                while self._next or self._stale:
                    self._step([])
                failures = 0
            except Exception:
                failures += 1
                logger.exception("engine step failed; resynchronising from the store")
                first, cap = _ERROR_BACKOFF_SECONDS
                time.sleep(min(cap, first * 2 ** min(failures, 8)))
                self._resync_safely()
                # Results of a step that did not commit are applied again in the next one.
                for event in events:
                    if event is not _SYNC:
                        self._events.put(event)

    def _still_leading(self) -> bool:
        """Checked about once a second. When the leadership is lost (another engine may now
        drive this store), nothing more is started and what runs here is killed: two engines
        must never drive the same Dags."""
        if time.monotonic() - self._checked_at < _LEADERSHIP_CHECK_SECONDS:
            return True
        self._checked_at = time.monotonic()
        if self.leadership.held():
            return True
        logger.error("engine leadership lost: stopping, killing the attempts running here")
        self._draining = True
        self.executor.shutdown(wait=False)
        return False

    def _collect(self) -> list[object]:
        timeout = self.poll_seconds
        if self._retries:
            due = (self._retries[0][0] - self.ctx.clock()) / 1000
            timeout = max(0.0, min(timeout, due))
        events: list[object] = []
        try:
            events.append(self._events.get(timeout=timeout))
        except queue.Empty:
            return events
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def _step(self, events: list[object]) -> None:
        self._dag_failed = False
        outbox = _Outbox()
        touched, self._next = set(self._next), set()
        sync = (
            _SYNC in events
            or bool(self._stale)
            or time.monotonic() - self._last_poll >= self.poll_seconds
        )
        with self.ctx.db.transaction() as session:
            # Read the clock once the write lock is held: a stamp never precedes a write that
            # committed before this step could see it.
            session.connection()  # BEGIN (IMMEDIATE on SQLite) happens here, not lazily
            now = self.ctx.clock()
            for event in events:
                self._apply_event(session, event, now, touched, outbox)
            if sync:
                self._last_poll = time.monotonic()
                self._sync(session, now, touched)
            self._advance(session, now, touched, outbox)
            self._claim_due_retries(session, now)
            self._dispatch(session, now, outbox)
            self._settle_dags(session, now, touched, outbox)
        if self._dag_failed or not self._dags:  # committed: a reader sees the new status
            self.dags_settled.set()
        self._act(outbox)
        if self.alerts.due():  # TIMEOUT, UNFINISHED: at most once a second, own transaction
            self._alert_tick()

    def _alert_tick(self) -> None:
        try:
            self.alerts.check(self.ctx.db, self.ctx.clock)
        except Exception:
            logger.exception("alert check failed; trying again at the next one")

    def _act(self, outbox: _Outbox) -> None:
        # Observed only in a process that serves /metrics (serve, scheduler: they import the
        # module); `opcenter run --wait` does not pay prometheus-client's import (~15 ms).
        metrics = sys.modules.get("opcenter.metrics")
        if metrics is not None:
            if outbox.waited:
                metrics.observe_dispatch(outbox.waited)
            for status, ran_ms in outbox.ended:
                metrics.observe_dag_end(status, ran_ms)
        for dag_id, instance_id, attempt, message in outbox.failed:
            _log_failed_attempt(dag_id, instance_id, attempt, message)
        for key in outbox.finished:
            self._in_flight.pop(key, None)
            self._stopping.pop(key, None)
        if self._watchers and outbox.settled:
            with self._watch_lock:
                for dag_id in outbox.settled:
                    for event in self._watchers.pop(dag_id, ()):
                        event.set()
        # An executor that keeps logs elsewhere (Celery workers: in the store) takes the
        # engine's own lines too, so a log reads as one.
        write = getattr(self.executor, "write_lines", write_lines)
        for path, lines in outbox.lines:
            write(path, lines)
        for spec, dag_id in outbox.submit:
            self._hand_over(spec, dag_id)

    def _hand_over(self, spec: InstanceSpec, dag_id: int) -> None:
        """Give one committed RUNNING attempt to the executor. A refusal ends that instance
        only (a following step records it FAILURE); the other hand-overs still happen."""
        key = (spec.instance_id, spec.attempt)
        self._in_flight[key] = dag_id
        tokens = INSTANCE_ID.set(spec.instance_id), DAG_ID.set(dag_id)  # for the log lines
        try:
            self.executor.submit(spec)
        except Exception as exc:
            logger.exception("cannot start instance %d attempt %d", *key)
            self._in_flight.pop(key, None)
            reason = str(exc) or type(exc).__name__
            self._events.put(_StartFailed(*key, dag_id, reason))
        finally:
            INSTANCE_ID.reset(tokens[0])
            DAG_ID.reset(tokens[1])

    # -- results ------------------------------------------------------------------------------

    def _apply_event(
        self, session: Session, event: object, now: int, touched: set[int], outbox: _Outbox
    ) -> None:
        if isinstance(event, tuple):
            self._apply_result(session, *event, touched, outbox)
        elif isinstance(event, _StartFailed):
            self._apply_start_failure(session, event, now, touched, outbox)

    def _apply_start_failure(
        self, session: Session, event: _StartFailed, now: int, touched: set[int], outbox: _Outbox
    ) -> None:
        message = f"cannot start: {event.reason}"
        if not transitions.fail_to_start(session, event.instance_id, event.attempt, message, now):
            return
        view = self._dags.get(event.dag_id)
        if view is not None and event.instance_id in view.instances:
            view.set_status(event.instance_id, S.FAILURE)
        self.alerts.attempt_ended(
            session, event.dag_id, event.instance_id, event.attempt, S.FAILURE, now
        )
        path = log_path(self.ctx.settings.data_dir, event.dag_id, event.instance_id, event.attempt)
        outbox.lines.append((path, [message]))
        touched.add(event.dag_id)

    def _apply_result(
        self,
        session: Session,
        result: InstanceResult,
        finished_at: int,
        touched: set[int],
        outbox: _Outbox,
    ) -> None:
        key = (result.instance_id, result.attempt)
        dag_id = self._in_flight.get(key, self._stopping.get(key))
        if dag_id is None:
            return  # not ours (an executor shared with an earlier engine)
        outbox.finished.append(key)
        touched.add(dag_id)
        path = log_path(self.ctx.settings.data_dir, dag_id, *key)
        succeeded = result.outcome is Outcome.SUCCESS
        ended = transitions.record_end(session, *key, succeeded, finished_at, result.message)
        if ended is None:
            return  # no longer RUNNING that attempt: nothing to record
        status, retry_at, stopped_by = ended
        self._set_status(dag_id, result.instance_id, status)
        self.alerts.attempt_ended(session, dag_id, *key, status, finished_at)  # ERROR, FINISHED
        if not succeeded:
            outbox.failed.append((dag_id, *key, result.message))
        if stopped_by is not None:  # the stop is recorded now that the process group is gone
            outbox.lines.append((path, [f"Stopped by {stopped_by}."]))
        if status is S.WAIT_TIME and retry_at is not None:
            heapq.heappush(self._retries, (retry_at, result.instance_id, dag_id))
            wait = max(0, retry_at - finished_at) / 1000
            outbox.lines.append((path, [f"An automatic rerun starts in {wait:g} s."]))

    def _set_status(self, dag_id: int, instance_id: int, status: InstanceStatus) -> None:
        view = self._dags.get(dag_id)
        if view is not None and instance_id in view.instances:
            view.set_status(instance_id, status)

    # -- other writers ------------------------------------------------------------------------

    def _sync(self, session: Session, now: int, touched: set[int]) -> None:
        stale, self._stale = sorted(self._stale), set()
        for dag_id in stale:
            self._reload(session, dag_id, now, touched)
        known = {d.id: d.revision for d in self._dags.values()}
        for change in self._tracker.poll(session, now, known):
            if self.runs is not None and change.run_id not in self.runs:
                continue  # a scoped engine leaves other runs alone
            if self._worth_loading(session, change):
                self._reload(session, change.dag_id, now, touched)

    def _worth_loading(self, session: Session, change: Change) -> bool:
        """Every started Dag another writer changed, finished ones too: the status stored may
        have been written from a view that missed a concurrent change (this engine's, or the
        operator's), and `_reload` settles it again from the instances. A CREATED Dag only
        when it is free to start. Only Dags whose revision moved come here, so a Dag nobody
        touched costs nothing."""
        if change.status is not DagStatus.CREATED:
            return True
        return self._may_start(session, change.status, change.run_id, change.seq)

    def _reload(self, session: Session, dag_id: int, now: int, touched: set[int]) -> None:
        """Rebuild a Dag's view from the store and settle its status again from its instances,
        whatever status is stored: a RUNNING Dag, or a finished one whose instances say
        otherwise (an operation raced a step of this engine), is adopted, and `_settle_dags`
        writes the status it derives as a compare-and-set on the revision read here (refused,
        and reloaded again, if an operator changed the Dag meanwhile). Each operation bumps the
        revision after its change, so the last reload reads every change: the status converges
        to the function of the instances."""
        self._dags.pop(dag_id, None)
        view = DagView.load(session, dag_id, views.take_seed(self.ctx.db, dag_id))
        if view is None:
            return
        self._reconcile_in_flight(view)
        if self._may_start(session, view.status, view.run_id, view.seq) and dagstore.start_dag(
            session, dag_id, now
        ):
            view.status, view.start_time = DagStatus.RUNNING, now
        if view.status is not DagStatus.RUNNING and view.derive_status() is view.status:
            if view.status is DagStatus.SUCCESS:
                self._start_next(session, view.run_id, view.seq, now)
            return  # CREATED (an earlier date has not succeeded), or finished as it should be
        self._adopt(view)
        touched.add(dag_id)

    def _may_start(self, session: Session, status: DagStatus, run_id: int, seq: int) -> bool:
        """CREATED and free to start: the first date of its run, or the date after a SUCCESS."""
        if status is not DagStatus.CREATED:
            return False
        if seq == 0:
            return True
        params = {"run_id": run_id, "seq": seq - 1}
        rows = _PREVIOUS_STATUS.rows(session.connection(), params)
        return bool(rows) and rows[0][0] == DagStatus.SUCCESS.value

    def _reconcile_in_flight(self, view: DagView) -> None:
        """Terminate attempts an operator stopped (`stopped_by`) or otherwise ended while they
        ran. They keep their executor slot until their result arrives (the process group is
        gone), and only then is the stop recorded."""
        for key, dag_id in list(self._in_flight.items()):
            if dag_id != view.id:
                continue
            inst = view.instances.get(key[0])
            if (
                inst is None
                or inst.status is not S.RUNNING
                or inst.attempt != key[1]
                or inst.stopped_by is not None
            ):
                del self._in_flight[key]
                self._stopping[key] = dag_id
                self.executor.stop(*key)

    def _adopt(self, view: DagView) -> None:
        """Keep a started Dag in memory and queue its waiting work."""
        self._dags[view.id] = view
        self._tracker.note(view.id, view.revision)
        for inst in view.of_status(S.WAIT_RESOURCE):
            self._enqueue(inst)
        for inst in view.of_status(S.WAIT_TIME):
            if inst.retry_at is not None:
                heapq.heappush(self._retries, (inst.retry_at, inst.id, view.id))

    def _enqueue(self, inst: InstanceView) -> None:
        """Queue a claimed attempt for a slot, once: a Dag reloaded many times does not queue
        its waiting attempts again, and an attempt handed over is never queued again."""
        key = (inst.id, inst.attempt)
        if key in self._queued or key in self._in_flight or key in self._stopping:
            return
        self._queued.add(key)
        heapq.heappush(self._queue, (-inst.priority, inst.id, inst.dag_id, inst.attempt))

    def _resync_safely(self) -> None:
        try:
            self._resync()
        except Exception:
            logger.exception("engine resync failed; will retry")

    def _resync(self) -> None:
        """Forget the in-memory picture and rebuild it from the store."""
        self._dags.clear()
        self._queue.clear()
        self._queued.clear()
        self._stale.clear()
        self._retries.clear()
        self._tracker.forget()
        now = self.ctx.clock()
        with self.ctx.db.transaction() as session:
            self._load_started(session, now)

    def _boot(self) -> None:
        now = self.ctx.clock()
        adopt = getattr(self.executor, "adopt", None)
        with self.ctx.db.transaction() as session:
            # Attempts handed to remote workers are not interrupted by a handover: the new
            # leader adopts them (a silent worker is caught by the executor's stale bound).
            remote = remote_attempts(session, runs=self.runs) if adopt is not None else {}
            recovered = recover(
                session, self.ctx.settings, now, runs=self.runs, keep={k[0] for k in remote}
            )
            self.alerts.interrupted(session, recovered.instance_ids, now)  # ERROR events
        recovered.write_logs()  # only now that the store says the same
        if adopt is not None and remote:
            for key, (dag_id, _) in remote.items():
                self._in_flight[key] = dag_id
            adopt({key: state for key, (_, state) in remote.items()})
            logger.warning("adopted %d attempt(s) running on workers", len(remote))
        if recovered.instance_ids:
            count = len(recovered.instance_ids)
            logger.warning("settled %d instance(s) interrupted by a stopped server", count)
        with self.ctx.db.transaction() as session:
            self._load_started(session, now)
        self._tracker.begin(now)

    def _load_started(self, session: Session, now: int) -> None:
        for dag_id in dagstore.startable_dags(session, runs=self.runs):
            dagstore.start_dag(session, dag_id, now)
        query = sa.select(_D.c.id).where(_D.c.status == DagStatus.RUNNING.value)
        if self.runs is not None:
            query = query.where(_D.c.run_id.in_(sorted(self.runs)))
        running = session.scalars(query.order_by(_D.c.id)).all()
        for dag_id in running:
            view = DagView.load(session, dag_id)
            if view is not None:
                self._adopt(view)
                self._next.add(dag_id)

    # -- advancing ----------------------------------------------------------------------------

    def _advance(self, session: Session, now: int, touched: set[int], outbox: _Outbox) -> None:
        """Finish ready dry-run/virtual instances (cascading through their successors, at most
        `_INSTANT_PER_STEP` a step) and claim ready ones that need a process. An instance
        finished here has no log file: service/logs.py makes its one line from its row."""
        budget = _INSTANT_PER_STEP
        while True:
            instant: list[InstanceView] = []
            claims: list[InstanceView] = []
            for dag_id in touched:
                view = self._dags.get(dag_id)
                if view is None or view.status is not DagStatus.RUNNING:
                    continue
                for instance_id in view.ready:
                    inst = view.instances[instance_id]
                    (instant if inst.instant else claims).append(inst)
            if claims:
                self._claim(session, now, claims)
            if not instant:
                return
            if budget <= 0:  # the rest in a following step, so other work is not held up
                self._next.update(i.dag_id for i in instant)
                return
            budget -= self._finish_instant(session, now, instant, budget)

    def _finish_instant(
        self,
        session: Session,
        now: int,
        ready: list[InstanceView],
        budget: int,
    ) -> int:
        """Finish `ready` and, in the same statement, the instant successors they release in
        turn; returns how many finished. The cascade is decided in memory and confirmed by the
        store as a whole: if any row was refused (an operator changed it under us), the
        savepoint is rolled back and only `ready` is finished, as its own wave."""
        chain = self._cascade(ready, budget)
        if len(chain) == len(ready):
            return self._finish_wave(session, now, ready)
        ids = [i.id for i in chain]
        if self.ctx.db.is_sqlite and len(ids) <= transitions.ALL_OR_NONE_MAX:
            # One statement that finishes all or nothing: no savepoint needed (SQLite only).
            done = dict(transitions.finish_instant_all_or_none(session, ids, now))
            confirmed = len(done) == len(chain)
            assert confirmed or not done, "an all-or-none finish changed some rows only"
        else:
            savepoint = session.begin_nested()
            done = dict(transitions.finish_instant(session, ids, now))
            confirmed = len(done) == len(chain)
            if confirmed:
                savepoint.commit()
            else:
                savepoint.rollback()
        if not confirmed:
            for inst in reversed(chain[len(ready) :]):  # children first: views as they were
                self._dags[inst.dag_id].set_status(inst.id, S.NOT_RUN)
            return self._finish_wave(session, now, ready)
        for inst in chain:
            inst.attempt = done[inst.id]
        return len(chain)

    def _cascade(self, ready: list[InstanceView], budget: int) -> list[InstanceView]:
        """`ready` and the instant instances their success makes ready, breadth first, marked
        SUCCESS in the views (tentatively: the caller confirms or reverts). Suspended
        instances are never ready, so a cascade stops at them."""
        chain = list(ready)
        for inst in ready:
            self._dags[inst.dag_id].set_status(inst.id, S.SUCCESS)
        at = 0
        while at < len(chain) and len(chain) < budget:
            view = self._dags[chain[at].dag_id]
            for child_id in view.children[chain[at].id]:
                child = view.instances[child_id]
                if child.instant and child_id in view.ready and len(chain) < budget:
                    view.set_status(child_id, S.SUCCESS)
                    chain.append(child)
            at += 1
        return chain

    def _finish_wave(self, session: Session, now: int, ready: list[InstanceView]) -> int:
        """Finish exactly `ready` (marked SUCCESS in the views by `_cascade`); a row the store
        refused is put back and its Dag reloaded."""
        done = dict(transitions.finish_instant(session, [i.id for i in ready], now))
        for inst in ready:
            view = self._dags[inst.dag_id]
            if inst.id not in done:
                view.set_status(inst.id, S.NOT_RUN)
                view.ready.discard(inst.id)
                self._next.add(inst.dag_id)  # changed under us: reload it
                self._mark_stale(inst.dag_id)
                continue
            inst.attempt = done[inst.id]
        return len(done)

    def _claim(self, session: Session, now: int, ready: list[InstanceView]) -> None:
        done = dict(transitions.claim(session, [i.id for i in ready], now))
        for inst in ready:
            view = self._dags[inst.dag_id]
            if inst.id not in done:
                view.ready.discard(inst.id)
                self._mark_stale(inst.dag_id)
                continue
            inst.attempt = done[inst.id]
            view.set_status(inst.id, S.WAIT_RESOURCE)
            self._enqueue(inst)

    def _mark_stale(self, dag_id: int) -> None:
        """The store refused a decision taken on this Dag's view: reload it (next step)."""
        view = self._dags.get(dag_id)
        if view is not None:
            view.revision = -1  # nothing more is written from this view
        self._stale.add(dag_id)

    def _claim_due_retries(self, session: Session, now: int) -> None:
        due: dict[int, InstanceView] = {}  # a Dag reloaded twice queued its retries twice
        while self._retries and self._retries[0][0] <= now:
            _, instance_id, dag_id = heapq.heappop(self._retries)
            inst = self._instance(dag_id, instance_id)
            if inst is not None and inst.status is S.WAIT_TIME and not inst.suspended:
                due[inst.id] = inst
        if not due:
            return
        done = dict(transitions.claim_retries(session, list(due), now))
        for inst in due.values():
            if inst.id in done:
                inst.attempt = done[inst.id]
                self._dags[inst.dag_id].set_status(inst.id, S.WAIT_RESOURCE)
                self._enqueue(inst)
            else:
                self._mark_stale(inst.dag_id)

    def _instance(self, dag_id: int, instance_id: int) -> InstanceView | None:
        view = self._dags.get(dag_id)
        return None if view is None else view.instances.get(instance_id)

    def _dispatch(self, session: Session, now: int, outbox: _Outbox) -> None:
        """Hand claimed attempts to free executor slots, highest priority first."""
        if self._draining:
            return
        # Attempts whose results this step records free their slots now, not after the commit:
        # otherwise each result would only refill the slot of the result before it.
        ended = set(outbox.finished)
        live = [key for key in (*self._in_flight, *self._stopping) if key not in ended]
        chosen = self._choose(self.executor.slots - len(live), {key[0] for key in live})
        if not chosen:
            return
        running = transitions.mark_running(session, [i.id for i in chosen], now)
        outbox.waited.extend(now - r.begin_wait_res_time for r in running if r.begin_wait_res_time)
        prepared = prepare(session, running, self.ctx.settings, self._releases)
        for inst in chosen:
            if inst.id not in prepared:
                self._mark_stale(inst.dag_id)
                continue
            self._dags[inst.dag_id].set_status(inst.id, S.RUNNING)
            item = prepared[inst.id]
            outbox.lines.append((item.spec.log_path, list(item.header)))
            outbox.submit.append((item.spec, inst.dag_id))

    def _choose(self, free: int, busy: set[int]) -> list[InstanceView]:
        """Up to `free` queued attempts, highest priority first; each instance at most once,
        and never one with an attempt still live here (a stopped one whose process group is
        not gone yet): that one is kept queued for a later step."""
        chosen: dict[int, InstanceView] = {}
        held: list[tuple[int, int, int, int]] = []
        while free > len(chosen) and self._queue:
            entry = heapq.heappop(self._queue)
            _, instance_id, dag_id, attempt = entry
            self._queued.discard((instance_id, attempt))
            inst = self._instance(dag_id, instance_id)
            if inst is None or inst.status is not S.WAIT_RESOURCE or inst.suspended:
                continue  # stopped, suspended or reloaded since it was queued
            if inst.attempt != attempt or instance_id in chosen:
                continue
            if instance_id in busy:
                held.append(entry)
                continue
            chosen[instance_id] = inst
        for entry in held:
            self._queued.add((entry[1], entry[3]))
            heapq.heappush(self._queue, entry)
        return list(chosen.values())

    def _settle_dags(self, session: Session, now: int, touched: set[int], outbox: _Outbox) -> None:
        """Write the status each touched Dag now has; a success starts the next date."""
        for dag_id in sorted(touched):
            view = self._dags.get(dag_id)
            if view is None or view.status is DagStatus.CREATED:
                continue
            status = view.derive_status()
            if status is view.status:
                continue
            if not dagstore.write_dag_status(session, dag_id, status, now, revision=view.revision):
                self._mark_stale(dag_id)  # an operator changed it since the view was loaded
                continue
            view.status = status
            if status is not DagStatus.RUNNING:
                self._tracker.note(dag_id, view.revision)
                outbox.settled.append(dag_id)
                if view.start_time is not None:
                    outbox.ended.append((status.value, now - view.start_time))
                self.alerts.dag_ended(session, dag_id, status, now)
            if status is DagStatus.SUCCESS:
                del self._dags[dag_id]
                self._start_next(session, view.run_id, view.seq, now)
            elif status is DagStatus.FAILURE:
                del self._dags[dag_id]
                self._dag_failed = True
                views.drop_run_seeds(self.ctx.db, view.run_id)  # its later dates wait
            else:  # a finished Dag runs again (see `_reload`): advance it in the next step
                self._next.add(dag_id)

    def _start_next(self, session: Session, run_id: int, seq: int, now: int) -> None:
        started = dagstore.start_next(session, run_id, seq, now)
        if started is None:
            return
        next_id, revision = started
        # The row was just read by start_next (RUNNING now): only its instances and edges.
        seed = views.take_seed(self.ctx.db, next_id)
        view = DagView.load_started(session, next_id, run_id, seq + 1, revision, seed)
        view.start_time = now
        self._adopt(view)
        self._next.add(next_id)
