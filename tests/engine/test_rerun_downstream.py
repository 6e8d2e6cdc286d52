"""Rerun with downstream (service.instances.rerun_with_downstream) on a live engine, and which
operations an instance allows in its state (service.instances.instance_actions), on SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.domain.states import Action
from opcenter.engine.scheduler import Engine
from opcenter.errors import Conflict
from opcenter.service import instances as ops
from opcenter.service.context import Caller, ServiceContext
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag, wait_for

S = InstanceStatus
PROD = "PROD"


def test_rerun_with_downstream_runs_it_and_everything_after_it_again_in_order(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(
        ctx,
        [
            node("a", "shell", "echo a"),
            node("b", "shell", "echo b", after=["a"]),
            node("c", "shell", "echo c", after=["b"]),
            node("d", "shell", "echo d", after=["a", "c"]),
            node("x", "shell", "echo x"),
        ],
    )
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    before = by_name(ctx, created.dag_id)

    chosen = ops.rerun_with_downstream(
        ctx, instance_id=before["b"].instance_id, project_env=PROD, caller=Caller(name="ann")
    )

    assert chosen == [before[n].instance_id for n in ("b", "c", "d")]
    wait_for(lambda: by_name(ctx, created.dag_id)["d"].attempt == 2)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    after = by_name(ctx, created.dag_id)
    assert {n: after[n].attempt for n in after} == {"a": 1, "b": 2, "c": 2, "d": 2, "x": 1}
    # in the Dag's order: each started once its upstream had finished again
    assert after["b"].finish_time <= after["c"].begin_running_time
    assert after["c"].finish_time <= after["d"].begin_running_time


def test_rerun_with_downstream_from_a_failure_leaves_not_run_descendants_waiting(
    ctx: ServiceContext, engine: Engine, tmp_path: Path
) -> None:
    flag = tmp_path / "shared" / "fixed"
    flow = make_flow(
        ctx,
        [
            node("a", "shell", f"test -e {flag}"),
            node("b", "shell", "echo b", after=["a"]),
        ],
        shared=[tmp_path / "shared"],
    )
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    a = by_name(ctx, created.dag_id)["a"]
    flag.touch()

    chosen = ops.rerun_with_downstream(ctx, instance_id=a.instance_id, project_env=PROD)

    assert chosen == [a.instance_id]  # b had not run: it waits for a, as it did
    assert wait_dag(ctx, created.dag_id, [DagStatus.SUCCESS]) is DagStatus.SUCCESS
    assert {n: i.attempt for n, i in by_name(ctx, created.dag_id).items()} == {"a": 2, "b": 1}


def test_a_running_descendant_refuses_the_whole_rerun(ctx: ServiceContext, engine: Engine) -> None:
    flow = make_flow(
        ctx, [node("a", "shell", "echo a"), node("b", "shell", "sleep 30", after=["a"])]
    )
    created = run_flow(flow)
    wait_for(lambda: by_name(ctx, created.dag_id)["b"].status is S.RUNNING)
    a, b = (by_name(ctx, created.dag_id)[n] for n in ("a", "b"))

    assert (
        ops.instance_actions(ctx, instance_id=a.instance_id, project_env=PROD)[
            Action.RERUN_DOWNSTREAM
        ].reason
        == "downstream_active"
    )
    with pytest.raises(Conflict) as refused:
        ops.rerun_with_downstream(ctx, instance_id=a.instance_id, project_env=PROD)

    assert refused.value.message == (
        f"RestartInstance with downstream is not allowed for InstanceId={a.instance_id} "
        f"(SUCCESS): its downstream instance InstanceId={b.instance_id} is RUNNING."
    )
    now = by_name(ctx, created.dag_id)
    assert (now["a"].status, now["a"].attempt, now["b"].status) == (S.SUCCESS, 1, S.RUNNING)
    ops.stop_instance(ctx, instance_id=b.instance_id, project_env=PROD)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE


def test_a_descendant_its_rerun_mode_denies_refuses_the_whole_rerun(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(
        ctx,
        [node("a", "shell", "echo a"), node("b", "shell", "echo b", after=["a"],
                                             rerun_mode="ALL_DENIED")],
    )  # fmt: skip
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    a = by_name(ctx, created.dag_id)["a"]

    with pytest.raises(Conflict, match="cannot run again: the node's RerunMode is ALL_DENIED"):
        ops.rerun_with_downstream(ctx, instance_id=a.instance_id, project_env=PROD)

    assert ops.restart_instance(ctx, instance_id=a.instance_id, project_env=PROD)  # alone: yes
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS


def _reasons(ctx: ServiceContext, instance_id: int) -> dict[str, str | None]:
    found = ops.instance_actions(ctx, instance_id=instance_id, project_env=PROD)
    return {a.value: (r.reason if r else None) for a, r in found.items()}


def test_the_operations_a_state_allows_are_the_ones_the_operations_accept(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(ctx, [node("a", "shell", "exit 1"), node("b", "shell", "true", after=["a"])])
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    a, b = (by_name(ctx, created.dag_id)[n] for n in ("a", "b"))

    assert _reasons(ctx, a.instance_id) == {
        "rerun": None,
        "rerun_latest": None,
        "rerun_downstream": None,
        "set_success": None,
        "stop": "status",
        "suspend": "status",
        "resume": "status",
    }
    assert _reasons(ctx, b.instance_id) == {
        "rerun": "status",
        "rerun_latest": "status",
        "rerun_downstream": "status",
        "set_success": None,  # NOT_RUN behind a failure
        "stop": None,
        "suspend": None,
        "resume": "not_suspended",
    }
    # a refused one is refused by the operation itself, with the same rule
    with pytest.raises(Conflict, match="with status NOT_RUN .not suspended."):
        ops.resume_instance(ctx, instance_id=b.instance_id, project_env=PROD)
    with pytest.raises(Conflict, match="with status FAILURE."):
        ops.stop_instance(ctx, instance_id=a.instance_id, project_env=PROD)
    # an allowed one is taken, and the answer follows the new state
    ops.suspend_instance(ctx, instance_id=b.instance_id, project_env=PROD)
    reasons = _reasons(ctx, b.instance_id)
    assert (reasons["suspend"], reasons["resume"]) == ("suspended", None)
