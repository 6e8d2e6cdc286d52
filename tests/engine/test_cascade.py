"""Dry-run and virtual instances finish inside the engine, their instant successors with them
in the same step; a cascade stops at a suspended instance, even one the engine has not yet
heard of."""

from __future__ import annotations

import time
from itertools import pairwise

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.scheduler import Engine
from opcenter.runners.local import LocalExecutor
from opcenter.service import instances as ops
from opcenter.service.context import ServiceContext
from opcenter.service.logs import get_instance_log
from opcenter.service.runs import get_dag
from tests.conftest import second_context
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag, wait_for

S = InstanceStatus
PROD = "PROD"


def test_a_virtual_chain_succeeds_in_order_within_fewer_steps_than_instances(
    ctx: ServiceContext, engine: Engine
) -> None:
    names = [f"v{i}" for i in range(40)]
    flow = make_flow(ctx, [node(names[0])] + [node(n, after=[p]) for p, n in pairwise(names)])
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    rows = by_name(ctx, created.dag_id)
    assert {rows[n].status for n in names} == {S.SUCCESS}
    assert {rows[n].attempt for n in names} == {1}
    for parent, child in pairwise(names):
        assert rows[child].begin_running_time >= rows[parent].finish_time
    for n in names:
        r = rows[n]
        assert r.begin_wait_time_time <= r.begin_wait_res_time <= r.begin_running_time
        assert r.begin_running_time <= r.finish_time
    # One engine step stamps one time: the chain took fewer steps than it has instances.
    assert len({rows[n].finish_time for n in names}) < len(names)
    line = (
        "[opcenter] Virtual node: nothing to run; the instance succeeded as soon as its "
        "upstream did.\n"
    )
    log = wait_for(  # written once the step has committed
        lambda: get_instance_log(ctx, instance_id=rows["v39"].instance_id, project_env=PROD)
    )
    assert log.endswith(line)


def test_a_cascade_stops_at_an_instance_suspended_behind_the_engines_back(
    ctx: ServiceContext,
) -> None:
    # Polling once a minute: the engine learns of the suspend only when the store refuses it.
    engine = Engine(ctx, LocalExecutor(2, stop_grace_seconds=0.5), poll_seconds=60.0)
    engine.start()
    try:
        _suspend_mid_chain_while_its_head_runs(ctx)
    finally:
        engine.stop()


def _suspend_mid_chain_while_its_head_runs(ctx: ServiceContext) -> None:
    flow = make_flow(
        ctx,
        [
            node("a", "shell", "sleep 0.4"),
            node("b", after=["a"]),
            node("c", after=["b"]),
            node("d", after=["c"]),
        ],
    )
    created = run_flow(flow)
    rows = by_name(ctx, created.dag_id)
    other = second_context(ctx)  # another process: the engine is not notified
    try:
        ops.suspend_instance(other, instance_id=rows["c"].instance_id, project_env=PROD)
    finally:
        other.db.dispose()
    wait_for(lambda: by_name(ctx, created.dag_id)["b"].status is S.SUCCESS, timeout=10)
    time.sleep(0.2)
    after = by_name(ctx, created.dag_id)
    assert [(after[n].status, after[n].suspended) for n in "abcd"] == [
        (S.SUCCESS, False),
        (S.SUCCESS, False),
        (S.NOT_RUN, True),
        (S.NOT_RUN, False),
    ]
    assert get_dag(ctx, dag_id=created.dag_id, project_env=PROD).status is DagStatus.RUNNING
