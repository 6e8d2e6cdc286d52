"""The operator operations on a live engine: rerun, set success, stop, suspend, resume, from
their allowed states (and refused from the others, with the current status)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.scheduler import Engine
from opcenter.errors import Conflict, NotFound
from opcenter.service import instances as ops
from opcenter.service import logs
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.runs import get_dag, list_dags
from tests.engine.builders import (
    attempt_log,
    by_name,
    make_flow,
    node,
    run_flow,
    wait_dag,
    wait_for,
)

S = InstanceStatus
PROD = "PROD"


def status_of(ctx: ServiceContext, instance_id: int) -> S:
    return ops.get_instance(ctx, instance_id=instance_id, project_env=PROD).status


def test_stop_kills_the_process_tree_and_logs_who(ctx: ServiceContext, engine: Engine) -> None:
    pid_file = ctx.settings.data_dir / "child.pid"
    flow = make_flow(ctx, [node("long", "shell", f"sleep 60 & echo $! > {pid_file}; wait")])
    created = run_flow(flow)
    long = by_name(ctx, created.dag_id)["long"]
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
    child = int(pid_file.read_text())
    assert ops.stop_instance(
        ctx, instance_id=long.instance_id, project_env=PROD, caller=Caller(name="bob")
    )
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    wait_for(lambda: logs.get_instance_log(ctx, instance_id=long.instance_id, project_env=PROD)
             .rstrip().endswith("Stopped by bob."))  # fmt: skip
    with pytest.raises(ProcessLookupError):
        wait_for(lambda: os.kill(child, 0), timeout=5)
    stopped = ops.get_instance(ctx, instance_id=long.instance_id, project_env=PROD)
    assert (stopped.status, stopped.stopped_by) == (S.FAILURE, "bob")


def test_stop_a_waiting_instance_fails_it_without_running(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(
        ctx, [node("a", "shell", "sleep 0.5"), node("b", "shell", "echo b", after=["a"])]
    )
    created = run_flow(flow)
    b = by_name(ctx, created.dag_id)["b"]
    ops.stop_instance(ctx, instance_id=b.instance_id, project_env=PROD)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    assert status_of(ctx, b.instance_id) is S.FAILURE
    assert logs.get_instance_log(ctx, instance_id=b.instance_id, project_env=PROD).endswith(
        "Stopped by root.\n"
    )


def test_set_success_releases_descendants_and_the_next_date(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(ctx, [node("bad", "shell", "exit 1"), node("after", after=["bad"])])
    created = run_flow(
        flow, start_biz_date="2020-01-01 00:00:00", end_biz_date="2020-01-02 00:00:00"
    )
    assert wait_dag(ctx, created.dag_ids[0]) is DagStatus.FAILURE
    assert get_dag(ctx, dag_id=created.dag_ids[1], project_env=PROD).status is DagStatus.CREATED
    rows = by_name(ctx, created.dag_ids[0])
    # NOT_RUN blocked by a failure may be set to success too; here the failed one is.
    ops.set_success_instance(ctx, instance_id=rows["bad"].instance_id, project_env=PROD)
    assert wait_dag(ctx, created.dag_ids[0]) is DagStatus.SUCCESS
    assert status_of(ctx, rows["after"].instance_id) is S.SUCCESS
    # The second date starts only now, and fails the same way.
    assert wait_dag(ctx, created.dag_ids[1]) is DagStatus.FAILURE


def test_set_success_of_a_blocked_instance_lets_its_descendants_run(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(
        ctx,
        [node("bad", "shell", "exit 1"), node("mid", after=["bad"]), node("end", after=["mid"])],
    )
    created = run_flow(flow)
    wait_dag(ctx, created.dag_id)
    rows = by_name(ctx, created.dag_id)
    ops.set_success_instance(ctx, instance_id=rows["mid"].instance_id, project_env=PROD)
    wait_for(lambda: status_of(ctx, rows["end"].instance_id) is S.SUCCESS)
    assert get_dag(ctx, dag_id=created.dag_id, project_env=PROD).status is DagStatus.FAILURE


def test_rerun_runs_a_failed_instance_again_with_a_new_attempt(
    ctx: ServiceContext, engine: Engine
) -> None:
    flag = ctx.settings.data_dir / "ok"
    flow = make_flow(ctx, [node("a", "shell", f"test -e {flag}"), node("b", after=["a"])])
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    a = by_name(ctx, created.dag_id)["a"]
    flag.touch()
    ops.restart_instance(ctx, instance_id=a.instance_id, project_env=PROD)
    assert get_dag(ctx, dag_id=created.dag_id, project_env=PROD).status in (
        DagStatus.RUNNING,
        DagStatus.SUCCESS,
    )
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    again = ops.get_instance(ctx, instance_id=a.instance_id, project_env=PROD)
    assert (again.status, again.attempt) == (S.SUCCESS, 2)
    assert "exit code 1" in attempt_log(ctx, a.instance_id, 1)


def test_rerun_is_refused_for_a_succeeded_dry_run_and_when_denied(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(ctx, [node("a"), node("no", "shell", "true", rerun_mode="ALL_DENIED")])
    created = run_flow(flow, exclude_node_ids=flow.ids("a"))
    wait_dag(ctx, created.dag_id)
    rows = by_name(ctx, created.dag_id)
    with pytest.raises(Conflict, match="with status SUCCESS: a dry-run instance"):
        ops.restart_instance(ctx, instance_id=rows["a"].instance_id, project_env=PROD)
    with pytest.raises(Conflict, match="RerunMode is ALL_DENIED"):
        ops.restart_instance(ctx, instance_id=rows["no"].instance_id, project_env=PROD)


def test_suspend_freezes_an_instance_and_resume_lets_it_run(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(
        ctx, [node("a", "shell", "sleep 0.3"), node("b", after=["a"]), node("c", after=["b"])]
    )
    created = run_flow(flow)
    rows = by_name(ctx, created.dag_id)
    ops.suspend_instance(ctx, instance_id=rows["b"].instance_id, project_env=PROD)
    wait_for(lambda: status_of(ctx, rows["a"].instance_id) is S.SUCCESS)
    time.sleep(0.3)
    frozen = ops.get_instance(ctx, instance_id=rows["b"].instance_id, project_env=PROD)
    assert (frozen.status, frozen.suspended) == (S.NOT_RUN, True)
    assert status_of(ctx, rows["c"].instance_id) is S.NOT_RUN
    assert get_dag(ctx, dag_id=created.dag_id, project_env=PROD).status is DagStatus.RUNNING
    with pytest.raises(Conflict, match="already suspended"):
        ops.suspend_instance(ctx, instance_id=rows["b"].instance_id, project_env=PROD)
    ops.resume_instance(ctx, instance_id=rows["b"].instance_id, project_env=PROD)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS


def test_operations_are_refused_with_the_current_status(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(ctx, [node("a", "shell", "true")])
    created = run_flow(flow)
    wait_dag(ctx, created.dag_id)
    a = by_name(ctx, created.dag_id)["a"].instance_id
    for operation in (
        ops.stop_instance,
        ops.suspend_instance,
        ops.resume_instance,
        ops.set_success_instance,
    ):
        with pytest.raises(Conflict) as err:
            operation(ctx, instance_id=a, project_env=PROD)
        assert err.value.code == "Invalid.Instance.Status"
        assert "with status SUCCESS" in err.value.message


def test_operations_fail_given_an_unknown_instance(ctx: ServiceContext) -> None:
    with pytest.raises(NotFound) as err:
        ops.stop_instance(ctx, instance_id=404, project_env=PROD)
    assert err.value.code == "Invalid.Instance.NotExists"


def test_operations_on_a_later_date_keep_it_waiting(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    # Stopping an instance of a Dag that has not started leaves the Dag CREATED.
    flow = make_flow(ctx, [node("a")])
    created = run_flow(
        flow, start_biz_date="2020-01-01 00:00:00", end_biz_date="2020-01-02 00:00:00"
    )
    later = by_name(ctx, created.dag_ids[1])["a"]
    ops.stop_instance(ctx, instance_id=later.instance_id, project_env=PROD)
    assert get_dag(ctx, dag_id=created.dag_ids[1], project_env=PROD).status is DagStatus.CREATED
    start_engine(ctx)
    assert wait_dag(ctx, created.dag_ids[1]) is DagStatus.FAILURE
    assert [d.status for d in list_dags(ctx, op_seq=created.op_seq, project_env=PROD)] == [
        DagStatus.SUCCESS,
        DagStatus.FAILURE,
    ]
