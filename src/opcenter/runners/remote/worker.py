"""The worker side: what `opcenter worker` runs inside a Celery worker.

Each message names one attempt (its spec). The worker claims the attempt's `worker_attempt` row by
compare-and-set (queued → running, with its name); a message whose row is not queued any more (a
redelivery after a worker was lost, an attempt stopped or given up on) is acknowledged and
dropped, so an attempt never runs twice. A claimed attempt runs with the same runners and the same
sandbox as the local executor (runners/attempt.py `run_attempt`), in this worker's data directory;
its log is written locally and shipped into the store as `log_chunk` rows every
`SHIP_SECONDS` or `SHIP_BYTES`, starting with a line naming the worker and its host.

A worker killed with SIGKILL takes its jobs' group leaders with it (parent-death signal), but
processes a job started in the background would live on in its group; a small guard process
(`_Guard`), told of every group the worker starts, kills them all the moment the worker is gone
(its pipe from the worker closes), so nothing of an attempt outlives its worker.

A heartbeat thread stamps the worker and its running attempts every `HEARTBEAT_SECONDS`, and
reads back which of them must stop: a stop request (the attempt's group is terminated: SIGTERM,
grace, SIGKILL) or an attempt the scheduler has given up on (interrupted after its heartbeat went
stale: killed at once). A worker that cannot reach the store for `FENCE_SECONDS` kills its
attempts' process groups itself, well before the scheduler's stale bound (10 s) lets a rerun
start elsewhere: never two live copies.

Pool: Celery's `threads` pool. The work happens in child processes, so threads cost nothing in
parallelism; they let one heartbeat and one store connection pool serve every slot, and they keep
`run_attempt`'s rule (the thread that starts a job supervises it to its end: the kernel's
parent-death signal is per thread), so a worker killed with SIGKILL takes its jobs' leaders with it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from opcenter.context import now_ms
from opcenter.engine.paths import workdir
from opcenter.runners.attempt import run_attempt
from opcenter.runners.base import InstanceResult, InstanceSpec, Outcome, ProcessHandle
from opcenter.runners.logs import append_log_line
from opcenter.runners.reaper import signal_group
from opcenter.runners.registry import default_runners
from opcenter.runners.remote import rows
from opcenter.runners.remote.app import TASK_NAME, make_app
from opcenter.runners.remote.wire import decode_spec
from opcenter.runners.sandbox import Sandbox
from opcenter.settings import Settings
from opcenter.store.db import Database

__all__ = ["FENCE_SECONDS", "HEARTBEAT_SECONDS", "WorkerRuntime", "serve_worker"]

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 0.5  # stamps, and looks for stop requests (a stop is seen within a second)
FENCE_SECONDS = 4.0  # no heartbeat written this long: kill every attempt here (stale bound: 10 s)
SHIP_SECONDS = 0.5  # a running attempt's new log bytes reach the store at least this often
SHIP_BYTES = 64 * 1024  # … or as soon as this much is waiting


@dataclass(eq=False)
class _Running:
    stop: threading.Event = field(default_factory=threading.Event)
    pgid: int | None = None


class WorkerRuntime:
    """Claims, runs, heartbeats and reports attempts for one worker (`name` on `host`)."""

    def __init__(
        self, settings: Settings, db: Database, name: str, queues: list[str], concurrency: int
    ) -> None:
        self.settings = settings
        self.db = db
        self.name = name
        self.host = socket.gethostname()
        self.queues = queues
        self.concurrency = concurrency
        self.runners = default_runners()
        self.sandbox = Sandbox.from_settings(settings)
        self.started_at = now_ms()
        self._lock = threading.Lock()
        self._running: dict[rows.Key, _Running] = {}
        self._closing = threading.Event()
        self._beat_ok = time.monotonic()
        self._thread: threading.Thread | None = None
        self._guard: _Guard | None = None

    def start(self) -> None:
        self._guard = _Guard()
        self._beat()
        self._thread = threading.Thread(
            target=self._heartbeats, name="opcenter-heartbeat", daemon=True
        )
        self._thread.start()
        threading.Thread(target=self._fences, name="opcenter-fence", daemon=True).start()

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join()
        if self._guard is not None:
            self._guard.close()
        try:
            with self.db.transaction() as session:
                rows.leave(session, self.name)
        except Exception:
            logger.exception("cannot remove worker %s from the store", self.name)

    # -- one message ----------------------------------------------------------------------------

    def handle(self, payload: Any) -> str:
        """Run the attempt `payload` names if this worker wins its claim; returns what happened
        ("ran", "dropped", "bad message"). Never raises: the message is acknowledged either way."""
        try:
            spec = decode_spec(payload)
        except (KeyError, TypeError, ValueError) as exc:
            logger.error("dropped a message that is not an attempt: %s", exc)
            return "bad message"
        key = (spec.instance_id, spec.attempt)
        with self.db.transaction() as session:
            won = rows.claim(session, key, self.name, self.host, now_ms())
        if not won:
            logger.info("instance %s attempt %s: not queued any more; message dropped", *key)
            return "dropped"
        running = _Running()
        with self._lock:
            self._running[key] = running
        try:
            self._run(self._localised(spec), running)
        finally:
            with self._lock:
                self._running.pop(key, None)
        return "ran"

    def _localised(self, spec: InstanceSpec) -> InstanceSpec:
        """The spec with this worker's own work directory and (local, shipped) log file."""
        data = Path(self.settings.data_dir).resolve()
        log = Path(data, "worker-logs", f"{spec.instance_id}.{spec.attempt}.log")
        return replace(spec, workdir=workdir(data, spec.instance_id, spec.attempt), log_path=log)

    def _run(self, spec: InstanceSpec, running: _Running) -> None:
        key = (spec.instance_id, spec.attempt)
        shipper = _Shipper(self.db, key, spec.log_path)
        result = InstanceResult(*key, Outcome.FAILURE, None, "worker error")
        try:  # whatever happens, the row is finished: a claimed attempt always ends
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            spec.log_path.unlink(missing_ok=True)  # a claim is won once: nothing of ours in it
            append_log_line(spec.log_path, f"Worker: {self.name} on host {self.host}")
            shipper.start()
            result = run_attempt(
                spec,
                self.runners,
                stop=running.stop,
                on_started=lambda process: self._started(key, running, process),
                grace_seconds=self.settings.stop_grace_seconds,
                sandbox=self.sandbox,
            )
        except Exception as exc:
            logger.exception("instance %s attempt %s: worker error", *key)
            result = InstanceResult(*key, Outcome.FAILURE, None, f"worker error: {exc}")
        finally:
            if running.pgid is not None and self._guard is not None:
                self._guard.watch(running.pgid, False)  # the group is gone (run_attempt)
            try:
                shipper.close()  # every byte is in the store before the result is
            except Exception:
                logger.exception("instance %s attempt %s: cannot ship its log", *key)
            with self._lock:  # its group is gone: no heartbeat may signal that pgid any more
                self._running.pop(key, None)
            self._report(key, result)

    def _started(self, key: rows.Key, running: _Running, process: ProcessHandle | None) -> None:
        if process is None:
            return
        running.pgid = process.pgid
        if self._guard is not None:
            self._guard.watch(process.pgid, True)
        with self.db.transaction() as session:
            rows.record_pgid(session, key, self.name, process.pgid)

    def _report(self, key: rows.Key, result: InstanceResult) -> None:
        with self.db.transaction() as session:
            mine = rows.finish(
                session,
                key,
                self.name,
                result.outcome.value,
                result.exit_code,
                result.message,
                now_ms(),
            )
        if not mine:
            logger.warning("instance %s attempt %s was given up on; its result is dropped", *key)

    # -- heartbeats ---------------------------------------------------------------------------

    def _heartbeats(self) -> None:
        while not self._closing.wait(HEARTBEAT_SECONDS):
            try:
                self._beat()
            except Exception as exc:
                logger.warning("heartbeat failed: %s", exc)

    def _fences(self) -> None:
        """A thread of its own: a heartbeat stuck in a store that does not answer (no error,
        no reply) still fences."""
        while not self._closing.wait(HEARTBEAT_SECONDS):
            if time.monotonic() - self._beat_ok > FENCE_SECONDS:
                self._fence()

    def _beat(self) -> None:
        # Only attempts registered before the rows are read are judged by them: one claimed
        # meanwhile is running, not given up on, even though the read did not see it.
        with self._lock:
            running = dict(self._running)
        with self.db.transaction() as session:
            states = rows.heartbeat(
                session,
                self.name,
                self.host,
                ",".join(self.queues),
                self.concurrency,
                self.started_at,
                now_ms(),
            )
        self._beat_ok = time.monotonic()
        for key, attempt in running.items():
            if key not in states:  # given up on by the scheduler: it must not run on
                self._kill(key, attempt)
            elif states[key]:
                attempt.stop.set()  # SIGTERM, grace, SIGKILL (runners/attempt.py)

    def _fence(self) -> None:
        with self._lock:
            running = dict(self._running)
        for key, attempt in running.items():
            logger.error("instance %s attempt %s: the store is out of reach; killing it", *key)
            self._kill(key, attempt)

    def _kill(self, key: rows.Key, attempt: _Running) -> None:
        attempt.stop.set()
        if attempt.pgid is not None:
            signal_group(attempt.pgid, signal.SIGKILL)


# The guard: reads "+pgid" / "-pgid" lines; at end of input (the worker is gone, however it
# died) it SIGKILLs every group still listed. It ignores SIGINT and SIGTERM: a worker stopped
# warmly closes the pipe itself after its attempts ended, with no group left.
_GUARD = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    sign, pgid = line[:1], int(line[1:])
    (groups.add if sign == "+" else groups.discard)(pgid)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class _Guard:
    """Kills the process groups of this worker's attempts if the worker dies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _GUARD], stdin=subprocess.PIPE, start_new_session=True
        )

    def watch(self, pgid: int, on: bool) -> None:
        with self._lock:
            stdin = self._proc.stdin
            if stdin is None or stdin.closed:
                return
            stdin.write(f"{'+' if on else '-'}{pgid}\n".encode())
            stdin.flush()

    def close(self) -> None:
        with self._lock:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        self._proc.wait()


class _Shipper:
    """Copies what a running attempt appends to its local log into the store, in order."""

    def __init__(self, db: Database, key: rows.Key, path: Path) -> None:
        self.db, self.key, self.path = db, key, path
        self.offset = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="opcenter-log-ship", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        self._ship()  # the rest, once the attempt has ended
        self.path.unlink(missing_ok=True)

    def _loop(self) -> None:
        waited = 0.0
        while not self._done.wait(0.05):
            waited += 0.05
            if waited >= SHIP_SECONDS or self._waiting() >= SHIP_BYTES:
                waited = 0.0
                try:
                    self._ship()
                except Exception:
                    logger.exception("instance %s attempt %s: cannot ship its log", *self.key)

    def _waiting(self) -> int:
        try:
            return os.stat(self.path).st_size - self.offset
        except OSError:
            return 0

    def _ship(self) -> None:
        while True:
            try:
                with open(self.path, "rb") as f:
                    f.seek(self.offset)
                    data = f.read(SHIP_BYTES)
            except OSError:
                return
            if not data:
                return
            with self.db.transaction() as session:
                rows.append_chunk(session, self.key, data, now_ms())
            self.offset += len(data)


def serve_worker(
    settings: Settings, db: Database, *, queues: list[str], concurrency: int, name: str
) -> None:
    """Run a Celery worker (threads pool, `concurrency` slots) on `queues` until it is told to
    stop (SIGTERM/SIGINT: a warm shutdown, running attempts finish first)."""
    assert settings.broker_url
    runtime = WorkerRuntime(settings, db, name, queues, concurrency)
    app = make_app(settings.broker_url)

    @app.task(name=TASK_NAME)  # type: ignore[misc]
    def run(payload: Any) -> str:
        return runtime.handle(payload)

    runtime.start()
    try:
        app.worker_main(
            argv=[
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--queues={','.join(queues)}",
                f"--hostname={name}@{runtime.host}",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
            ]
        )
    finally:
        runtime.close()
