"""`opcenter instance rerun [--latest]` and a suspended instance in `opcenter dag show`, through
click's runner on a real data directory (issue 12)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opcenter.cli import cli
from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.scheduler import Engine
from opcenter.runners.local import LocalExecutor
from opcenter.service import deployments, files
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from tests.engine.builders import YESTERDAY, Flow, by_name, make_flow, node, wait_dag


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def flow(data_dir: Path) -> Iterator[Flow]:
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    yield make_flow(ctx, [node("a", "shell", "exit 1"), node("b", after=["a"])])
    ctx.db.dispose()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _version_ids(ctx: ServiceContext, file_id: int) -> list[int]:
    from opcenter.store.tables import FileVersion

    with ctx.db.transaction(readonly=True) as session:
        rows = session.query(FileVersion.id).filter(FileVersion.file_id == file_id)
        return sorted(r.id for r in rows.order_by(FileVersion.version))


def test_instance_rerun_latest_runs_the_deployed_fix(data_dir: Path, flow: Flow) -> None:
    ctx = flow.ctx
    # Given a run whose node failed in version 1
    first = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
                   "--json", "--data-dir", str(data_dir))  # fmt: skip
    assert first.exit_code == 1, first.output
    dag_id = json.loads(first.stdout)["Dags"][0]["dag_id"]
    a = by_name(ctx, dag_id)["a"].instance_id
    # and the fix deployed as version 2
    files.update_file(
        ctx, project_id=flow.project_id, file_id=flow.file_ids["a"], content="echo fixed"
    )
    deployments.submit_file(ctx, project_id=flow.project_id, file_id=flow.file_ids["a"])
    deployments.deploy_file(ctx, project_id=flow.project_id, file_id=flow.file_ids["a"])
    v1, v2 = _version_ids(ctx, flow.file_ids["a"])
    engine = Engine(ctx, LocalExecutor(2), poll_seconds=0.05)
    engine.start()
    try:
        # When it is rerun: the same version runs, and the command says a newer one is there
        rerun = invoke("instance", "rerun", str(a), "--data-dir", str(data_dir))
        assert rerun.exit_code == 0, rerun.output
        assert rerun.output == (
            f"Instance {a} will run again with version 1 of file a (FileVersionId {v1}); "
            f"version 2 of file a (FileVersionId {v2}) is deployed: --latest runs it.\n"
        )
        assert wait_dag(ctx, dag_id) is DagStatus.FAILURE
        # When it is rerun with --latest: version 2 runs, and the Dag succeeds
        latest = invoke("instance", "rerun", str(a), "--latest", "--data-dir", str(data_dir))
        assert latest.exit_code == 0, latest.output
        assert latest.output == (
            f"Instance {a} will run again with version 2 of file a (FileVersionId {v2}).\n"
        )
        assert wait_dag(ctx, dag_id) is DagStatus.SUCCESS
    finally:
        engine.stop()
    log = invoke("instance", "log", str(a), "--data-dir", str(data_dir)).output
    assert f"Code: file a version 2 (FileVersionId {v2})" in log and "fixed" in log
    older = invoke("instance", "log", str(a), "--attempt", "2", "--data-dir", str(data_dir))
    assert f"Code: file a version 1 (FileVersionId {v1})" in older.output


def test_dag_show_shows_a_suspended_instance_as_its_own_state(data_dir: Path, flow: Flow) -> None:
    created = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--json",
                     "--data-dir", str(data_dir))  # fmt: skip
    dag_id = json.loads(created.stdout)["DagId"]
    b = by_name(flow.ctx, dag_id)["b"]
    assert b.status is InstanceStatus.NOT_RUN
    assert (
        invoke("instance", "suspend", str(b.instance_id), "--data-dir", str(data_dir)).exit_code
        == 0
    )
    shown = invoke("dag", "show", str(dag_id), "--data-dir", str(data_dir)).output
    rows = {
        cells[1]: cells
        for line in shown.splitlines()
        if line.startswith("│")
        for cells in [[c.strip() for c in line.split("│")[1:-1]]]
    }
    assert (rows["b"][3], rows["b"][4]) == ("PAUSE", "SUSPENDED")
    assert (rows["a"][3], rows["a"][4]) == ("MANUAL", "NOT_RUN")


def test_instance_rerun_downstream_sets_back_every_finished_instance_after_it(
    data_dir: Path, flow: Flow
) -> None:
    ctx = flow.ctx
    first = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
                   "--json", "--data-dir", str(data_dir))  # fmt: skip
    dag_id = json.loads(first.stdout)["Dags"][0]["dag_id"]
    a, b = (by_name(ctx, dag_id)[n].instance_id for n in ("a", "b"))
    engine = Engine(ctx, LocalExecutor(2), poll_seconds=0.05)
    engine.start()
    try:
        assert invoke("instance", "set-success", str(a), "--data-dir", str(data_dir)).exit_code == 0
        assert wait_dag(ctx, dag_id) is DagStatus.SUCCESS
        rerun = invoke("instance", "rerun", str(a), "--downstream", "--data-dir", str(data_dir))
        assert rerun.exit_code == 0, rerun.output
        assert rerun.output.splitlines()[-1] == (
            f"Downstream instances that will run again after it: {b}."
        )
        assert wait_dag(ctx, dag_id) is DagStatus.FAILURE  # a fails again; b waits for it
    finally:
        engine.stop()
    assert by_name(ctx, dag_id)["b"].status is InstanceStatus.NOT_RUN
