"""The engine's instance transitions, as conditional batch updates.

Each update names the state it expects (`… WHERE status = 'NOT_RUN' AND NOT suspended`) and
returns the rows it changed, so a transition that lost a race with an operator (a stop, a
suspend, possibly from another process) is simply not taken, and the engine acts only on the
rows the store confirmed. Every function runs inside the caller's transaction.

Each attempt also gets its row in `instance_attempt` (its id is the `InstanceHistoryId` of
ListInstanceHistory), in the same transaction as the transition: written when the attempt starts
RUNNING (`mark_running`) or finishes inside the engine (`finish_instant`), one INSERT … SELECT
per batch that copies the instance's row as the transition left it; updated when the attempt
ends (`record_end`, `fail_to_start`, `end_attempt`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import InstanceStatus
from opcenter.store.prepared import Prepared
from opcenter.store.tables import Dag, FileVersion, Instance, InstanceAttempt

__all__ = [
    "Ended",
    "claim",
    "claim_retries",
    "end_attempt",
    "fail_to_start",
    "finish_instant",
    "finish_instant_all_or_none",
    "mark_running",
    "record_attempts",
    "record_end",
    "record_process",
    "record_result",
]

S = InstanceStatus
T = Instance.__table__
A = InstanceAttempt.__table__
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
        "error_message": "",
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
        "error_message": "",
        "stopped_by": None,
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
        "error_message": "",
        "stopped_by": None,
        "modified_at": NOW,
    },
)
_RUNNING = _statement(
    S.WAIT_RESOURCE, {"status": S.RUNNING.value, "begin_running_time": NOW, "modified_at": NOW}
).returning(
    # What an executor spec needs from the instance, so handing it over reads nothing more.
    T.c.dag_id,
    T.c.workspace_id,
    T.c.version_id,
    T.c.node_id,
    T.c.node_name,
    T.c.file_type,
    T.c.env,
    T.c.param_values,
    T.c.resolved_params,
    T.c.timeout_seconds,
    sa.select(FileVersion.content)
    .where(FileVersion.id == T.c.version_id)
    .scalar_subquery()
    .label("content"),
    sa.select(Dag.biz_date).where(Dag.id == T.c.dag_id).scalar_subquery().label("biz_date"),
    sa.select(FileVersion.resource_group)
    .where(FileVersion.id == T.c.version_id)
    .scalar_subquery()
    .label("resource_group"),
    T.c.begin_wait_res_time,  # when it became ready: the dispatch latency metric
)


def _update(session: Session, stmt: sa.Update, ids: Sequence[int], now: int) -> list[Any]:
    conn = session.connection()
    out: list[Any] = []
    for chunk in _chunks(ids):
        out.extend(conn.execute(stmt, {"ids": list(chunk), "now": now}).all())
    return out


# The batch transitions of the hot path, run through the driver (store/prepared.py): the
# statement is the same compare-and-set, without SQLAlchemy's ~100 µs per execution.
_FINISH_INSTANT_P = Prepared(_FINISH_INSTANT)
_CLAIM_P = Prepared(_CLAIM)
_CLAIM_RETRY_P = Prepared(_CLAIM_RETRY)


def _transition(
    session: Session, stmt: Prepared, ids: Sequence[int], now: int
) -> list[tuple[int, int]]:
    """(id, attempt) of the rows `stmt` changed among `ids`, in chunks."""
    conn = session.connection()
    out: list[tuple[int, int]] = []
    for chunk in _chunks(ids):
        out.extend(stmt.rows(conn, {"ids": chunk, "now": now}))
    return out


# The attempt rows of a batch: one INSERT … SELECT that copies each instance's current attempt
# (its number, what it runs, its status and times as the transition just wrote them), built once
# per dialect. A row that exists already (the attempt was recorded before) is left as it is.
_ATTEMPT_COLUMNS = (
    "instance_id",
    "attempt",
    "dag_id",
    "workspace_id",
    "env",
    "node_id",
    "version_id",
    "task_type",
    "status",
    "error_message",
    "begin_wait_time_time",
    "begin_wait_res_time",
    "begin_running_time",
    "finish_time",
    "created_at",
    "modified_at",
)
_NOW_MS = sa.bindparam("now", type_=sa.BigInteger())
_ATTEMPT_SOURCE = sa.select(
    T.c.id,
    T.c.attempt,
    T.c.dag_id,
    T.c.workspace_id,
    T.c.env,
    T.c.node_id,
    T.c.version_id,
    T.c.task_type,
    T.c.status,
    T.c.error_message,
    T.c.begin_wait_time_time,
    T.c.begin_wait_res_time,
    T.c.begin_running_time,
    T.c.finish_time,
    _NOW_MS,
    _NOW_MS,
).where(
    T.c.id.in_(sa.bindparam("ids", expanding=True)),
    T.c.attempt > 0,
    # an attempt already recorded is left alone (a portable ON CONFLICT DO NOTHING)
    ~sa.exists().where(A.c.instance_id == T.c.id, A.c.attempt == T.c.attempt),
)
# Core's INSERT … SELECT: SQLAlchemy caches its compiled form (the dialects' own insert with
# ON CONFLICT is compiled again on every call, ~1 ms each on the engine's hot path).
_INSERT_ATTEMPTS = Prepared(sa.insert(A).from_select(list(_ATTEMPT_COLUMNS), _ATTEMPT_SOURCE))


def record_attempts(session: Session, ids: Sequence[int], now: int) -> None:
    """Write the attempt row (`instance_attempt`) of each instance's current attempt, as the
    instance's row now describes it: one statement per batch of 500. For the instances a
    transition just started (RUNNING) or finished inside the engine (dry run, virtual), and for
    an attempt an operator stopped while it waited for a slot."""
    if not ids:
        return
    conn = session.connection()
    for chunk in _chunks(ids):
        _INSERT_ATTEMPTS.rows(conn, {"ids": chunk, "now": now})


_END_ATTEMPT = (
    sa.update(A)
    .where(A.c.instance_id == sa.bindparam("a_instance"), A.c.attempt == sa.bindparam("a_attempt"))
    .values(
        status=sa.bindparam("a_status"),
        error_message=sa.bindparam("a_message"),
        finish_time=NOW,
        modified_at=NOW,
    )
)


def end_attempt(
    session: Session, instance_id: int, attempt: int, status: InstanceStatus, message: str, now: int
) -> None:
    """Record how an attempt ended on its attempt row (none for an attempt that started before
    opcenter recorded attempts: then nothing changes)."""
    session.connection().execute(
        _END_ATTEMPT,
        {
            "a_instance": instance_id,
            "a_attempt": attempt,
            "a_status": status.value,
            "a_message": message,
            "now": now,
        },
    )


def finish_instant(session: Session, ids: Sequence[int], now: int) -> list[tuple[int, int]]:
    """Dry-run and virtual instances whose upstream succeeded: NOT_RUN → SUCCESS at once,
    every step's time stamped, and their attempt rows written. Returns (id, attempt) of the
    rows changed."""
    done = _transition(session, _FINISH_INSTANT_P, ids, now)
    record_attempts(session, [d[0] for d in done], now)
    return done


# `_FINISH_INSTANT` that changes every row or none: the same condition, counted over all the
# ids by an uncorrelated subquery (evaluated once, before any row changes), must hold for
# exactly `n` rows. One statement instead of a savepoint around the batch (SAVEPOINT and
# RELEASE cost more than the update on a range's short chains). SQLite only: one writer, the
# statement reads what it writes; on PostgreSQL (READ COMMITTED) a row committed concurrently
# is re-checked alone, so a partial update stays possible there.
_FINISH_ALL_OR_NONE = _FINISH_INSTANT.where(
    sa.select(sa.func.count())
    .select_from(T)
    .where(
        T.c.id.in_(sa.bindparam("ids", expanding=True)),
        T.c.status == S.NOT_RUN.value,
        T.c.suspended.is_(False),
    )
    .scalar_subquery()
    == sa.bindparam("n")
)
_FINISH_ALL_OR_NONE_P = Prepared(_FINISH_ALL_OR_NONE)
ALL_OR_NONE_MAX = _CHUNK  # one statement: at most this many ids


def finish_instant_all_or_none(
    session: Session, ids: Sequence[int], now: int
) -> list[tuple[int, int]]:
    """`finish_instant` of every one of `ids` (distinct, at most `ALL_OR_NONE_MAX`), or of
    none of them (an empty list) when any of them may not finish. SQLite only (see
    `_FINISH_ALL_OR_NONE`)."""
    if len(ids) > ALL_OR_NONE_MAX:
        raise ValueError(f"at most {ALL_OR_NONE_MAX} ids in one all-or-none finish")
    params = {"ids": ids, "n": len(ids), "now": now}
    done = _FINISH_ALL_OR_NONE_P.rows(session.connection(), params)
    record_attempts(session, [d[0] for d in done], now)
    return done


def claim(session: Session, ids: Sequence[int], now: int) -> list[tuple[int, int]]:
    """Instances whose upstream succeeded: NOT_RUN → WAIT_TIME → WAIT_RESOURCE. A manual run's
    scheduled time (business date + 1 day) is always past, so WAIT_TIME ends at once; both
    stamps are written. Starts a new attempt. Returns (id, attempt) of the rows changed."""
    return _transition(session, _CLAIM_P, ids, now)


def claim_retries(session: Session, ids: Sequence[int], now: int) -> list[tuple[int, int]]:
    """Automatic reruns whose interval has passed: WAIT_TIME → WAIT_RESOURCE, new attempt."""
    return _transition(session, _CLAIM_RETRY_P, ids, now)


def mark_running(session: Session, ids: Sequence[int], now: int) -> list[Any]:
    """WAIT_RESOURCE → RUNNING for the attempts about to be handed to the executor (committed
    before the hand-over, so a crash after it is seen as 'was running'), and their attempt rows
    written. Returns the changed rows: id, attempt and the columns `dispatch.prepare` builds the
    spec from."""
    rows = _update(session, _RUNNING, ids, now)
    record_attempts(session, [r.id for r in rows], now)
    return rows


_RESULT_WHERE = (
    T.c.id == sa.bindparam("b_instance"),
    T.c.attempt == sa.bindparam("b_attempt"),
    T.c.status == S.RUNNING.value,
)
# An attempt's process record is cleared with its result: the group is gone.
_RESULT_COMMON = {
    "finish_time": NOW,
    "modified_at": NOW,
    "pgid": None,
    "proc_start": None,
    "proc_boot": None,
}
# An attempt an operator stopped (`stopped_by` set) ends FAILURE whatever its exit, without an
# automatic rerun, and says who stopped it.
_NOT_STOPPED = T.c.stopped_by.is_(None)
_MESSAGE = sa.bindparam("b_message", type_=sa.Text())
_STOP_MESSAGE = sa.case(
    (T.c.stopped_by.is_not(None), "Stopped by " + T.c.stopped_by + "."),
    else_=_MESSAGE,
)
_RETURNING = (T.c.id, T.c.retry_at, T.c.stopped_by, T.c.error_message)
# Built once, like the batch statements above: one result per finished attempt is the engine's
# hottest path, and building a statement costs more than running it.
_SUCCEEDED = (
    sa.update(T)
    .where(*_RESULT_WHERE, _NOT_STOPPED)
    .values(status=S.SUCCESS.value, **_RESULT_COMMON)
    .returning(*_RETURNING)
)
_RETRY = (
    sa.update(T)
    .where(*_RESULT_WHERE, _NOT_STOPPED, T.c.auto_rerun_left > 0, T.c.rerun_mode != "ALL_DENIED")
    .values(
        status=S.WAIT_TIME.value,
        auto_rerun_left=T.c.auto_rerun_left - 1,
        # BigInteger on the left: the sum of epoch ms overflows PostgreSQL's int4.
        retry_at=sa.bindparam("retry_from", type_=sa.BigInteger()) + T.c.auto_rerun_interval_millis,
        begin_wait_time_time=NOW,
        error_message=_MESSAGE,  # why the attempt failed, until the rerun starts
        **_RESULT_COMMON,
    )
    .returning(*_RETURNING)
)
_FAILED = (
    sa.update(T)
    .where(*_RESULT_WHERE)
    .values(status=S.FAILURE.value, error_message=_STOP_MESSAGE, **_RESULT_COMMON)
    .returning(*_RETURNING)
)


class Ended(NamedTuple):
    """How an attempt's end was recorded."""

    status: InstanceStatus
    retry_at: int | None  # with WAIT_TIME: when the automatic rerun is due (epoch ms)
    stopped_by: str | None  # with FAILURE: the operator who stopped it, if one did


def record_end(
    session: Session,
    instance_id: int,
    attempt: int,
    succeeded: bool,
    finished_at: int,
    message: str = "",
) -> Ended | None:
    """Record the end of a RUNNING attempt, as a compare-and-set on RUNNING and the attempt:
    SUCCESS; or, on failure, WAIT_TIME for an automatic rerun when the node has reruns left
    (AutoRerunTimes; none when RerunMode is ALL_DENIED), else FAILURE. A failure's `message`
    (the runner's `exit code 1`, `timed out after 60 s` …) becomes the `error_message` of the
    instance and of the attempt. An attempt an operator stopped ends FAILURE in any case,
    `error_message` "Stopped by <who>.". The attempt's row says how it ended (FAILURE when it
    is rerun automatically). None when the instance was no longer RUNNING that attempt."""
    conn = session.connection()
    params = {"b_instance": instance_id, "b_attempt": attempt, "now": finished_at}
    ended: Ended | None = None
    if succeeded:
        if conn.execute(_SUCCEEDED, params).first() is not None:
            ended, message = Ended(S.SUCCESS, None, None), ""
    else:
        retry = {**params, "retry_from": finished_at, "b_message": message}
        found = conn.execute(_RETRY, retry).first()
        if found is not None:
            ended = Ended(S.WAIT_TIME, found.retry_at, None)
    if ended is None:
        found = conn.execute(_FAILED, {**params, "b_message": message}).first()
        if found is None:
            return None
        ended, message = Ended(S.FAILURE, None, found.stopped_by), found.error_message
    status = S.SUCCESS if ended.status is S.SUCCESS else S.FAILURE
    end_attempt(session, instance_id, attempt, status, message, finished_at)
    return ended


def record_result(
    session: Session,
    instance_id: int,
    attempt: int,
    succeeded: bool,
    finished_at: int,
    message: str = "",
) -> tuple[InstanceStatus, int | None] | None:
    """`record_end` as (status, retry_at), for callers that need no more."""
    ended = record_end(session, instance_id, attempt, succeeded, finished_at, message)
    return None if ended is None else (ended.status, ended.retry_at)


def fail_to_start(session: Session, instance_id: int, attempt: int, message: str, now: int) -> bool:
    """An attempt marked RUNNING that the executor refused: FAILURE with `message` as its
    `error_message` (the instance's and the attempt's), no automatic rerun. False when the row
    was not RUNNING that attempt."""
    row = session.execute(
        sa.update(T)
        .where(*_RESULT_WHERE)
        .values(status=S.FAILURE.value, error_message=message, **_RESULT_COMMON)
        .returning(T.c.id),
        {"b_instance": instance_id, "b_attempt": attempt, "now": now},
    ).first()
    if row is None:
        return False
    end_attempt(session, instance_id, attempt, S.FAILURE, message, now)
    return True


def record_process(
    session: Session, instance_id: int, attempt: int, pgid: int, start: int, boot: str
) -> bool:
    """Record the process group of a RUNNING attempt (for recovery after a crash)."""
    row = session.execute(
        sa.update(T)
        .where(*_RESULT_WHERE)
        .values(pgid=pgid, proc_start=start, proc_boot=boot)
        .returning(T.c.id),
        {"b_instance": instance_id, "b_attempt": attempt},
    ).first()
    return row is not None
