"""What an engine does with the store it finds on start, before anything else.

Only one engine drives a store at a time, so an instance that the store says is RUNNING when an
engine starts was running under a process that is gone: its attempt was interrupted. Recovery

1. kills what is left of every process group the store recorded (`Instance.pgid`,
   `proc_start`, `proc_boot`, see runners/reaper.py) that is still alive: the job's direct
   child died with its server (parent-death signal), but processes it started in the
   background may live on, and a rerun must never overlap them;
2. records each interrupted attempt: FAILURE, or, when the node has automatic reruns left
   (AutoRerunTimes), WAIT_TIME for exactly one rerun, with `error_message` and a log line
   `Interrupted by a restart of the opcenter server.` (its attempt row, `instance_attempt`,
   ends FAILURE with the same message); an attempt an operator had asked to stop (`stopped_by`
   set) ends FAILURE `Stopped by <who>.` without an automatic rerun; an attempt whose group
   could not be killed ends FAILURE without a rerun, so no two copies ever run.

WAIT_RESOURCE instances never reached a process (RUNNING is committed before the hand-over) and
are simply queued again; finished instances are never touched, so nothing that finished runs
again.

`recover` runs inside the caller's transaction and writes no file: it returns a `Recovery`
whose `write_logs()` the caller calls **after** the transaction committed, so a log never says
something the store does not.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import InstanceStatus
from opcenter.engine.dags import refresh_dag
from opcenter.engine.dispatch import write_lines
from opcenter.engine.paths import log_path
from opcenter.engine.transitions import end_attempt, record_result
from opcenter.runners.base import ProcessHandle
from opcenter.runners.reaper import alive, reap_all
from opcenter.runners.remote import rows as worker_rows
from opcenter.settings import Settings
from opcenter.store.tables import Dag, Instance, WorkerAttempt

__all__ = [
    "INTERRUPTED_LINE",
    "RERUN_LINE",
    "UNKILLABLE_LINE",
    "Recovery",
    "recover",
    "remote_attempts",
]

INTERRUPTED_LINE = "Interrupted by a restart of the opcenter server."
RERUN_LINE = "An automatic rerun is scheduled (AutoRerunTimes)."
UNKILLABLE_LINE = "Its processes could not be killed: no automatic rerun."

_NO_PROCESS = {"pgid": None, "proc_start": None, "proc_boot": None}
# Statements on the Core tables: the engine's session holds no ORM Instance objects that an
# update would leave stale, and a start that recovers nothing maps and configures no ORM class
# for them (an ORM update also read back the ids it changed, to synchronise the session).
_I = Instance.__table__
_D = Dag.__table__
_W = WorkerAttempt.__table__


@dataclass
class Recovery:
    """What `recover` did: the interrupted instances it settled, the process groups it killed,
    and the log lines still to write (by `write_logs`, after the commit)."""

    instance_ids: list[int] = field(default_factory=list)
    reaped: list[ProcessHandle] = field(default_factory=list)
    logs: list[tuple[Path, list[str]]] = field(default_factory=list)

    def write_logs(self) -> None:
        """Append the recovery lines to each attempt's log; call once the transaction that
        `recover` ran in has committed."""
        for path, lines in self.logs:
            write_lines(path, lines)


def recover(
    session: Session,
    settings: Settings,
    now: int,
    *,
    runs: Collection[int] | None = None,
    keep: Collection[int] = (),
) -> Recovery:
    """Kill the live process groups the store recorded, then settle the instances left RUNNING
    by a previous process (with `runs`: only the instances of those run ids), except the
    instances in `keep` (attempts on remote workers, adopted by the new engine). Runs in the
    caller's transaction; the caller calls `write_logs()` on the result after it commits."""
    scope = _scope(runs)
    if keep:
        scope.append(_I.c.id.not_in(sorted(keep)))
    recorded = _recorded(session, scope)
    reaped = reap_all(recorded.values(), settings.stop_grace_seconds)
    unkillable = {iid for iid, handle in recorded.items() if handle in reaped and alive(handle)}
    rows = session.execute(
        sa.select(_I.c.id, _I.c.dag_id, _I.c.attempt, _I.c.stopped_by).where(
            _I.c.status == InstanceStatus.RUNNING.value, *scope
        )
    ).all()
    result = Recovery(instance_ids=[r.id for r in rows], reaped=reaped)
    for r in rows:
        lines = _settle(session, r, now, unkillable=r.id in unkillable)
        result.logs.append((log_path(settings.data_dir, r.dag_id, r.id, r.attempt), lines))
    _forget_processes(session, scope, keep=unkillable)
    for dag_id in sorted({r.dag_id for r in rows}):
        refresh_dag(session, dag_id, now)
    return result


def remote_attempts(
    session: Session, *, runs: Collection[int] | None = None
) -> dict[tuple[int, int], tuple[int, str]]:
    """The RUNNING attempts handed to Celery workers (they have a `worker_attempt` row): key →
    (DagId, row state). A result a previous leader read but whose engine did not record it
    (`reported`) is turned back into `finished`, so it reaches the new engine."""
    rows = session.execute(
        sa.select(_I.c.id, _I.c.attempt, _I.c.dag_id)
        .join(_W, sa.and_(_W.c.instance_id == _I.c.id, _W.c.attempt == _I.c.attempt))
        .where(_I.c.status == InstanceStatus.RUNNING.value, *_scope(runs))
    ).all()
    dags = {(r.id, r.attempt): r.dag_id for r in rows}
    states = worker_rows.adoptable(session, dags)
    return {key: (dags[key], state) for key, state in states.items()}


def _scope(runs: Collection[int] | None) -> list[Any]:
    if runs is None:
        return []
    return [_I.c.dag_id.in_(sa.select(_D.c.id).where(_D.c.run_id.in_(list(runs))))]


def _recorded(session: Session, scope: list[Any]) -> dict[int, ProcessHandle]:
    rows = session.execute(
        sa.select(_I.c.id, _I.c.pgid, _I.c.proc_start, _I.c.proc_boot).where(
            _I.c.pgid.is_not(None), *scope
        )
    ).all()
    return {
        r.id: ProcessHandle(int(r.pgid), int(r.proc_start or 0), r.proc_boot or "") for r in rows
    }


def _settle(session: Session, r: Any, now: int, *, unkillable: bool) -> list[str]:
    """Record the end of one interrupted attempt; returns its log lines."""
    if r.stopped_by:
        message = f"Stopped by {r.stopped_by}."
        _fail(session, r.id, r.attempt, now, message)
        return [message]
    if unkillable:
        _fail(session, r.id, r.attempt, now, INTERRUPTED_LINE)
        return [INTERRUPTED_LINE, UNKILLABLE_LINE]
    outcome = record_result(session, r.id, r.attempt, False, now, INTERRUPTED_LINE)
    if outcome is not None and outcome[0] is InstanceStatus.WAIT_TIME:
        return [INTERRUPTED_LINE, RERUN_LINE]
    return [INTERRUPTED_LINE]


def _fail(session: Session, instance_id: int, attempt: int, now: int, message: str) -> None:
    """RUNNING → FAILURE without an automatic rerun (the process record is kept: see
    `_forget_processes`); the attempt's row too."""
    end_attempt(session, instance_id, attempt, InstanceStatus.FAILURE, message, now)
    session.execute(
        sa.update(_I)
        .where(
            _I.c.id == instance_id,
            _I.c.attempt == attempt,
            _I.c.status == InstanceStatus.RUNNING.value,
        )
        .values(
            status=InstanceStatus.FAILURE.value,
            error_message=message,
            finish_time=now,
            modified_at=now,
        )
    )


def _forget_processes(session: Session, scope: list[Any], *, keep: Collection[int]) -> None:
    """Every recorded group in scope is gone now (or, for `keep`, could not be killed and stays
    recorded so that the next start tries again)."""
    session.execute(
        sa.update(_I)
        .where(_I.c.pgid.is_not(None), _I.c.id.not_in(list(keep)), *scope)
        .values(**_NO_PROCESS)
    )
