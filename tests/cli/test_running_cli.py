"""`opcenter run`, `dag`, `instance` through click's runner on a real data directory, and once
as a real subprocess."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from rich.console import Console

from opcenter.cli import cli
from opcenter.cli._output import iso_time as _iso
from opcenter.cli.running import DRAIN_SECONDS, DRIVING_HERE, NO_ENGINE, _ms, _render_here
from opcenter.domain.model import DagStatus, InstanceStatus
from opcenter.engine.paths import log_path
from opcenter.engine.scheduler import Engine
from opcenter.runners.local import LocalExecutor
from opcenter.service.context import ServiceContext
from opcenter.service.instances import suspend_instance
from opcenter.service.runs import get_dag, list_dags
from opcenter.settings import load_settings
from opcenter.store.tables import Dag
from tests.engine.builders import (
    YESTERDAY,
    Flow,
    by_name,
    make_flow,
    node,
    run_flow,
    wait_for,
)


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


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_wait_runs_the_flow_and_exits_zero(data_dir: Path, flow: Flow) -> None:
    result = invoke(
        "run", "flow", "--workspace", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
        "--json", "--data-dir", str(data_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [d["status"] for d in report["Dags"]] == ["SUCCESS"]
    dag_id = report["Dags"][0]["dag_id"]
    shown = invoke("dag", "show", str(dag_id), "--data-dir", str(data_dir))
    assert _table_rows(shown.output) == _expected_rows(flow, dag_id)
    stored = get_dag(flow.ctx, dag_id=dag_id, project_env="PROD")
    assert shown.output.splitlines()[0] == (
        f"Dag {dag_id} flow · business date {YESTERDAY.isoformat()} · SUCCESS · OpSeq 1 · started "
        f"{_ms(stored.start_time)} · finished {_ms(stored.finish_time)}"
    )
    # --json writes times in ISO 8601 (with the store's offset) and business dates as dates
    assert report["Dags"][0]["start_time"] == _iso(stored.start_time)
    assert report["Dags"][0]["bizdate"] == YESTERDAY.isoformat()
    assert report["Failed"] == []
    assert result.stderr == f"{DRIVING_HERE}\n"
    a = by_name(flow.ctx, dag_id)["a"].instance_id
    log = invoke("instance", "log", str(a), "--data-dir", str(data_dir))
    assert f"hello {YESTERDAY.strftime('%Y%m%d')}" in log.output


def _table_rows(output: str) -> list[list[str]]:
    """The body rows of the rich table in `output`, cell by cell."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def _expected_rows(flow: Flow, dag_id: int) -> list[list[str]]:
    return [
        [str(i.instance_id), name, str(flow.id(name)), "MANUAL", "SUCCESS",
         _ms(i.begin_running_time), _ms(i.finish_time)]
        for name, i in sorted(by_name(flow.ctx, dag_id).items())
    ]  # fmt: skip


def test_run_wait_drives_only_its_own_run_given_another_run_pending(
    data_dir: Path, flow: Flow
) -> None:
    # Given a run A created while no server runs (nobody drives it)
    first = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--json",
                   "--data-dir", str(data_dir))  # fmt: skip
    dag_a = json.loads(first.stdout)["DagId"]
    # When run B is started with --wait
    second = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
                    "--json", "--data-dir", str(data_dir))  # fmt: skip
    # Then B ran here to the end, and A was left as it was
    assert second.exit_code == 0, second.output
    assert second.stderr == f"{DRIVING_HERE}\n"
    assert [d["status"] for d in json.loads(second.stdout)["Dags"]] == ["SUCCESS"]
    assert get_dag(flow.ctx, dag_id=dag_a, project_env="PROD").status is DagStatus.CREATED
    a_rows = by_name(flow.ctx, dag_a).values()
    assert {(i.status, i.attempt) for i in a_rows} == {(InstanceStatus.NOT_RUN, 0)}


def test_run_wait_only_watches_given_a_server_engine_leads_the_store(
    data_dir: Path, flow: Flow
) -> None:
    # Given an engine leading the store in this process (as `opcenter serve` would)
    engine = Engine(flow.ctx, LocalExecutor(2), poll_seconds=0.05)
    engine.start()
    try:
        # When a run is started with --wait
        result = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
                        "--json", "--data-dir", str(data_dir))  # fmt: skip
    finally:
        engine.stop()
    # Then the server's engine ran it, and the command only followed it
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert [d["status"] for d in json.loads(result.stdout)["Dags"]] == ["SUCCESS"]


def test_run_wait_exits_one_given_a_failing_node(data_dir: Path, tmp_path: Path) -> None:
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    make_flow(ctx, [node("bad", "shell", "exit 4")])
    ctx.db.dispose()
    result = invoke(
        "run", "flow", "-w", "ws", "--from", "2020-01-01", "--to", "2020-01-02", "--wait",
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert result.exit_code == 1
    # The final table: per Dag its date, status, done/all, failed count and running nodes
    assert [row[1:6] for row in _table_rows(result.stdout)] == [
        ["2020-01-01", "FAILURE", "0/1", "1", "-"],
        ["2020-01-02", "CREATED", "0/1", "0", "-"],
    ]
    # It ends naming each failed instance (id, node, date, why) and how to read its log
    failed = [i for i in by_name(ctx, 1).values() if i.status is InstanceStatus.FAILURE]
    assert len(failed) == 1
    bad = failed[0]
    why = f": {bad.error_message}" if bad.error_message else ""
    assert result.stdout.endswith(
        "1 instance(s) failed:\n"
        f"  instance {bad.instance_id}, node bad, business date 2020-01-01{why}\n"
        f"    its log: opcenter instance log {bad.instance_id} --data-dir {data_dir}\n"
    )
    as_json = invoke(
        "run", "flow", "-w", "ws", "--bizdate", "2020-01-03", "--wait", "--json",
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert as_json.exit_code == 1
    [failure] = json.loads(as_json.stdout)["Failed"]
    assert (failure["node_name"], failure["bizdate"], failure["status"]) == (
        "bad",
        "2020-01-03",
        "FAILURE",
    )
    # The live table of that run, at 80 columns: no date or status is cut
    dags = list_dags(ctx, op_seq=1, project_env="PROD")
    shown = _rendered(ctx, dags, 80)
    assert "…" not in shown
    assert "2020-01-01" in shown and "2020-01-02" in shown
    assert "FAILURE" in shown and "CREATED" in shown
    assert max(len(line) for line in shown.splitlines()) <= 80
    ctx.db.dispose()


def _rendered(ctx: ServiceContext, dags: list, width: int) -> str:
    out = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    out.print(_render_here(ctx, dags, 12.3))
    return out.export_text()


def test_live_table_names_a_suspended_instance_given_a_run_held_back(data_dir: Path) -> None:
    # Given a run not yet started whose second node an operator suspended
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    flow = make_flow(ctx, [node("a", "shell", "true"), node("b", "shell", "true", after=["a"])])
    created = run_flow(flow, biz_date=f"{YESTERDAY.isoformat()} 00:00:00")
    b = by_name(ctx, created.dag_id)["b"]
    assert suspend_instance(ctx, instance_id=b.instance_id, project_env="PROD")
    # Then the live table names it, so a run that waits says why
    shown = _rendered(ctx, list_dags(ctx, op_seq=created.op_seq, project_env="PROD"), 80)
    assert "b (suspended)" in shown
    ctx.db.dispose()


def test_live_table_fits_80_columns_given_running_nodes_with_long_names(
    data_dir: Path, tmp_path: Path
) -> None:
    # Given a run whose two long-named nodes are running (they wait for a gate file)
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    gate = tmp_path / "gate"
    wait = f"until [ -e {gate} ]; do sleep 0.05; done"
    names = ["extract_customers_from_the_crm_database", "extract_orders_from_the_shop_database"]
    flow = make_flow(ctx, [node(name, "shell", wait) for name in names])
    engine = Engine(ctx, LocalExecutor(2), poll_seconds=0.05)
    engine.start()
    try:
        created = run_flow(flow, biz_date=f"{YESTERDAY.isoformat()} 00:00:00")
        wait_for(
            lambda: all(
                i.status is InstanceStatus.RUNNING for i in by_name(ctx, created.dag_id).values()
            ),
            timeout=30,
        )
        # When the live table is drawn 80 columns wide
        dags = list_dags(ctx, op_seq=created.op_seq, project_env="PROD")
        shown = _rendered(ctx, dags, 80)
    finally:
        gate.touch()
        engine.stop(drain=True, timeout=30)
    # Then the date and the status are whole, and the running nodes' names wrap instead of
    # being cut
    assert "…" not in shown, shown
    assert YESTERDAY.isoformat() in shown and "RUNNING" in shown
    assert max(len(line) for line in shown.splitlines()) <= 80
    running = "".join(row[5] for row in _table_rows(shown))
    assert running == ",".join(names)
    ctx.db.dispose()


def test_run_without_wait_warns_in_one_line_given_no_engine_serves_the_store(
    data_dir: Path, flow: Flow
) -> None:
    alone = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(),
                   "--data-dir", str(data_dir))  # fmt: skip
    assert alone.exit_code == 0, alone.output
    assert alone.stderr == f"{NO_ENGINE}\n"
    assert alone.stdout == "Run 1: 1 Dag(s), first DagId 1.\n"
    # Given an engine leading the store (as `opcenter serve` does), no warning
    engine = Engine(flow.ctx, LocalExecutor(2), poll_seconds=0.05)
    engine.start()
    try:
        served = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--json",
                        "--data-dir", str(data_dir))  # fmt: skip
    finally:
        engine.stop()
    assert served.exit_code == 0, served.output
    assert served.stderr == ""


def test_run_fails_with_one_line_given_a_bad_date(data_dir: Path, flow: Flow) -> None:
    result = invoke(
        "run", "flow", "-w", "ws", "--bizdate", "2999-01-01", "--data-dir", str(data_dir)
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: --bizdate '2999-01-01' is not in the past")


def test_instance_operations_answer_and_refuse(data_dir: Path, flow: Flow) -> None:
    result = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--json",
                    "--data-dir", str(data_dir))  # fmt: skip
    dag_id = json.loads(result.stdout)["DagId"]
    b = by_name(flow.ctx, dag_id)["b"].instance_id
    assert invoke("instance", "suspend", str(b), "--data-dir", str(data_dir)).exit_code == 0
    assert invoke("instance", "resume", str(b), "--data-dir", str(data_dir)).exit_code == 0
    stopped = invoke("instance", "stop", str(b), "--data-dir", str(data_dir))
    assert stopped.output == f"Instance {b} stopped.\n"
    again = invoke("instance", "stop", str(b), "--data-dir", str(data_dir))
    assert again.exit_code == 1
    assert "with status FAILURE" in again.output
    shown = invoke("instance", "show", str(b), "--json", "--data-dir", str(data_dir))
    assert json.loads(shown.stdout)["status"] == "FAILURE"
    listed = invoke("dag", "list", "--op-seq", "1", "--json", "--data-dir", str(data_dir))
    assert json.loads(listed.stdout)["items"][0]["dag_id"] == dag_id


def test_run_as_a_subprocess(data_dir: Path, flow: Flow) -> None:
    opcenter = Path(sys.executable).with_name("opcenter")
    done = subprocess.run(
        [str(opcenter), "run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "SUCCESS" in done.stdout


def test_run_wait_drains_its_own_instances_given_ctrl_c(data_dir: Path, tmp_path: Path) -> None:
    # Given a run whose first node runs until a gate file exists, driven by `run --wait`
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    gate = tmp_path / "gate"
    flow = make_flow(ctx, [node("slow", "shell", f"until [ -e {gate} ]; do sleep 0.05; done"),
                           node("next", "shell", "echo next", after=["slow"])])  # fmt: skip
    opcenter = Path(sys.executable).with_name("opcenter")
    waiting = subprocess.Popen(
        [str(opcenter), "run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
         "--json", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as from a terminal: a suite started in the background inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        dag_id = wait_for(lambda: _first_dag(flow), timeout=30)
        wait_for(lambda: by_name(ctx, dag_id)["slow"].status is InstanceStatus.RUNNING, 30)
        assert waiting.stderr is not None
        said = [waiting.stderr.readline()]  # it says it drives the run: its engine has started
        # When it is interrupted (Ctrl-C), and the running attempt ends within the drain time
        waiting.send_signal(signal.SIGINT)
        said.append(waiting.stderr.readline())  # draining from here on
        gate.touch()
        _, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    # Then it said so, the attempt was recorded, and nothing new was started
    assert waiting.returncode == 1
    assert [*said, *err.splitlines(keepends=True)] == [
        f"{DRIVING_HERE}\n",
        f"Interrupted: this run's running instances get {DRAIN_SECONDS:g} s to finish, then are "
        "killed; the next opcenter engine on this store records them as interrupted and "
        "continues the run.\n",
        "\n",  # click ends the interrupted line
        "Aborted!\n",
    ]
    rows = by_name(ctx, dag_id)
    assert rows["slow"].status is InstanceStatus.SUCCESS
    assert rows["next"].begin_running_time is None  # queued at most: the next engine runs it
    assert rows["next"].status in (InstanceStatus.NOT_RUN, InstanceStatus.WAIT_RESOURCE)
    assert get_dag(ctx, dag_id=dag_id, project_env="PROD").status is DagStatus.RUNNING
    ctx.db.dispose()


def _first_dag(flow: Flow) -> int | None:
    with flow.ctx.db.transaction(readonly=True) as session:
        return session.scalar(sa.select(Dag.id).order_by(Dag.id).limit(1))


def test_instance_log_reads_pages_a_window_and_the_tail(data_dir: Path, flow: Flow) -> None:
    run = invoke("run", "flow", "-w", "ws", "--bizdate", YESTERDAY.isoformat(), "--wait",
                 "--json", "--data-dir", str(data_dir))  # fmt: skip
    dag_id = json.loads(run.stdout)["Dags"][0]["dag_id"]
    a = by_name(flow.ctx, dag_id)["a"]
    whole = log_path(data_dir, dag_id, a.instance_id, 1).read_text()
    assert whole.endswith("exit code 0\n") and len(whole) > 40
    log = ("instance", "log", str(a.instance_id), "--data-dir", str(data_dir))

    assert invoke(*log).stdout == whole
    assert invoke(*log, "--follow").stdout == whole  # finished: prints all, then returns
    window = invoke(*log, "--offset", "5", "--limit", "10")
    assert (window.stdout, window.stderr) == (whole[5:15], "(the log goes on: --offset 15)\n")
    assert invoke(*log, "--offset", str(len(whole) - 3)).stdout == whole[-3:]
    last = whole[-60:]  # the last lines, and part of one before them
    assert invoke(*log, "--tail", "60").stdout == last[last.index("\n") + 1 :]
    refused = invoke(*log, "--tail", "5", "--offset", "1")
    assert refused.exit_code == 2
    assert "--tail and --offset exclude each other." in refused.stderr
