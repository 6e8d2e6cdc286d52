"""The whole scale-out on this machine, all real processes: a fresh PostgreSQL database, a real
broker, two `opcenter serve --no-engine`, two `opcenter scheduler`s and two `opcenter worker`s.
Through the official SDK, a 40-node Shell workflow runs over 5 business dates; the leading
scheduler and one worker are SIGKILLed mid-run. Every instance ends SUCCESS (interrupted ones by
their automatic rerun, or by a RestartInstance sent through the SDK), no instance ever has two
live attempts, both workers ran work, and the dates ran in order. The same, shorter, with Redis
as the broker."""

from __future__ import annotations

import datetime as dt
import itertools
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_dataworks_public20200518.client import Client

from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.db import Database
from opcenter.store.tables import Dag, Instance, WorkerAttempt
from tests.cli.processes import Proc, marking, overlaps, sdk_client
from tests.conftest import PG_URL
from tests.engine.builders import make_flow, node, wait_for

SERVER = PG_URL.rsplit("/", 1)[0]
TAKE_OVER_SECONDS = 5.0


@pytest.fixture
def database(pg_ready: bool) -> Iterator[str]:
    """A fresh PostgreSQL database of the test's own, dropped afterwards."""
    name = f"oc_cluster_{uuid.uuid4().hex[:10]}"
    plain = SERVER.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with psycopg.connect(f"{plain}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def ctx(database: str, tmp_path: Path) -> Iterator[ServiceContext]:
    db = Database(database)
    db.migrate()
    yield ServiceContext(
        db=db, settings=load_settings(environ={}, dotenv=None, data_dir=tmp_path / "client")
    )
    db.dispose()


class Cluster:
    """The processes of one test, all on the store at `url`, killed at the end."""

    def __init__(self, url: str, broker: str, tmp_path: Path) -> None:
        self.url, self.broker, self.tmp = url, broker, tmp_path
        self.procs: list[Proc] = []

    def start(self, command: str, name: str, *args: str) -> Proc:
        (self.tmp / name).mkdir()
        proc = Proc(
            command, self.url, self.tmp / name / "data", self.tmp / f"{name}.out", *args,
            OPCENTER_EXECUTOR="celery", OPCENTER_BROKER_URL=self.broker,
        )  # fmt: skip
        self.procs.append(proc.start())
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()


def _layers(marks: Path, layers: int, width: int) -> list:
    """`layers` × `width` Shell nodes, each after two nodes of the layer above."""
    code = marking(marks, 0.2)
    nodes = []
    for layer in range(layers):
        for i in range(width):
            after = [] if layer == 0 else [f"n{layer - 1}_{i}", f"n{layer - 1}_{(i + 1) % width}"]
            nodes.append(node(f"n{layer}_{i}", "shell", code, after=after, auto_rerun_times=1))
    return nodes


def _running_on(ctx: ServiceContext, worker: str) -> bool:
    """Whether `worker` is running an attempt now (so killing it interrupts one)."""
    with ctx.db.transaction(readonly=True) as session:
        return bool(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(WorkerAttempt)
                .where(WorkerAttempt.worker == worker, WorkerAttempt.state == "running")
            )
        )


def _instances(ctx: ServiceContext) -> list:
    with ctx.db.transaction(readonly=True) as session:
        return list(
            session.execute(
                sa.select(
                    Instance.id, Instance.dag_id, Instance.status, Instance.begin_running_time,
                    Instance.finish_time,
                )
            ).all()
        )  # fmt: skip


def _restart_failures(ctx: ServiceContext, client: Client) -> int:
    """RestartInstance, through the SDK, for every failed instance (an attempt interrupted
    again after its automatic rerun was used up)."""
    failed = [r.id for r in _instances(ctx) if r.status == "FAILURE"]
    for instance_id in failed:
        client.restart_instance(
            dw.RestartInstanceRequest(instance_id=instance_id, project_env="PROD")
        )
    return len(failed)


def _all_succeeded(ctx: ServiceContext, client: Client, total: int) -> bool:
    rows = _instances(ctx)
    if len(rows) == total and all(r.status == "SUCCESS" for r in rows):
        return True
    _restart_failures(ctx, client)
    return False


def _run_cluster(ctx, url, broker, tmp_path, *, layers: int, width: int, dates: int, kill_leader):
    marks = tmp_path / "marks"
    flow = make_flow(ctx, _layers(marks, layers, width), shared=[marks])
    cluster = Cluster(url, broker, tmp_path)
    try:
        cluster.start("worker", "w1", "--name", "w1", "--concurrency", "2")
        cluster.start("worker", "w2", "--name", "w2", "--concurrency", "2")
        schedulers = [cluster.start("scheduler", f"s{i}") for i in (1, 2)]
        wait_for(lambda: sorted(s.engine() or "" for s in schedulers) == ["leader", "standby"],
                 timeout=60)  # fmt: skip
        assert any(s.said("with attempts run by Celery workers.") for s in schedulers)
        apis = [cluster.start("serve", f"api{i}", "--no-engine") for i in (1, 2)]
        # Run the range through the first API process.
        last = dt.date.today() - dt.timedelta(days=1)
        first = last - dt.timedelta(days=dates - 1)
        answer = sdk_client(apis[0]).run_manual_dag_nodes(
            dw.RunManualDagNodesRequest(
                project_env="PROD", project_name=flow.workspace, flow_name=flow.name,
                start_biz_date=f"{first} 00:00:00", end_biz_date=f"{last} 00:00:00",
            )
        )  # fmt: skip
        assert answer.body.dag_id > 0
        total = layers * width * dates
        # Mid-run: kill the leading scheduler and the first worker that ran something.
        wait_for(lambda: (marks / "events").exists()
                 and (marks / "events").read_text().count("end ") >= total // 3,
                 timeout=120)  # fmt: skip
        if kill_leader:
            leader = next(s for s in schedulers if s.engine() == "leader")
            leader.signal(signal.SIGKILL)
            standby = next(s for s in schedulers if s is not leader)
            wait_for(lambda: standby.engine() == "leader", timeout=TAKE_OVER_SECONDS)
        wait_for(lambda: _running_on(ctx, "w1"), timeout=60)
        cluster.procs[0].signal(signal.SIGKILL)
        # Watch through the second API process; restart what the rules left failed.
        watcher = sdk_client(apis[1])
        wait_for(lambda: _all_succeeded(ctx, watcher, total), timeout=240, interval=1)
    finally:
        cluster.stop()
    events = (marks / "events").read_text().split("\n")[:-1]
    return flow, events, total


def _check(ctx: ServiceContext, events: list[str], total: int, dates: int) -> None:
    # No instance ever had two live attempts.
    assert overlaps(events) == []
    starts = Counter(e.split(" ", 1)[1] for e in events if e.startswith("start"))
    assert [k for k, n in starts.items() if n > 1] == []  # an attempt started once
    with ctx.db.transaction(readonly=True) as session:
        by_worker = Counter(
            session.scalars(
                sa.select(WorkerAttempt.worker).where(WorkerAttempt.outcome == "SUCCESS")
            )
        )
        dags = session.execute(sa.select(Dag.id, Dag.bizdate_ms).order_by(Dag.bizdate_ms)).all()
    # Both workers ran work.
    assert set(by_worker) == {"w1", "w2"}, by_worker
    # The dates ran in order: a Dag's first start after the previous Dag's last finish.
    rows = _instances(ctx)
    assert len(rows) == total and len(dags) == dates
    spans = []
    for dag in dags:
        mine = [r for r in rows if r.dag_id == dag.id]
        spans.append((min(r.begin_running_time for r in mine), max(r.finish_time for r in mine)))
    for before, after in itertools.pairwise(spans):
        assert after[0] >= before[1], (before, after)


def test_a_cluster_on_rabbitmq_survives_its_leading_scheduler_and_a_worker_killed(
    ctx, database, rabbitmq_url, tmp_path
):
    _, events, total = _run_cluster(
        ctx, database, rabbitmq_url, tmp_path, layers=4, width=10, dates=5, kill_leader=True
    )
    _check(ctx, events, total, dates=5)


def test_a_cluster_on_redis_survives_a_worker_killed(ctx, database, redis_url, tmp_path):
    _, events, total = _run_cluster(
        ctx, database, redis_url, tmp_path, layers=2, width=5, dates=2, kill_leader=False
    )
    _check(ctx, events, total, dates=2)
