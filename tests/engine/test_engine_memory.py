"""The engine keeps nothing of a finished Dag (issue 16: the server's memory stays flat however
many instances it has run): its in-memory views, queues and in-flight maps empty out once every
Dag has finished, whether it succeeded (a date range, each date started by the one before),
failed (a Shell node exiting 1, retried once), or ran a real process."""

from __future__ import annotations

from opcenter.domain.model import DagStatus
from opcenter.engine.scheduler import Engine
from opcenter.service.context import ServiceContext
from opcenter.service.runs import list_dags
from tests.engine.builders import make_flow, node, run_flow, wait_dag, wait_for


def _held(engine: Engine) -> dict[str, int]:
    """What the engine holds per Dag or per attempt (each should be empty when idle)."""
    return {
        "dags": len(engine._dags),
        "queue": len(engine._queue),
        "queued": len(engine._queued),
        "in_flight": len(engine._in_flight),
        "stopping": len(engine._stopping),
        "next": len(engine._next),
        "stale": len(engine._stale),
        "retries": len(engine._retries),
    }


def test_the_engine_forgets_every_finished_dag(ctx: ServiceContext, engine: Engine) -> None:
    # Given a virtual flow run over a range of four dates, and a flow whose Shell node fails
    virtual = make_flow(ctx, [node("a"), node("b", after=["a"]), node("c", after=["a", "b"])])
    failing = make_flow(
        ctx,
        [
            node("ok", "shell", "true"),
            node("bad", "shell", "exit 1", after=["ok"], auto_rerun_times=1),
            node("after", after=["bad"]),
        ],
        name="failing",
        create_workspace=False,
    )
    ranged = run_flow(
        virtual, start_biz_date="2020-01-01 00:00:00", end_biz_date="2020-01-04 00:00:00"
    )
    failed = run_flow(failing)
    # When every Dag has finished
    dags = list_dags(ctx, op_seq=ranged.op_seq, project_env="PROD")
    assert len(dags) == 4
    for dag in dags:
        assert wait_dag(ctx, dag.dag_id) is DagStatus.SUCCESS
    assert wait_dag(ctx, failed.dag_id) is DagStatus.FAILURE
    # Then the engine holds nothing of them (its last step may still be committing)
    idle = dict.fromkeys(_held(engine), 0)
    wait_for(lambda: _held(engine) == idle)
