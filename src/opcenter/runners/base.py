"""The execution port: what the engine hands over, and what comes back.

The engine decides *what* runs and *when*; an `Executor` runs an `InstanceSpec` somewhere (a
local process pool now, Celery workers later) and reports back through `ExecutorEvents`. Runners,
one per node type, turn a spec into a process or a SQL execution; both executors use the same
runners.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "Confinement",
    "Executor",
    "ExecutorEvents",
    "Grant",
    "InstanceResult",
    "InstanceSpec",
    "Outcome",
    "ProcessHandle",
    "call_events",
]


@dataclass(frozen=True)
class Grant:
    """A path a job may reach beyond its own work directory: read-only, or read-write."""

    path: Path
    writable: bool = False


@dataclass(frozen=True)
class Confinement:
    """Whose job an attempt is, for the sandbox (runners/sandbox.py): the workspace and
    environment it belongs to, the OS user (tenant) it runs as when opcenter runs as root, and
    what it may reach beyond its own work directory (its workspace environment's SQL folder,
    the paths the workspace shares)."""

    workspace: str  # the workspace's identifier, for messages
    env: str  # "DEV" or "PROD": decides what happens where jobs cannot be isolated
    tenant: str | None = None  # OS user named by the workspace; None: the default job user
    grants: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class InstanceSpec:
    """Everything needed to run one attempt of one instance, with nothing left to look up."""

    instance_id: int
    attempt: int
    file_type: int  # FileType code (6 shell, 1322 python, 10 sql, 99 virtual)
    code: str  # already rendered: `${name}` replaced for every defined name
    argv: tuple[str, ...]  # positional parameters ($1 $2 … / sys.argv[1:])
    workdir: Path  # created by the executor; one per instance attempt
    log_path: Path  # appended to (the engine may have written header lines before)
    timeout_seconds: float
    sql_url: str | None = None  # SQLAlchemy URL for SQL nodes
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables
    log_cap_bytes: int = 10 * 1024 * 1024
    # Whose job this is (workspace, environment, tenant, grants). None: an attempt that belongs
    # to no workspace (a runner's own tests); a sandboxed executor then confines it to its work
    # directory as a DEV job of the default job user.
    confinement: Confinement | None = None
    # The node's resource group (DataWorks ResourceGroupIdentifier): with Celery workers, the
    # queue its attempts go to (None: `default`); the local executor ignores it.
    resource_group: str | None = None


class Outcome(str, enum.Enum):
    SUCCESS = "SUCCESS"  # exit code 0
    FAILURE = "FAILURE"  # non-zero exit, or the runner could not start it
    TIMEOUT = "TIMEOUT"  # killed after `timeout_seconds`
    STOPPED = "STOPPED"  # killed by `Executor.stop`


@dataclass(frozen=True)
class InstanceResult:
    instance_id: int
    attempt: int
    outcome: Outcome
    exit_code: int | None
    message: str = ""  # one line for the log and the operator


@dataclass(frozen=True)
class ProcessHandle:
    """The process group of a running attempt, as recorded in the store so that a later
    process can recognise it and kill what is left of it (runners/reaper.py): the group id
    (the leader's pid), the leader's start time in clock ticks since boot (field 22 of
    /proc/<pid>/stat) and the machine's boot id (/proc/sys/kernel/random/boot_id)."""

    pgid: int
    start_ticks: int
    boot_id: str


class ExecutorEvents(Protocol):
    """Callbacks an executor makes; they may come from any thread and must not block long."""

    def on_started(self, instance_id: int, attempt: int, process: ProcessHandle | None) -> None:
        """The attempt is running; `process` is its process group, None for an attempt without
        a process (virtual node) or where the group cannot be described (not Linux)."""

    def on_finished(self, result: InstanceResult) -> None:
        """The attempt ended; for an attempt with a process, only once its whole process group
        is gone."""


class Executor(Protocol):
    """Runs instance attempts. Implementations: `LocalExecutor` (process pool), Celery later."""

    slots: int

    def start(self, events: ExecutorEvents) -> None:
        """Begin accepting work; events are delivered to `events`."""

    def submit(self, spec: InstanceSpec) -> None:
        """Queue an attempt. It starts when a slot is free (`on_started`), then ends with exactly
        one `on_finished`. Never raises for a bad script: that is a FAILURE result."""

    def stop(self, instance_id: int, attempt: int) -> bool:
        """Terminate the attempt's process group (SIGTERM, then SIGKILL after a grace period),
        or drop it from the queue. Returns False when the attempt is unknown or finished."""

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with `wait`, let running attempts finish, else kill them."""


def call_events(events: ExecutorEvents | None, name: str, *args: object) -> None:
    """Call `events.<name>(*args)` for an executor; an exception there is logged, not raised
    (the engine's handler must never kill an executor's thread)."""
    if events is None:
        return
    try:
        getattr(events, name)(*args)
    except Exception:
        logging.getLogger("opcenter.runners").exception("ExecutorEvents.%s raised; ignored", name)
