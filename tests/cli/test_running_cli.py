"""`opcenter run`, `dag`, `instance` through click's runner on a real data directory, and once
as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from opcenter.cli import cli
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from tests.engine.builders import YESTERDAY, Flow, by_name, make_flow, node


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def flow(data_dir: Path) -> Iterator[Flow]:
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    yield make_flow(
        ctx,
        [node("a", "shell", "echo hello ${who}", params="who=$bizdate"), node("b", after=["a"])],
    )
    ctx.db.dispose()


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_wait_runs_the_flow_and_exits_zero(data_dir: Path, flow: Flow) -> None:
    result = invoke(
        "run", "flow", "--workspace", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
        "--json", "--data-dir", str(data_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [d["status"] for d in report["Dags"]] == ["SUCCESS"]
    dag_id = report["Dags"][0]["dag_id"]
    shown = invoke("dag", "show", str(dag_id), "--data-dir", str(data_dir))
    assert "SUCCESS" in shown.output and "a" in shown.output
    a = by_name(flow.ctx, dag_id)["a"].instance_id
    log = invoke("instance", "log", str(a), "--data-dir", str(data_dir))
    assert f"hello {YESTERDAY.strftime('%Y%m%d')}" in log.output


def test_run_wait_exits_one_given_a_failing_node(data_dir: Path, tmp_path: Path) -> None:
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    make_flow(ctx, [node("bad", "shell", "exit 4")])
    ctx.db.dispose()
    result = invoke(
        "run", "flow", "-w", "ws", "--from", "2020-01-01", "--to", "2020-01-02", "--wait",
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "FAILURE" in result.output and "CREATED" in result.output


def test_run_fails_with_one_line_given_a_bad_date(data_dir: Path, flow: Flow) -> None:
    result = invoke(
        "run", "flow", "-w", "ws", "--bizdate", "2999-01-01", "--data-dir", str(data_dir)
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: BizDate='2999-01-01 00:00:00' is not in the past")


def test_instance_operations_answer_and_refuse(data_dir: Path, flow: Flow) -> None:
    result = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--json",
                    "--data-dir", str(data_dir))  # fmt: skip
    dag_id = json.loads(result.output)["DagId"]
    b = by_name(flow.ctx, dag_id)["b"].instance_id
    assert invoke("instance", "suspend", str(b), "--data-dir", str(data_dir)).exit_code == 0
    assert invoke("instance", "resume", str(b), "--data-dir", str(data_dir)).exit_code == 0
    stopped = invoke("instance", "stop", str(b), "--data-dir", str(data_dir))
    assert stopped.output == f"Instance {b} stopped.\n"
    again = invoke("instance", "stop", str(b), "--data-dir", str(data_dir))
    assert again.exit_code == 1
    assert "with status FAILURE" in again.output
    shown = invoke("instance", "show", str(b), "--json", "--data-dir", str(data_dir))
    assert json.loads(shown.output)["status"] == "FAILURE"
    listed = invoke("dag", "list", "--op-seq", "1", "--json", "--data-dir", str(data_dir))
    assert json.loads(listed.output)[0]["dag_id"] == dag_id


def test_run_as_a_subprocess(data_dir: Path, flow: Flow) -> None:
    opcenter = Path(sys.executable).with_name("opcenter")
    done = subprocess.run(
        [str(opcenter), "run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "SUCCESS" in done.stdout
