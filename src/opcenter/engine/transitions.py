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
T = Instance.__table__
_CHUNK = 500  # ids per statement (well below SQLite's bound-parameter limit)
NOW = sa.bindparam("now")


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _statement(expect: InstanceStatus, values: dict[str, Any]) -> sa.Update:
    """Built once per transition: Core, with an expanding IN, so SQLAlchemy's statement cache
    serves every later call (the hot path runs one of these per wave of successors)."""
    return (
        sa.update(T)
        .where(
            T.c.id.in_(sa.bindparam("ids", expanding=True)),
            T.c.status == expect.value,
            T.c.suspended.is_(False),
        )
        .values(**values)
        .returning(T.c.id, T.c.attempt)
    )


_FINISH_INSTANT = _statement(
    S.NOT_RUN,
    {
        "status": S.SUCCESS.value,
        "attempt": T.c.attempt + 1,
        "begin_wait_time_time": NOW,
        "begin_wait_res_time": NOW,
        "begin_running_time": NOW,
        "finish_time": NOW,
        "modified_at": NOW,
    },
)
_CLAIM = _statement(
    S.NOT_RUN,
    {
        "status": S.WAIT_RESOURCE.value,
        "attempt": T.c.attempt + 1,
        "begin_wait_time_time": NOW,
        "begin_wait_res_time": NOW,
        "begin_running_time": None,
        "finish_time": None,
        "modified_at": NOW,
    },
)
_CLAIM_RETRY = _statement(
    S.WAIT_TIME,
    {
        "status": S.WAIT_RESOURCE.value,
        "attempt": T.c.attempt + 1,
        "retry_at": None,
        "begin_wait_res_time": NOW,
        "begin_running_time": None,
        "finish_time": None,
        "modified_at": NOW,
    },
)
_RUNNING = _statement(
    S.WAIT_RESOURCE, {"status": S.RUNNING.value, "begin_running_time": NOW, "modified_at": NOW}
)


def _update(session: Session, stmt: sa.Update, ids: Sequence[int], now: int) -> list[Any]:
    conn = session.connection()
    out: list[Any] = []
    for chunk in _chunks(ids):
        out.extend(conn.execute(stmt, {"ids": list(chunk), "now": now}).all())
    return out


def finish_instant(session: Session, ids: Sequence[int], now: int) -> list[tuple[int, int]]:
    """Dry-run and virtual instances whose upstream succeeded: NOT_RUN → SUCCESS at once,
    every step's time stamped. Returns (id, attempt) of the rows changed."""
    return [(r.id, r.attempt) for r in _update(session, _FINISH_INSTANT, ids, now)]


def claim(session: Session, ids: Sequence[int], now: int) -> list[tuple[int, int]]:
    """Instances whose upstream succeeded: NOT_RUN → WAIT_TIME → WAIT_RESOURCE. A manual run's
    scheduled time (business date + 1 day) is always past, so WAIT_TIME ends at once; both
    stamps are written. Starts a new attempt. Returns (id, attempt) of the rows changed."""
    return [(r.id, r.attempt) for r in _update(session, _CLAIM, ids, now)]


def claim_retries(session: Session, ids: Sequence[int], now: int) -> list[tuple[int, int]]:
    """Automatic reruns whose interval has passed: WAIT_TIME → WAIT_RESOURCE, new attempt."""
    return [(r.id, r.attempt) for r in _update(session, _CLAIM_RETRY, ids, now)]


def mark_running(session: Session, ids: Sequence[int], now: int) -> list[int]:
    """WAIT_RESOURCE → RUNNING for the attempts about to be handed to the executor (committed
    before the hand-over, so a crash after it is seen as 'was running')."""
    return [r.id for r in _update(session, _RUNNING, ids, now)]


def record_result(
    session: Session, instance_id: int, attempt: int, succeeded: bool, finished_at: int
) -> tuple[InstanceStatus, int | None] | None:
    """Record the end of a RUNNING attempt: SUCCESS; or, on failure, WAIT_TIME for an automatic
    rerun when the node has reruns left (AutoRerunTimes; none when RerunMode is ALL_DENIED),
    else FAILURE. Returns the new status, or None when the instance was no longer RUNNING
    that attempt (an operator stopped it, or a newer attempt exists). With WAIT_TIME comes the
    time the rerun is due (epoch ms)."""
    where = (T.c.id == instance_id, T.c.attempt == attempt, T.c.status == S.RUNNING.value)
    common = {"finish_time": finished_at, "modified_at": finished_at}
    if succeeded:
        values: dict[str, Any] = {"status": S.SUCCESS.value, **common}
        return (S.SUCCESS, None) if _one(session, where, values) else None
    retry = {
        "status": S.WAIT_TIME.value,
        "auto_rerun_left": T.c.auto_rerun_left - 1,
        # BigInteger on the left: the sum of epoch ms overflows PostgreSQL's int4.
        "retry_at": sa.literal(finished_at, sa.BigInteger()) + T.c.auto_rerun_interval_millis,
        "begin_wait_time_time": finished_at,
        **common,
    }
    retry_where = (*where, T.c.auto_rerun_left > 0, T.c.rerun_mode != "ALL_DENIED")
    row = _one(session, retry_where, retry)
    if row is not None:
        return S.WAIT_TIME, row.retry_at
    values = {"status": S.FAILURE.value, **common}
    return (S.FAILURE, None) if _one(session, where, values) else None


def _one(session: Session, where: Iterable[Any], values: dict[str, Any]) -> Any:
    stmt = sa.update(T).where(*where).values(**values)
    return session.connection().execute(stmt.returning(T.c.id, T.c.retry_at)).first()
