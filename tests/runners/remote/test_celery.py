"""Attempts run by `opcenter worker` processes through a real broker, driven by an engine with a
`CeleryExecutor` on a fresh PostgreSQL schema: routing, stops, a worker killed mid-job, a
redelivered message, logs read from the store, a scheduler handover."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.scheduler import Engine
from opcenter.runners.reaper import group_alive
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.instances import stop_instance
from opcenter.store.tables import WorkerAttempt
from tests.engine.builders import attempt_log, by_name, make_flow, node, run_flow, wait_dag, wait_for
from tests.runners.remote.conftest import Worker

W = WorkerAttempt.__table__


def _rows(ctx: ServiceContext) -> list[Any]:
    with ctx.db.transaction(readonly=True) as session:
        return list(session.execute(sa.select(W).order_by(W.c.instance_id, W.c.attempt)).all())


def _row(ctx: ServiceContext, instance_id: int, attempt: int) -> Any:
    with ctx.db.transaction(readonly=True) as session:
        return session.execute(
            sa.select(W).where(W.c.instance_id == instance_id, W.c.attempt == attempt)
        ).first()


def _explain(ctx: ServiceContext, dag_id: int) -> str:
    """Each instance's status and latest log, for a failure message."""
    out = []
    for name, inst in by_name(ctx, dag_id).items():
        out.append(f"{name}: {inst.status} attempt {inst.attempt}")
        if inst.attempt:
            out.append(attempt_log(ctx, inst.instance_id, inst.attempt))
    return "\n".join(out)


def _workflow_through_two_workers(
    cctx: ServiceContext,
    broker: str,
    start_worker: Callable[..., Worker],
    start_celery_engine: Callable[..., Engine],
    width: int,
) -> None:
    # Given two workers on the broker and a workflow of Shell nodes (a fan-out, then a join)
    start_worker(broker, "w1")
    start_worker(broker, "w2")
    nodes = [node(f"n{i}", "shell", "sleep 0.3; echo ran $OPCENTER_INSTANCE_ID") for i in range(width)]
    nodes.append(node("join", "shell", "echo joined", after=[f"n{i}" for i in range(width)]))
    flow = make_flow(cctx, nodes)
    start_celery_engine(cctx, broker)
    # When it runs
    dag_id = run_flow(flow).dag_ids[0]
    # Then every instance succeeds, both workers ran work, and each log names its worker
    status = wait_dag(cctx, dag_id, timeout=60)
    assert status is DagStatus.SUCCESS, _explain(cctx, dag_id)
    rows = _rows(cctx)
    assert len(rows) == width + 1
    assert {r.worker for r in rows} == {"w1", "w2"}
    assert {r.state for r in rows} == {"reported"}
    for inst in by_name(cctx, dag_id).values():
        row = _row(cctx, inst.instance_id, 1)
        log = attempt_log(cctx, inst.instance_id, 1)
        assert f"Worker: {row.worker} on host {row.host}" in log
        assert f"Instance {inst.instance_id} of node" in log  # the engine's header, in the store
        assert "exit code 0" in log


def test_a_workflow_of_shell_nodes_runs_through_two_workers_on_rabbitmq(
    cctx: ServiceContext,
    rabbitmq_url: str,
    start_worker: Callable[..., Worker],
    start_celery_engine: Callable[..., Engine],
) -> None:
    _workflow_through_two_workers(cctx, rabbitmq_url, start_worker, start_celery_engine, 8)


def test_a_workflow_of_shell_nodes_runs_through_two_workers_on_redis(
    cctx: ServiceContext,
    redis_url: str,
    start_worker: Callable[..., Worker],
    start_celery_engine: Callable[..., Engine],
) -> None:
    _workflow_through_two_workers(cctx, redis_url, start_worker, start_celery_engine, 6)
