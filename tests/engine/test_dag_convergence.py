"""A Dag's stored status converges to `derive_dag_status` of its instances when an operation
and an engine step write the same Dag at the same moment (found by the state-machine test on
PostgreSQL: SetSuccess of a stopped instance racing the end of its sibling's job left the Dag
FAILURE beside a successor that could run).

Each half of the fix is checked on its own, by reproducing the interleaving deterministically:
- `refresh_dag` (every operation) holds the Dag's row before it reads the instances, so it
  derives the status from what a concurrent engine step committed (PostgreSQL only: SQLite has
  one writer at a time);
- the engine settles a changed Dag's status again from its instances even when the store says
  the Dag finished, and runs it again when the instances say so.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.dags import bump_revision, refresh_dag, write_dag_status
from opcenter.engine.scheduler import Engine
from opcenter.service import instances as ops
from opcenter.service.context import ServiceContext
from opcenter.store.tables import Dag, Instance
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag, wait_for

S = InstanceStatus


def _set_instance(session: sa.orm.Session, instance_id: int, status: InstanceStatus) -> None:
    session.execute(
        sa.update(Instance).where(Instance.id == instance_id).values(status=status.value)
    )


def _dag(ctx: ServiceContext, dag_id: int) -> tuple[DagStatus, int]:
    with ctx.db.transaction(readonly=True) as session:
        row = session.execute(sa.select(Dag.status, Dag.revision).where(Dag.id == dag_id)).one()
    return DagStatus(row.status), row.revision


def test_the_engine_runs_a_failed_dag_again_when_its_instances_say_so(
    ctx: ServiceContext, engine: Engine
) -> None:
    """The Dag ended FAILURE (b failed, c after a and b is blocked). Then an operation sets b
    SUCCESS but, having derived the Dag's status from a view that missed the engine's own
    concurrent change, leaves FAILURE stored and only bumps the revision (what the racing
    operation did before the fix). The engine must still run c and end the Dag SUCCESS."""
    flow = make_flow(ctx, [node("a"), node("b", "shell", "exit 1"), node("c", after=["a", "b"])])
    dag_id = run_flow(flow).dag_id
    assert wait_dag(ctx, dag_id) is DagStatus.FAILURE
    rows = by_name(ctx, dag_id)
    assert rows["c"].status is S.NOT_RUN
    with ctx.db.transaction() as session:
        _set_instance(session, rows["b"].instance_id, S.SUCCESS)
        bump_revision(session, dag_id, ctx.clock())
    ctx.notify()
    assert wait_dag(ctx, dag_id, [DagStatus.SUCCESS]) is DagStatus.SUCCESS
    assert by_name(ctx, dag_id)["c"].status is S.SUCCESS


# PostgreSQL only: SQLite has one writer at a time, so the two writes cannot interleave there.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_an_operation_derives_the_status_after_a_concurrent_engine_write(
    ctx: ServiceContext,
) -> None:
    """PostgreSQL (READ COMMITTED). a RUNNING, b FAILURE, c (after a and b) NOT_RUN. An engine
    step, not yet committed, ends a SUCCESS and writes the Dag FAILURE (in its view b failed).
    Meanwhile an operation sets b SUCCESS and refreshes the Dag: it must wait for the step and
    derive RUNNING from both changes, not leave FAILURE standing."""
    flow = make_flow(ctx, [node("a", "shell"), node("b", "shell"), node("c", after=["a", "b"])])
    dag_id = run_flow(flow).dag_id  # no engine: the test plays its part
    ids = {name: row.instance_id for name, row in by_name(ctx, dag_id).items()}
    with ctx.db.transaction() as session:
        session.execute(sa.update(Dag).where(Dag.id == dag_id).values(status="RUNNING"))
        _set_instance(session, ids["a"], S.RUNNING)
        _set_instance(session, ids["b"], S.FAILURE)
    _, revision = _dag(ctx, dag_id)

    with ctx.db.transaction() as step:  # the engine's step, held open
        _set_instance(step, ids["a"], S.SUCCESS)
        assert write_dag_status(step, dag_id, DagStatus.FAILURE, 1, revision=revision)
        operation = _Operation(ctx, dag_id, ids["b"])
        operation.start()
        operation.wait_blocked()
    operation.join(timeout=10)
    assert operation.done, operation.error
    assert _dag(ctx, dag_id) == (DagStatus.RUNNING, revision + 1)


class _Operation(threading.Thread):
    """SetSuccess of `instance_id` as operations.py does it: change, then `refresh_dag`."""

    def __init__(self, ctx: ServiceContext, dag_id: int, instance_id: int) -> None:
        super().__init__(daemon=True)
        self.ctx, self.dag_id, self.instance_id = ctx, dag_id, instance_id
        self.pid: int | None = None
        self.done = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.ctx.db.transaction() as session:
                self.pid = session.scalar(sa.text("SELECT pg_backend_pid()"))
                _set_instance(session, self.instance_id, S.SUCCESS)
                refresh_dag(session, self.dag_id, self.ctx.clock())
            self.done = True
        except BaseException as exc:  # reported by the test
            self.error = exc

    def wait_blocked(self) -> None:
        """Until the operation waits for a lock the engine's step holds (observed in
        pg_stat_activity, not guessed with a sleep)."""

        def blocked() -> bool:
            if self.pid is None:
                return False
            with self.ctx.db.transaction(readonly=True) as session:
                wait = session.scalar(
                    sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": self.pid},
                )
            return wait == "Lock"

        wait_for(blocked, timeout=10)


# PostgreSQL only: SQLite has one writer at a time, so no two transactions hold row locks.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_an_operation_deadlocked_with_an_engine_step_is_retried_and_takes_effect(
    ctx: ServiceContext,
) -> None:
    """An engine step that starts a CREATED Dag holds the Dag's row, then claims its instances;
    an operation on one of them holds the instance's row, then wants the Dag's (refresh_dag).
    PostgreSQL aborts the operation, which waited first; it is retried and takes effect."""
    flow = make_flow(ctx, [node("a", "shell"), node("b", "shell", after=["a"])])
    dag_id = run_flow(flow).dag_id  # no engine: the test plays its part
    b = by_name(ctx, dag_id)["b"].instance_id
    outcome: dict[str, object] = {}

    def suspend() -> None:
        try:
            outcome["ok"] = ops.suspend_instance(ctx, instance_id=b, project_env="PROD")
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc

    with ctx.db.transaction() as step:  # the engine's step, starting the Dag
        step.execute(sa.update(Dag).where(Dag.id == dag_id).values(modified_at=ctx.clock()))
        step_pid = step.scalar(sa.text("SELECT pg_backend_pid()"))
        operation = threading.Thread(target=suspend, daemon=True)
        operation.start()
        wait_for(lambda: _blocked_by(ctx, step_pid) > 0, timeout=10)  # holds b, waits for the Dag
        step.execute(sa.update(Instance).where(Instance.id == b).values(modified_at=ctx.clock()))
    operation.join(timeout=20)
    assert outcome == {"ok": True}
    assert by_name(ctx, dag_id)["b"].suspended is True


def _blocked_by(ctx: ServiceContext, pid: int) -> int:
    """How many backends wait for a lock that backend `pid` holds."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
    with ctx.db.transaction(readonly=True) as session:
        return int(session.scalar(sa.text(query), {"pid": pid}))
