"""`opcenter run FLOW --endpoint HOST:PORT`: the run is sent to a real server on 127.0.0.1
(RunManualDagNodes, signed with an AccessKey) and `--wait` follows it through the API, printing
what the local `run` prints; and the path imports neither SQLAlchemy nor the official SDK.

One live opcenter (engine with real worker processes, API server) serves the module, on SQLite
then on PostgreSQL. Workflows: `ok` (a → b, virtual), `bad` (start → boom, boom exits 3),
`held` (hold: runs until the test creates the file `go`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opcenter.cli import cli
from opcenter.service.run_views import DagView, InstanceView
from opcenter.service.runs import find_dags, list_dags
from opcenter.store.db import Database
from tests.api.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from tests.api.opsupport import Live, start_live, stop_live, wait_for
from tests.engine.builders import make_flow, node, share_folder

WS = "remote"
KEY_ENV = {"OPCENTER_ACCESS_KEY_ID": ACCESS_KEY_ID, "OPCENTER_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET}
DAY = dt.date.today() - dt.timedelta(days=1)

# Run the console script's entry point, then write the names of the imported modules.
PROBE = """
import sys
out, sys.argv = sys.argv[1], ["opcenter", *sys.argv[2:]]
from opcenter.cli import main
code = 0
try:
    main(exit_at_once=False)
except SystemExit as exc:
    code = exc.code
with open(out, "w") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, module_db: Database) -> Iterator[Live]:
    running = start_live(tmp_path_factory.mktemp("remote") / "data", module_db)
    make_flow(running.ctx, [node("a"), node("b", after=["a"])], workspace=WS, name="ok")
    make_flow(
        running.ctx,
        [node("start"), node("boom", "shell", code="echo going down; exit 3", after=["start"])],
        workspace=WS,
        name="bad",
        create_workspace=False,
    )
    shared = share_folder(running.ctx, WS, tmp_path_factory.mktemp("held"))
    running.held = shared  # type: ignore[attr-defined]
    hold = f"while [ ! -e {shared}/go ]; do sleep 0.02; done"
    make_flow(
        running.ctx, [node("hold", "shell", code=hold)], workspace=WS, name="held",
        create_workspace=False,
    )  # fmt: skip
    yield running
    stop_live(running)


def _run(live: Live, *args: str, env: dict[str, str] | None = None) -> Result:
    argv = ["run", "-w", WS, *args, "--endpoint", live.endpoint]
    return CliRunner().invoke(cli, argv, env=KEY_ENV if env is None else env)


def test_run_wait_through_the_server_prints_the_table_and_exits_0(live: Live) -> None:
    # When `opcenter run ok --wait --endpoint` runs
    result = _run(live, "ok", "--bizdate", DAY.isoformat(), "--wait")
    # Then it exits 0 with the local run's table: the Dag SUCCESS, 2/2 done
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if DAY.isoformat() in line)
    assert "SUCCESS" in row and "2/2" in row
    assert "elapsed" in result.stdout
    # And the run is the server's (its store holds it, started by the AccessKey's root user)
    first = int(row.split("│")[1])
    dags = {d.dag_id: d for d in list_dags_of(live, first)}
    assert dags[first].create_user == "root"


def list_dags_of(live: Live, dag_id: int) -> list[DagView]:
    from opcenter.service.runs import get_dag

    op_seq = get_dag(live.ctx, dag_id=dag_id, project_env="PROD").op_seq
    return list_dags(live.ctx, op_seq=op_seq, project_env="PROD")


def test_a_failing_node_exits_1_naming_the_failed_instance(live: Live) -> None:
    result = _run(live, "bad", "--bizdate", DAY.isoformat(), "--wait")
    assert result.exit_code == 1, result.output
    assert "FAILURE" in result.stdout
    assert "1 instance(s) failed:" in result.stdout
    line = next(x for x in result.stdout.splitlines() if "node boom" in x)
    assert f"business date {DAY.isoformat()}" in line
    assert "its log: opcenter instance log" in result.stdout


def test_json_has_the_local_run_fields(live: Live) -> None:
    # A failed run, so that both lists are filled
    result = _run(live, "bad", "--bizdate", DAY.isoformat(), "--wait", "--json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"OpSeq", "Dags", "Failed"}
    (dag,) = out["Dags"]
    assert list(dag) == [f.name for f in dataclasses.fields(DagView)]
    assert (dag["status"], dag["biz_date"], dag["bizdate"]) == ("FAILURE", str(DAY), str(DAY))
    assert dag["op_seq"] == out["OpSeq"] and dag["env"] == "PROD"
    assert isinstance(dag["workflow_id"], int)
    (failed,) = out["Failed"]
    assert list(failed) == [f.name for f in dataclasses.fields(InstanceView)]
    assert failed["node_name"] == "boom" and failed["status"] == "FAILURE"
    assert failed["dag_id"] == dag["dag_id"]


def test_a_range_makes_one_dag_per_date_in_order(live: Live) -> None:
    start = DAY - dt.timedelta(days=2)
    result = _run(live, "ok", "--from", str(start), "--to", str(DAY), "--wait", "--json")
    assert result.exit_code == 0, result.output
    dags = json.loads(result.stdout)["Dags"]
    assert [d["biz_date"] for d in dags] == [str(start + dt.timedelta(days=n)) for n in range(3)]
    assert [d["status"] for d in dags] == ["SUCCESS"] * 3
    assert [d["seq"] for d in dags] == [0, 1, 2]
    # And the store agrees
    stored = list_dags_of(live, dags[0]["dag_id"])
    assert [(d.dag_id, d.seq) for d in stored] == [(d["dag_id"], d["seq"]) for d in dags]


def test_without_wait_it_prints_the_run_and_returns(live: Live) -> None:
    result = _run(live, "ok", "--bizdate", DAY.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["DagIds"] == [out["DagId"]]
    assert [d.dag_id for d in list_dags_of(live, out["DagId"])] == [out["DagId"]]


def test_a_bad_key_and_a_refusal_are_one_line_with_the_server_code(live: Live) -> None:
    bad = {**KEY_ENV, "OPCENTER_ACCESS_KEY_SECRET": "wrong"}
    result = _run(live, "ok", "--bizdate", DAY.isoformat(), "--wait", env=bad)
    assert result.exit_code == 1
    assert result.output.startswith("Error: SignatureDoesNotMatch: "), result.output
    assert len(result.output.strip().splitlines()) == 1
    unknown = _run(live, "ok", "--bizdate", DAY.isoformat(), env={})
    assert unknown.exit_code == 1 and "needs an AccessKey" in unknown.output
    missing = _run(live, "nope", "--bizdate", DAY.isoformat(), "--wait")
    assert missing.exit_code == 1
    assert (
        missing.output
        == f"Error: Invalid.Flow.NotExists: The workflow 'nope' does not exist in '{WS}'.\n"
    )


def test_the_endpoint_path_imports_neither_sqlalchemy_nor_the_sdk(
    live: Live, tmp_path: Path
) -> None:
    out = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPCENTER_")}
    argv = ["run", "-w", WS, "ok", "--bizdate", DAY.isoformat(), "--wait", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *argv, "--endpoint", live.endpoint],
        env={**env, **KEY_ENV}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Dags"][0]["status"] == "SUCCESS"
    modules = set(out.read_text().split())
    heavy = ("sqlalchemy", "alibabacloud", "darabonba", "Tea", "opcenter.store", "rich")
    assert [m for m in modules if m.split(".")[0] in heavy or m.startswith(heavy)] == []


def test_ctrl_c_stops_following_only_the_run_goes_on_on_the_server(live: Live) -> None:
    # Given `run held --wait --endpoint` following a run whose node is RUNNING on the server
    argv = ["run", "-w", WS, "held", "--bizdate", DAY.isoformat(), "--wait"]
    process = subprocess.Popen(
        [sys.executable, "-m", "opcenter.cli", *argv, "--endpoint", live.endpoint],
        env={**os.environ, **KEY_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def running() -> list[DagView]:
            page = find_dags(live.ctx, project_env="PROD", project_identifier=WS, workflow="held")
            return [d for d in page.items if d.status.value == "RUNNING"]

        (dag,) = wait_for(running, "the held run's Dag RUNNING")
        # When Ctrl-C reaches the command
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Then it exits 1 saying the run goes on on the server, naming it
    assert process.returncode == 1, err
    assert f"only following stopped; run {dag.op_seq} goes on on the server" in err
    # And the server does run it to its end
    (live.held / "go").touch()  # type: ignore[attr-defined]

    def finished() -> str | None:
        status = list_dags(live.ctx, op_seq=dag.op_seq, project_env="PROD")[0].status.value
        return status if status in ("SUCCESS", "FAILURE") else None

    assert wait_for(finished, "the held run's end") == "SUCCESS"
