"""`opcenter scheduler` and `opcenter serve --no-engine` as real processes on one PostgreSQL
schema: one scheduler leads, another takes over within 5 s of its SIGKILL without running an
attempt twice; an API-only server and a scheduler run a workflow through the official SDK;
`/healthz` and `/readyz` on both (503 when the schema is gone or the database server cannot be
reached); the per-AccessKey rate limit shared by two API processes; processes started together
on an empty store."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alibabacloud_dataworks_public20200518 import models as dw
from alibabacloud_tea_openapi.exceptions import ThrottlingException

from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.db import Database
from opcenter.store.tables import InstanceAttempt
from tests.cli.processes import Proc, TcpProxy, marking, overlaps, sdk_client
from tests.conftest import PG_URL
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag, wait_for

TAKE_OVER_SECONDS = 5.0


@pytest.fixture
def url(pg_schema: str) -> str:
    return f"{PG_URL}?options=-csearch_path%3D{pg_schema}"


@pytest.fixture
def ctx(url: str, tmp_path: Path) -> Iterator[ServiceContext]:
    """The test's own view of the processes' store (migrated before any process starts)."""
    db = Database(url)
    db.migrate()
    yield ServiceContext(
        db=db, settings=load_settings(environ={}, dotenv=None, data_dir=tmp_path / "client")
    )
    db.dispose()


@pytest.fixture
def procs(url: str, tmp_path: Path) -> Iterator[list[Proc]]:
    """Processes the test starts (`procs.append(...)`); all killed afterwards."""
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


def _start(
    procs: list[Proc], url: str, tmp_path: Path, command: str, *args: str, **env: str
) -> Proc:
    name = f"{command}{len(procs)}"
    (tmp_path / name).mkdir()
    proc = Proc(command, url, tmp_path / name / "data", tmp_path / f"{name}.out", *args, **env)
    procs.append(proc.start())
    return proc


def test_a_standby_scheduler_takes_over_within_5_s_of_the_leader_kill_without_a_second_run(
    ctx: ServiceContext, url: str, procs: list[Proc], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    code = marking(marks, 1.5)
    nodes = [
        node("a", "shell", code, auto_rerun_times=1),
        *(node(f"b{i}", "shell", code, after=["a"], auto_rerun_times=1) for i in range(3)),
        node("c", "shell", code, after=["b0", "b1", "b2"], auto_rerun_times=1),
    ]
    flow = make_flow(ctx, nodes, shared=[marks])
    # Given two schedulers on one store
    first = _start(procs, url, tmp_path, "scheduler", "--workers", "4")
    wait_for(lambda: first.engine() == "leader", timeout=60)
    second = _start(procs, url, tmp_path, "scheduler", "--workers", "4")
    # Then exactly one leads; the other stands by
    wait_for(lambda: second.engine() == "standby", timeout=60)
    assert second.said("Another opcenter engine leads this store: standing by")
    assert first.get("/healthz") == second.get("/healthz") == (200, {"status": "ok"})
    assert first.get("/readyz") == (200, {"status": "ok", "store": "ok", "engine": "leader"})
    # When the leader is killed while the b instances run
    dag = run_flow(flow).dag_id
    wait_for(lambda: by_name(ctx, dag)["b0"].status is InstanceStatus.RUNNING, timeout=30)
    first.kill()
    killed_at = time.monotonic()
    # Then the standby leads within 5 s, and the Dag finishes
    wait_for(lambda: second.engine() == "leader", timeout=30, interval=0.05)
    took = time.monotonic() - killed_at
    print(f"take-over: {took:.2f} s after the SIGKILL")
    assert took <= TAKE_OVER_SECONDS
    assert wait_dag(ctx, dag, timeout=60) is DagStatus.SUCCESS
    instances = by_name(ctx, dag)
    assert {i.status for i in instances.values()} == {InstanceStatus.SUCCESS}
    # And no (instance, attempt) started twice, in the store or on the machine
    with ctx.db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(InstanceAttempt.instance_id, InstanceAttempt.attempt).where(
                InstanceAttempt.dag_id == dag
            )
        ).all()
    assert len(rows) == len(set(rows))
    events = (marks / "events").read_text().splitlines()
    started = Counter(e for e in events if e.startswith("start "))
    assert max(started.values()) == 1, started
    assert overlaps(events) == [], events
    reran = [i for i in instances.values() if i.attempt > 1]
    assert reran, "the kill interrupted no attempt"
    for instance in instances.values():
        assert {a for i, a in rows if i == instance.instance_id} == set(
            range(1, instance.attempt + 1)
        )
    assert second.said("This scheduler now leads the store")


def test_an_api_only_server_and_a_scheduler_run_a_workflow_through_thesdk(
    ctx: ServiceContext, url: str, procs: list[Proc], tmp_path: Path
) -> None:
    # Given a server without an engine and a scheduler on one store
    api = _start(procs, url, tmp_path, "serve", "--no-engine")
    scheduler = _start(procs, url, tmp_path, "scheduler")
    assert api.get("/readyz") == (200, {"status": "ok", "store": "ok", "engine": "off"})
    assert api.said("No engine in this process (--no-engine)")
    wait_for(lambda: scheduler.engine() == "leader", timeout=60)
    # When a shell workflow is created, deployed and run through the official SDK
    sdk = sdk_client(api)
    sdk.create_project(dw.CreateProjectRequest(project_identifier="ops", project_name="ops"))
    sdk.create_business(
        dw.CreateBusinessRequest(
            project_identifier="ops", business_name="flow", use_type="MANUAL_BIZ"
        )
    )
    file_ids = []
    for name, after in (("a", "ops_root"), ("b", "ops.a")):
        created = sdk.create_file(
            dw.CreateFileRequest(
                project_identifier="ops",
                file_folder_path="Business Flow/flow/shell",
                file_name=name,
                file_type=6,
                content=f"echo ran {name}",
                input_list=after,
                output_list=f"ops.{name}",
            )
        ).body
        file_ids.append(int(created.data))
    for file_id in file_ids:
        sdk.submit_file(dw.SubmitFileRequest(project_identifier="ops", file_id=file_id))
        sdk.deploy_file(dw.DeployFileRequest(project_identifier="ops", file_id=file_id))
    dag_id = sdk.run_manual_dag_nodes(
        dw.RunManualDagNodesRequest(
            project_env="PROD",
            project_name="ops",
            flow_name="flow",
            biz_date="2024-01-01 00:00:00",
        )
    ).body.dag_id

    def statuses() -> set[str]:
        answer = sdk.get_manual_dag_instances(
            dw.GetManualDagInstancesRequest(
                project_env="PROD", project_name="ops", dag_id=str(dag_id)
            )
        ).body
        return {i.status for i in answer.instances or []}

    # Then the scheduler runs it to SUCCESS
    wait_for(lambda: statuses() == {"SUCCESS"}, timeout=60, interval=0.2)
    assert len(by_name(ctx, dag_id)) == 2
    # And SIGTERM stops both cleanly
    for proc in (api, scheduler):
        proc.signal(signal.SIGTERM)
    for proc in (api, scheduler):
        assert proc.process is not None and proc.process.wait(timeout=30) == 0, proc.output
        assert proc.said("Stopping.")


def test_readyz_says_unavailable_when_the_store_is_gone_and_healthz_stays_ok(
    ctx: ServiceContext, url: str, pg_schema: str, procs: list[Proc], tmp_path: Path
) -> None:
    # Given a server without an engine and a scheduler, both ready
    api = _start(procs, url, tmp_path, "serve", "--no-engine")
    scheduler = _start(procs, url, tmp_path, "scheduler")
    wait_for(lambda: scheduler.engine() == "leader", timeout=60)
    assert api.get("/readyz")[0] == 200
    # When the store's schema goes away (renamed: the store's tables are no longer found)
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"ALTER SCHEMA {pg_schema} RENAME TO {pg_schema}_gone")
    try:
        # Then both say they are not ready, and still alive
        expected = {"status": "unavailable", "store": "no schema", "engine": "off"}
        assert api.get("/readyz") == (503, expected)
        status, body = scheduler.get("/readyz")
        assert (status, body["status"], body["store"]) == (503, "unavailable", "no schema")
        assert api.get("/healthz") == scheduler.get("/healthz") == (200, {"status": "ok"})
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"ALTER SCHEMA {pg_schema}_gone RENAME TO {pg_schema}")
        admin.dispose()
    # And ready again once it is back
    wait_for(lambda: api.get("/readyz")[0] == 200, timeout=30)


def test_the_rate_limit_of_an_access_key_holds_across_two_api_processes(
    ctx: ServiceContext, url: str, procs: list[Proc], tmp_path: Path
) -> None:
    # Given two API processes on one store, an AccessKey limited to one call per 5 s
    limit = {"OPCENTER_RATE_LIMIT_PER_SECOND": "0.2"}
    apis = [_start(procs, url, tmp_path, "serve", "--no-engine", **limit) for _ in range(2)]
    first, second = (sdk_client(api) for api in apis)
    # When the key calls the first, then the second, then the first again
    first.list_projects(dw.ListProjectsRequest())
    refused = []
    for sdk in (second, first):
        with pytest.raises(ThrottlingException) as caught:
            sdk.list_projects(dw.ListProjectsRequest())
        refused.append(caught.value)
    # Then the second process refuses too: the key spent its call on the first
    assert all(error.code == "Throttling.User" for error in refused)
    assert all(0 < error.retry_after <= 5000 for error in refused)


def test_processes_started_together_on_an_empty_store_all_become_ready(
    url: str, procs: list[Proc], tmp_path: Path
) -> None:
    # Given an empty schema, and two API processes and two schedulers started at once
    started = [
        *(_start(procs, url, tmp_path, "serve", "--no-engine") for _ in range(2)),
        *(_start(procs, url, tmp_path, "scheduler") for _ in range(2)),
    ]
    # Then one of them migrates it and makes the root key, and every one comes up ready
    for proc in started:
        assert proc.get("/readyz")[0] == 200, proc.output
    engines = sorted(proc.engine() or "" for proc in started)
    assert engines in (["leader", "off", "off", "standby"], ["off", "off", "standby", "standby"])
    wait_for(lambda: sorted(p.engine() or "" for p in started)[0] == "leader", timeout=30)


def test_readyz_says_unreachable_while_the_database_server_cannot_be_reached(
    url: str, ctx: ServiceContext, procs: list[Proc], tmp_path: Path
) -> None:
    # Given a server with its engine, reaching PostgreSQL through a relay
    pg = sa.engine.make_url(PG_URL)
    proxy = TcpProxy((pg.host or "127.0.0.1", pg.port or 5432)).open()
    through = url.replace(f"{pg.host}:{pg.port}", f"127.0.0.1:{proxy.port}")
    assert through != url
    try:
        server = _start(procs, through, tmp_path, "serve")
        assert server.get("/readyz") == (200, {"status": "ok", "store": "ok", "engine": "leader"})
        # When the database server cannot be reached any more (its port refuses connections)
        proxy.close()
        # Then the server is alive, not ready, and its engine stands by (it lost the lead)
        assert server.get("/healthz") == (200, {"status": "ok"})
        status, body = server.get("/readyz")
        assert (status, body["status"], body["store"]) == (503, "unavailable", "unreachable")
        wait_for(lambda: server.engine() == "standby", timeout=30, interval=0.1)
        # And once it can be reached again, it is ready and leads again
        proxy.open()
        wait_for(lambda: server.get("/readyz")[0] == 200, timeout=30, interval=0.1)
        wait_for(lambda: server.engine() == "leader", timeout=30, interval=0.1)
    finally:
        proxy.close()
