"""The engine's side of the contracts between the parts: the job environment it puts in each
spec, the process record of a running attempt, a scoped engine, and leadership."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.leader import Leadership
from opcenter.engine.scheduler import Engine, EngineBusy
from opcenter.runners.local import LocalExecutor
from opcenter.service import instances as ops
from opcenter.service import logs
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.runs import get_dag, list_dags
from opcenter.store.tables import Instance, Workspace
from tests.engine.builders import biz, by_name, make_flow, node, run_flow, wait_dag, wait_for

S = InstanceStatus
PROD = "PROD"


def log_of(ctx: ServiceContext, instance_id: int) -> str:
    return logs.get_instance_log(ctx, instance_id=instance_id, project_env=PROD)


def test_a_job_sees_its_identifiers_parameters_and_the_workspace_environment(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    # Given a workspace that gives its jobs a variable, and a node with parameters
    code = (
        'echo "id=$OPCENTER_INSTANCE_ID dag=$OPCENTER_DAG_ID node=$OPCENTER_NODE_ID '
        'day=$OPCENTER_BIZDATE attempt=$OPCENTER_ATTEMPT params=$OPCENTER_PARAMS team=$TEAM"'
    )
    flow = make_flow(ctx, [node("show", "shell", code, params="x=1 y=2")])
    with ctx.db.transaction() as session:
        session.execute(
            sa.update(Workspace).values(
                job_env=json.dumps({"TEAM": "data", "OPCENTER_INSTANCE_ID": "forged"})
            )
        )
    start_engine(ctx)
    created = run_flow(flow, biz_date="2020-03-04 00:00:00")
    # Then the job sees them all, its own identifiers winning over the workspace's
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    show = by_name(ctx, created.dag_id)["show"]
    expected = (
        f"id={show.instance_id} dag={created.dag_id} node={flow.id('show')} day=20200304 "
        f"attempt=1 params={show.param_values} team=data"
    )
    assert expected in log_of(ctx, show.instance_id)


def test_a_running_attempt_has_its_process_recorded_until_its_result(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    flag = ctx.settings.data_dir / "go"
    engine = start_engine(ctx)
    flow = make_flow(ctx, [node("wait", "shell", f"while [ ! -e {flag} ]; do sleep 0.02; done")])
    created = run_flow(flow)
    wait_id = by_name(ctx, created.dag_id)["wait"].instance_id
    wait_for(lambda: ops.get_instance(ctx, instance_id=wait_id, project_env=PROD).status
             is S.RUNNING)  # fmt: skip
    wait_for(lambda: process_of(ctx, wait_id)[0] is not None)  # the real report came first
    # When the executor reports the attempt's process group (an event like any other)
    engine.on_started(wait_id, 1, SimpleNamespace(pgid=4242, start_ticks=77, boot_id="b-1"))
    # Then the engine records it, and clears it with the attempt's result
    wait_for(lambda: process_of(ctx, wait_id) == (4242, 77, "b-1"))
    engine.on_started(wait_id, 9, SimpleNamespace(pgid=1, start_ticks=1, boot_id="x"))
    flag.touch()
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    assert process_of(ctx, wait_id) == (None, None, None)  # a stale attempt never wrote


def process_of(ctx: ServiceContext, instance_id: int) -> tuple[object, object, object]:
    with ctx.db.transaction(readonly=True) as session:
        row = session.get(Instance, instance_id)
        assert row is not None
        return row.pgid, row.proc_start, row.proc_boot


def test_a_scoped_engine_drives_its_runs_only(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    flow = make_flow(ctx, [node("a", "shell", "true"), node("b", after=["a"])])
    mine = run_flow(flow)
    theirs = run_flow(flow)
    start_engine(ctx, runs={mine.op_seq})
    assert wait_dag(ctx, mine.dag_id) is DagStatus.SUCCESS
    # A run created while it drives, and one of its own instances rerun after that: by the time
    # the rerun is done, the engine has looked at the store past the newer run
    later = run_flow(flow)
    a = by_name(ctx, mine.dag_id)["a"].instance_id
    ops.restart_instance(ctx, instance_id=a, project_env=PROD)
    wait_for(lambda: ops.get_instance(ctx, instance_id=a, project_env=PROD).attempt == 2)
    assert wait_dag(ctx, mine.dag_id) is DagStatus.SUCCESS
    for other in (theirs, later):
        assert get_dag(ctx, dag_id=other.dag_id, project_env=PROD).status is DagStatus.CREATED


def test_a_scoped_engine_tells_when_its_run_may_have_ended(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    """`dags_settled` (what `opcenter run --wait` waits on instead of polling) is set once the
    step that finished the run's last Dag has committed, not when an earlier date succeeds."""
    flow = make_flow(ctx, [node("a", "shell", "sleep 0.5"), node("b", after=["a"])])
    created = run_flow(flow, start_biz_date=biz(days_ago=1), end_biz_date=biz())
    first, second = created.dag_ids
    engine = start_engine(ctx, runs={created.op_seq})
    assert wait_dag(ctx, first) is DagStatus.SUCCESS
    assert not engine.dags_settled.is_set()  # the second date runs now
    assert engine.dags_settled.wait(10)
    dags = list_dags(ctx, op_seq=created.op_seq, project_env=PROD)
    assert [d.status for d in dags] == [DagStatus.SUCCESS, DagStatus.SUCCESS]
    assert dags[1].dag_id == second


def test_only_one_engine_leads_and_a_lost_leadership_stops_driving(
    sqlite_ctx: ServiceContext,
    start_engine: Callable[..., Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = sqlite_ctx
    caplog.set_level(logging.ERROR, logger="opcenter.engine")
    flag = ctx.settings.data_dir / "never"
    flow = make_flow(ctx, [node("long", "shell", f"while [ ! -e {flag} ]; do sleep 0.02; done")])
    leadership = Leadership(ctx.db, ctx.settings)
    engine = start_engine(ctx, leadership=leadership)
    with pytest.raises(EngineBusy):
        Engine(ctx, LocalExecutor(1)).start()
    created = run_flow(flow)
    long = by_name(ctx, created.dag_id)["long"].instance_id
    wait_for(lambda: ops.get_instance(ctx, instance_id=long, project_env=PROD).status
             is S.RUNNING)  # fmt: skip
    # When the leadership is lost (the lock is gone)
    leadership.release()
    # Then the engine stops driving, kills what runs here, and says why
    wait_for(lambda: engine._thread is not None and not engine._thread.is_alive())
    assert any("leadership lost" in r.getMessage() for r in caplog.records)
    wait_for(lambda: log_of(ctx, long).rstrip().endswith("stopped"))
    # and leaves the store as a crash would, for the next leader's recovery
    assert ops.get_instance(ctx, instance_id=long, project_env=PROD).status is S.RUNNING


def test_a_stop_while_no_engine_runs_is_resolved_by_the_next_engine(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    # Given an instance left RUNNING by an engine that stopped (its process killed)
    flag = ctx.settings.data_dir / "never"
    code = f"while [ ! -e {flag} ]; do sleep 0.02; done"
    flow = make_flow(ctx, [node("long", "shell", code, auto_rerun_times=2)])
    first = start_engine(ctx)
    created = run_flow(flow)
    long = by_name(ctx, created.dag_id)["long"].instance_id
    wait_for(lambda: ops.get_instance(ctx, instance_id=long, project_env=PROD).status
             is S.RUNNING)  # fmt: skip
    first.stop()
    # When it is stopped while no engine runs: it stays RUNNING, the stop recorded
    ops.stop_instance(ctx, instance_id=long, project_env=PROD, caller=Caller(name="bob"))
    pending = ops.get_instance(ctx, instance_id=long, project_env=PROD)
    assert (pending.status, pending.stopped_by) == (S.RUNNING, "bob")
    # Then the next engine ends it FAILURE as stopped, with no automatic rerun
    start_engine(ctx)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    ended = ops.get_instance(ctx, instance_id=long, project_env=PROD)
    assert (ended.status, ended.attempt, ended.error_message) == (
        S.FAILURE,
        1,
        "Stopped by bob.",
    )


def test_the_engine_does_not_import_the_service_layer() -> None:
    # The engine owns instance state; the service asks it (never the other way round).
    code = (
        "import sys, opcenter.engine.scheduler, opcenter.engine.operations, opcenter.context\n"
        "print(sorted(m for m in sys.modules if m.startswith('opcenter.service')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
