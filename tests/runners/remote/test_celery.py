"""Attempts run by `opcenter worker` processes through a real broker, driven by an engine with a
`CeleryExecutor` on a fresh PostgreSQL schema: routing, stops, a worker killed mid-job, a
redelivered message, logs read from the store, a scheduler handover."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from opcenter.domain.model import DagStatus, FileType, InstanceStatus
from opcenter.engine.scheduler import Engine
from opcenter.runners.base import InstanceResult, InstanceSpec, Outcome
from opcenter.runners.reaper import group_alive
from opcenter.runners.remote.app import TASK_NAME
from opcenter.runners.remote.executor import CeleryExecutor
from opcenter.runners.remote.rows import read_chunks
from opcenter.runners.remote.wire import encode_spec
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.instances import stop_instance
from opcenter.store.tables import WorkerAttempt
from tests.engine.builders import (
    attempt_log,
    by_name,
    make_flow,
    node,
    run_flow,
    wait_dag,
    wait_for,
)
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
    nodes = [
        node(f"n{i}", "shell", "sleep 0.3; echo ran $OPCENTER_INSTANCE_ID") for i in range(width)
    ]
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


def _running_row(ctx: ServiceContext, instance_id: int, attempt: int = 1) -> Any:
    """The attempt's worker row once a worker runs it with its process group recorded."""

    def found() -> Any:
        row = _row(ctx, instance_id, attempt)
        return row if row is not None and row.state == "running" and row.pgid else None

    return wait_for(found, timeout=30)


def test_stop_instance_kills_the_remote_process_group_before_the_instance_leaves_running(
    cctx: ServiceContext,
    rabbitmq_url: str,
    start_worker: Callable[..., Worker],
    start_celery_engine: Callable[..., Engine],
) -> None:
    # Given a job that ignores SIGTERM and keeps a background child, running on a worker
    start_worker(rabbitmq_url, "w1")
    flow = make_flow(cctx, [node("long", "shell", "trap '' TERM; sleep 300 & sleep 300")])
    start_celery_engine(cctx, rabbitmq_url)
    dag_id = run_flow(flow).dag_ids[0]
    inst = by_name(cctx, dag_id)["long"]
    row = _running_row(cctx, inst.instance_id)
    assert group_alive(row.pgid)
    # When an operator stops it
    stop_instance(cctx, instance_id=inst.instance_id, project_env="PROD", caller=Caller("ops"))
    # Then the instance leaves RUNNING only once the whole group is gone (SIGKILL after grace)
    while by_name(cctx, dag_id)["long"].status is InstanceStatus.RUNNING:
        time.sleep(0.01)
    assert not group_alive(row.pgid)
    final = by_name(cctx, dag_id)["long"]
    assert final.status is InstanceStatus.FAILURE
    assert "Stopped by ops." in attempt_log(cctx, inst.instance_id, 1)
    assert _row(cctx, inst.instance_id, 1).outcome == "STOPPED"


def test_a_worker_killed_mid_job_is_interrupted_within_the_bound_and_rerun_once(
    cctx: ServiceContext,
    rabbitmq_url: str,
    start_worker: Callable[..., Worker],
    start_celery_engine: Callable[..., Engine],
) -> None:
    # Given a node with one automatic rerun, its first attempt running on one of two workers
    workers = {
        w.name: w for w in (start_worker(rabbitmq_url, "w1"), start_worker(rabbitmq_url, "w2"))
    }
    code = "sleep 300 & if [ $OPCENTER_ATTEMPT = 1 ]; then sleep 300; fi; echo done"
    flow = make_flow(
        cctx,
        [node("job", "shell", code, auto_rerun_times=1, auto_rerun_interval_millis=0)],
    )
    start_celery_engine(cctx, rabbitmq_url)
    dag_id = run_flow(flow).dag_ids[0]
    inst = by_name(cctx, dag_id)["job"]
    first = _running_row(cctx, inst.instance_id)
    # When that worker is killed with SIGKILL
    killed_at = time.monotonic()
    workers[first.worker].kill()
    # Then its job's whole group dies with it (the guard), the attempt is recorded interrupted
    # within the stale bound, and the one automatic rerun runs on the other worker
    wait_for(lambda: not group_alive(first.pgid), timeout=5)
    second = _running_row(cctx, inst.instance_id, attempt=2)
    assert time.monotonic() - killed_at < 10 + 3
    assert second.worker != first.worker
    assert _row(cctx, inst.instance_id, 1).outcome == "INTERRUPTED"
    assert wait_dag(cctx, dag_id, timeout=30) is DagStatus.SUCCESS
    assert by_name(cctx, dag_id)["job"].attempt == 2
    assert f"interrupted: worker {first.worker}" in attempt_log(cctx, inst.instance_id, 1)


def test_logs_are_read_from_the_store_while_the_job_runs_and_after_the_worker_stopped(
    cctx: ServiceContext,
    rabbitmq_url: str,
    start_worker: Callable[..., Worker],
    start_celery_engine: Callable[..., Engine],
    tmp_path: Any,
) -> None:
    # Given a job that prints a line, then waits
    worker = start_worker(rabbitmq_url, "w1")
    code = "echo first-line; sleep 2; echo second-line"
    flow = make_flow(cctx, [node("talk", "shell", code)])
    start_celery_engine(cctx, rabbitmq_url)
    dag_id = run_flow(flow).dag_ids[0]
    inst = by_name(cctx, dag_id)["talk"]
    # When the log is read while it runs (through the service, in another data directory)
    reader = ServiceContext(db=cctx.db, settings=replace(cctx.settings, data_dir=tmp_path / "api"))
    _running_row(cctx, inst.instance_id)
    wait_for(lambda: "first-line" in attempt_log(reader, inst.instance_id, 1), timeout=30)
    # Then the first line is there while the instance still runs
    assert by_name(cctx, dag_id)["talk"].status is InstanceStatus.RUNNING
    assert wait_dag(cctx, dag_id, timeout=30) is DagStatus.SUCCESS
    # And after the worker stopped, the whole log reads in order from the store
    worker.stop()
    log = attempt_log(reader, inst.instance_id, 1)
    order = ["of node talk", "Worker: w1 on host", "first-line", "second-line", "exit code 0"]
    positions = [log.index(text) for text in order]
    assert positions == sorted(positions)


class _Results:
    """ExecutorEvents that keep what they receive."""

    def __init__(self) -> None:
        self.finished: list[InstanceResult] = []

    def on_started(self, instance_id: int, attempt: int, process: object) -> None:
        return None

    def on_finished(self, result: InstanceResult) -> None:
        self.finished.append(result)


def test_a_redelivered_message_does_not_run_the_attempt_twice(
    cctx: ServiceContext, rabbitmq_url: str, start_worker: Callable[..., Worker], tmp_path: Any
) -> None:
    # Given an attempt submitted, and its message delivered a second time, before any worker
    executor = CeleryExecutor(cctx.db, rabbitmq_url)
    results = _Results()
    executor.start(results)
    spec = InstanceSpec(
        instance_id=41,
        attempt=1,
        file_type=int(FileType.DIDE_SHELL),
        code="echo once",
        argv=(),
        workdir=tmp_path / "work",
        log_path=tmp_path / "41.1.log",
        timeout_seconds=60,
    )
    try:
        executor.submit(spec)
        executor._app.send_task(TASK_NAME, args=[encode_spec(spec)], queue="default")
        # When a worker takes both messages
        worker = start_worker(rabbitmq_url, "w1", concurrency=2)
        wait_for(lambda: results.finished, timeout=30)
        wait_for(lambda: "not queued any more; message dropped" in worker.text(), timeout=30)
    finally:
        executor.shutdown()
    # Then the attempt ran exactly once: one result, one worker line in its log
    assert [(r.outcome, r.message) for r in results.finished] == [(Outcome.SUCCESS, "exit code 0")]
    with cctx.db.transaction(readonly=True) as session:
        page = read_chunks(session, (41, 1), 0, 1 << 20)
    assert page is not None
    assert page[0].decode().count("Worker: w1") == 1
    assert page[0].decode().count("once") == 1


def test_a_new_leader_adopts_an_attempt_whose_worker_still_heartbeats(
    cctx: ServiceContext,
    rabbitmq_url: str,
    start_worker: Callable[..., Worker],
    start_celery_engine: Callable[..., Engine],
) -> None:
    # Given an attempt running on a worker under a first engine
    start_worker(rabbitmq_url, "w1")
    flow = make_flow(cctx, [node("job", "shell", "sleep 2; echo finished")])
    first = start_celery_engine(cctx, rabbitmq_url)
    dag_id = run_flow(flow).dag_ids[0]
    inst = by_name(cctx, dag_id)["job"]
    row = _running_row(cctx, inst.instance_id)
    # When that engine stops leading and a second one takes over the store
    first.stop()
    start_celery_engine(cctx, rabbitmq_url)
    # Then the attempt is not interrupted: it keeps running, and its result is recorded
    assert group_alive(row.pgid)
    assert wait_dag(cctx, dag_id, timeout=30) is DagStatus.SUCCESS
    final = by_name(cctx, dag_id)["job"]
    assert final.attempt == 1
    assert "finished" in attempt_log(cctx, inst.instance_id, 1)


def test_a_node_with_a_resource_group_runs_only_on_the_worker_serving_that_queue(
    cctx: ServiceContext,
    rabbitmq_url: str,
    start_worker: Callable[..., Worker],
    start_celery_engine: Callable[..., Engine],
) -> None:
    # Given a worker on `default` and one on `gpu`, and nodes with and without the group
    start_worker(rabbitmq_url, "cpu", queues="default")
    start_worker(rabbitmq_url, "gpu", queues="gpu")
    nodes = [node(f"g{i}", "shell", "echo g", resource_group="gpu") for i in range(4)]
    nodes += [node(f"d{i}", "shell", "echo d") for i in range(4)]
    flow = make_flow(cctx, nodes)
    start_celery_engine(cctx, rabbitmq_url)
    # When the workflow runs
    dag_id = run_flow(flow).dag_ids[0]
    assert wait_dag(cctx, dag_id, timeout=60) is DagStatus.SUCCESS, _explain(cctx, dag_id)
    # Then each attempt ran on the worker of its node's queue
    ran = {name: _row(cctx, inst.instance_id, 1) for name, inst in by_name(cctx, dag_id).items()}
    assert {(r.queue, r.worker) for r in ran.values()} == {("gpu", "gpu"), ("default", "cpu")}
    assert all(ran[f"g{i}"].worker == "gpu" for i in range(4))
