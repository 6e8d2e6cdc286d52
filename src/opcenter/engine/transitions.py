"""The engine's instance transitions, as conditional batch updates.

Each update names the state it expects (`… WHERE status = 'NOT_RUN' AND NOT suspended`) and
returns the rows it changed, so a transition that lost a race with an operator (a stop, a
suspend, possibly from another process) is simply not taken, and the engine acts only on the
rows the store confirmed. Every function runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import InstanceStatus
from opcenter.store.tables import Instance

__all__ = [
    "claim",
    "claim_retries",
    "finish_instant",
    "mark_running",
    "record_result",
]

S = InstanceStatus
_CHUNK = 500  # ids per statement (well below SQLite's bound-parameter limit)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _update(
    session: Session, ids: Sequence[int], expect: InstanceStatus, values: dict[str, Any]
) -> list[Any]:
    out: list[Any] = []
    for chunk in _chunks(ids):
        stmt = (
            sa.update(Instance)
            .where(
                Instance.id.in_(chunk),
                Instance.status == expect.value,
                Instance.suspended.is_(False),
            )
            .values(**values)
            .returning(Instance.id, Instance.attempt)
        )
        out.extend(session.execute(stmt).all())
    return out


def finish_instant(session: Session, ids: Sequence[int], now: int) -> list[tuple[int, int]]:
    """Dry-run and virtual instances whose upstream succeeded: NOT_RUN → SUCCESS at once,
    every step's time stamped. Returns (id, attempt) of the rows changed."""
    rows = _update(
        session,
        ids,
        S.NOT_RUN,
        {
            "status": S.SUCCESS.value,
            "attempt": Instance.attempt + 1,
            "begin_wait_time_time": now,
            "begin_wait_res_time": now,
            "begin_running_time": now,
            "finish_time": now,
            "modified_at": now,
        },
    )
    return [(r.id, r.attempt) for r in rows]


def claim(session: Session, ids: Sequence[int], now: int) -> list[tuple[int, int]]:
    """Instances whose upstream succeeded: NOT_RUN → WAIT_TIME → WAIT_RESOURCE. A manual run's
    scheduled time (business date + 1 day) is always past, so WAIT_TIME ends at once; both
    stamps are written. Starts a new attempt. Returns (id, attempt) of the rows changed."""
    rows = _update(
        session,
        ids,
        S.NOT_RUN,
        {
            "status": S.WAIT_RESOURCE.value,
            "attempt": Instance.attempt + 1,
            "begin_wait_time_time": now,
            "begin_wait_res_time": now,
            "begin_running_time": None,
            "finish_time": None,
            "modified_at": now,
        },
    )
    return [(r.id, r.attempt) for r in rows]


def claim_retries(session: Session, ids: Sequence[int], now: int) -> list[tuple[int, int]]:
    """Automatic reruns whose interval has passed: WAIT_TIME → WAIT_RESOURCE, new attempt."""
    rows = _update(
        session,
        ids,
        S.WAIT_TIME,
        {
            "status": S.WAIT_RESOURCE.value,
            "attempt": Instance.attempt + 1,
            "retry_at": None,
            "begin_wait_res_time": now,
            "begin_running_time": None,
            "finish_time": None,
            "modified_at": now,
        },
    )
    return [(r.id, r.attempt) for r in rows]


def mark_running(session: Session, ids: Sequence[int], now: int) -> list[int]:
    """WAIT_RESOURCE → RUNNING for the attempts about to be handed to the executor (committed
    before the hand-over, so a crash after it is seen as 'was running')."""
    rows = _update(
        session, ids, S.WAIT_RESOURCE, {"status": S.RUNNING.value, "begin_running_time": now}
    )
    return [r.id for r in rows]


def record_result(
    session: Session, instance_id: int, attempt: int, succeeded: bool, finished_at: int
) -> tuple[InstanceStatus, int | None] | None:
    """Record the end of a RUNNING attempt: SUCCESS; or, on failure, WAIT_TIME for an automatic
    rerun when the node has reruns left (AutoRerunTimes; none when RerunMode is ALL_DENIED),
    else FAILURE. Returns the new status, or None when the instance was no longer RUNNING
    that attempt (an operator stopped it, or a newer attempt exists). With WAIT_TIME comes the
    time the rerun is due (epoch ms)."""
    where = (
        Instance.id == instance_id,
        Instance.attempt == attempt,
        Instance.status == S.RUNNING.value,
    )
    common = {"finish_time": finished_at, "modified_at": finished_at}
    if succeeded:
        values: dict[str, Any] = {"status": S.SUCCESS.value, **common}
        return (S.SUCCESS, None) if _one(session, where, values) else None
    retry = {
        "status": S.WAIT_TIME.value,
        "auto_rerun_left": Instance.auto_rerun_left - 1,
        "retry_at": finished_at + Instance.auto_rerun_interval_millis,
        "begin_wait_time_time": finished_at,
        **common,
    }
    retry_where = (*where, Instance.auto_rerun_left > 0, Instance.rerun_mode != "ALL_DENIED")
    row = _one(session, retry_where, retry)
    if row is not None:
        return S.WAIT_TIME, row.retry_at
    values = {"status": S.FAILURE.value, **common}
    return (S.FAILURE, None) if _one(session, where, values) else None


def _one(session: Session, where: Iterable[Any], values: dict[str, Any]) -> Any:
    stmt = sa.update(Instance).where(*where).values(**values)
    return session.execute(stmt.returning(Instance.id, Instance.retry_at)).first()
