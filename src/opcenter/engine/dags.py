"""Dag-level store writes shared by the engine and the operator operations.

- A Dag's status follows its instances (`domain.states.derive_dag_status`); `refresh_dag`
  recomputes and writes it (operations call it after changing an instance), holding the Dag's
  row so that concurrent writers converge (see there).
- The Dags of one run start in ascending date order: Dag `seq + 1` starts only once Dag `seq`
  has SUCCEEDED (`start_next`), which is what holds later dates while an earlier one failed.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import DagStatus
from opcenter.engine.view import DagView
from opcenter.store.prepared import Prepared
from opcenter.store.tables import Dag

__all__ = [
    "bump_revision",
    "lock_dag",
    "refresh_dag",
    "start_dag",
    "start_next",
    "startable_dags",
    "write_dag_status",
]

_FINISHED = (DagStatus.SUCCESS.value, DagStatus.FAILURE.value)
D = Dag.__table__


# Built once (cached compiled forms), on the Core table and run on the session's connection:
# the engine writes a Dag's status and starts the next date for every Dag it runs, and building
# a statement, or running it through the ORM (its bulk-update path evaluates the WHERE clause
# against the identity map on every call), costs more than running it. The engine's session
# holds no ORM Dag objects that such a write would leave stale.
_STATUS_VALUES = {
    "status": sa.bindparam("d_status"),
    "finish_time": sa.bindparam("d_finish", type_=sa.BigInteger()),
    "modified_at": sa.bindparam("d_now"),
}
_WRITE_STATUS = (
    sa.update(Dag)
    .where(Dag.id == sa.bindparam("d_id"), Dag.status != DagStatus.CREATED.value)
    .values(**_STATUS_VALUES)
    .returning(Dag.id)
)
_WRITE_STATUS_AT = Prepared(
    sa.update(D)
    .where(
        D.c.id == sa.bindparam("d_id"),
        D.c.status != DagStatus.CREATED.value,
        D.c.revision == sa.bindparam("d_revision"),
    )
    .values(**_STATUS_VALUES)
    .returning(D.c.id)
)
_START = {
    "status": DagStatus.RUNNING.value,
    "start_time": sa.bindparam("d_now"),
    "modified_at": sa.bindparam("d_now"),
}
# These three run through the driver (store/prepared.py): once or twice per Dag the engine runs.
_START_DAG = Prepared(
    sa.update(D)
    .where(D.c.id == sa.bindparam("d_id"), D.c.status == DagStatus.CREATED.value)
    .values(**_START)
    .returning(D.c.id)
)
_START_NEXT = Prepared(
    sa.update(D)
    .where(
        D.c.run_id == sa.bindparam("d_run"),
        D.c.seq == sa.bindparam("d_seq"),
        D.c.status == DagStatus.CREATED.value,
    )
    .values(**_START)
    .returning(D.c.id, D.c.revision)
)


def write_dag_status(
    session: Session, dag_id: int, status: DagStatus, now: int, *, revision: int | None = None
) -> bool:
    """Set a started Dag's status; SUCCESS/FAILURE stamp FinishTime, RUNNING clears it.

    With `revision` (the engine's writes), only while the Dag still has that revision: an
    operator (in any process) bumps it with every change, so a status the engine derived from
    a view older than the operator's change is refused (False) and the engine reloads the Dag.
    The engine's own writes leave the revision alone. Without `revision` (operations, whose
    session may hold the Dag as an ORM object) the write goes through the ORM, which keeps
    such an object in step; the engine's goes to the connection (see `_WRITE_STATUS_AT`)."""
    finish = now if status.value in _FINISHED else None
    params = {"d_id": dag_id, "d_status": status.value, "d_finish": finish, "d_now": now}
    if revision is None:
        row = session.execute(_WRITE_STATUS, params).first()
    else:
        params["d_revision"] = revision
        return bool(_WRITE_STATUS_AT.rows(session.connection(), params))
    return row is not None


def bump_revision(session: Session, dag_id: int, now: int) -> None:
    """Tell the engine (maybe in another process) that an operator changed this Dag."""
    session.execute(
        sa.update(Dag).where(Dag.id == dag_id).values(revision=Dag.revision + 1, modified_at=now)
    )


def refresh_dag(session: Session, dag_id: int, now: int) -> DagStatus:
    """Recompute the Dag's status from its instances, write it, and bump its revision.
    Returns the new status. Call it after changing the instances, in the same transaction.

    The Dag row is locked before the instances are read, which is why the stored status
    converges to the function of the instances on PostgreSQL (READ COMMITTED: each statement
    sees what committed before it; SQLite has one writer at a time, so there the writes never
    interleave). The writes that can interleave are the engine's step and operations (two
    engines cannot: leadership). An engine step that writes this Dag's status (a
    compare-and-set on the revision of its view) either committed before the lock was granted,
    and the reads below see its instance changes too; or it waits for this transaction, finds
    the revision bumped and is refused, and the engine reloads the Dag. A step that changed
    instances without writing the Dag may be missed by the reads below, but the bumped
    revision makes the engine reload the Dag and settle its status again from its instances,
    whatever status is stored (scheduler `Engine._reload`). Operations take the lock in turn,
    so the last of them reads what the earlier ones wrote. Without the lock, an operation
    could read an instance as RUNNING while the engine's uncommitted step ended it and wrote
    FAILURE, and leave FAILURE standing beside a successor that can run."""
    lock_dag(session, dag_id)
    view = DagView.load(session, dag_id)
    assert view is not None, f"Dag {dag_id} vanished inside its transaction"
    status = view.derive_status()
    if status is not view.status:
        write_dag_status(session, dag_id, status, now)
    bump_revision(session, dag_id, now)
    return status


def lock_dag(session: Session, dag_id: int) -> None:
    """Hold the Dag's row until the transaction ends (`SELECT … FOR UPDATE` on PostgreSQL; on
    SQLite the write transaction already excludes every other writer)."""
    session.execute(sa.select(Dag.id).where(Dag.id == dag_id).with_for_update())


def start_dag(session: Session, dag_id: int, now: int) -> bool:
    """CREATED → RUNNING (stamps StartTime); False when the Dag was not CREATED."""
    return bool(_START_DAG.rows(session.connection(), {"d_id": dag_id, "d_now": now}))


def start_next(session: Session, run_id: int, seq: int, now: int) -> tuple[int, int] | None:
    """Start the Dag after `seq` in its run (its predecessor just succeeded); its id and
    revision (what the engine's view of it needs from its row, read by the same statement),
    or None."""
    params = {"d_run": run_id, "d_seq": seq + 1, "d_now": now}
    rows = _START_NEXT.rows(session.connection(), params)
    return (int(rows[0][0]), int(rows[0][1])) if rows else None


def startable_dags(session: Session, runs: Collection[int] | None = None) -> list[int]:
    """CREATED Dags that may start: the first of their run, or the one after a SUCCESS
    (of the runs `runs` only, when given)."""
    prev = D.alias()
    query = sa.select(D.c.id)
    if runs is not None:
        query = query.where(D.c.run_id.in_(sorted(runs)))
    rows = session.execute(
        query.where(D.c.status == DagStatus.CREATED.value)
        .where(
            sa.or_(
                D.c.seq == 0,
                sa.exists().where(
                    prev.c.run_id == D.c.run_id,
                    prev.c.seq == D.c.seq - 1,
                    prev.c.status == DagStatus.SUCCESS.value,
                ),
            )
        )
        .order_by(D.c.id)
    ).all()
    return [r.id for r in rows]
