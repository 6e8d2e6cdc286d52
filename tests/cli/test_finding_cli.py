"""Finding runs without their OpSeq: `opcenter instance list` and `opcenter dag list` filter by
workspace, workflow, business date or range, status, with paging; their tables show dates and
times for people and their `--json` writes ISO 8601."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from opcenter.cli import cli
from opcenter.cli._output import human_time, iso_time
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from tests.engine.builders import Flow, by_name, make_flow, node

D1, D2, D3 = "2020-01-01", "2020-01-02", "2020-01-03"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Flow]]:
    """Run 1 (OpSeq 1) for D1..D2: on D1 `a` succeeded and `b` failed, D2 never started; run 2
    for D3 created only. Six instances, three Dags."""
    data_dir = tmp_path_factory.mktemp("finding") / "data"
    ctx = ServiceContext.open(load_settings(environ={}, dotenv=None, data_dir=data_dir))
    flow = make_flow(
        ctx, [node("a", "shell", "echo ok"), node("b", "shell", "exit 3", after=["a"])]
    )
    first = invoke(data_dir, "run", "flow", "-w", "ws", "--from", D1, "--to", D2, "--wait")
    assert first.exit_code == 1, first.output
    second = invoke(data_dir, "run", "flow", "-w", "ws", "--bizdate", D3.replace("-", ""))
    assert second.exit_code == 0, second.output
    yield data_dir, flow
    ctx.db.dispose()


def invoke(data_dir: Path, *args: str) -> Result:
    env = {"OPCENTER_DATA_DIR": "", "OPCENTER_DATABASE_URL": ""}
    return CliRunner().invoke(cli, [*args, "--data-dir", str(data_dir)], env=env)


def listed(data_dir: Path, *args: str) -> dict[str, Any]:
    result = invoke(data_dir, *args, "--json")
    assert result.exit_code == 0, result.output
    page: dict[str, Any] = json.loads(result.stdout)
    return page


def instances(data_dir: Path, *args: str) -> list[tuple[str, str, str]]:
    page = listed(data_dir, "instance", "list", "-w", "ws", *args)
    return [(i["node_name"], i["bizdate"], i["status"]) for i in page["instances"]]


def test_instance_list_finds_instances_by_status_date_range_node_and_workflow(
    store: tuple[Path, Flow],
) -> None:
    data_dir, _ = store
    everything = instances(data_dir)
    assert sorted(everything) == sorted(
        [("a", D1, "SUCCESS"), ("b", D1, "FAILURE"), ("a", D2, "NOT_RUN"), ("b", D2, "NOT_RUN"),
         ("a", D3, "NOT_RUN"), ("b", D3, "NOT_RUN")]
    )  # fmt: skip
    assert [d for _, d, _ in everything] == [D3, D3, D2, D2, D1, D1]  # newest first
    assert instances(data_dir, "--status", "failure") == [("b", D1, "FAILURE")]
    assert sorted(instances(data_dir, "--bizdate", D1)) == [
        ("a", D1, "SUCCESS"),
        ("b", D1, "FAILURE"),
    ]
    assert {d for _, d, _ in instances(data_dir, "--from", "20200102")} == {D2, D3}
    assert {d for _, d, _ in instances(data_dir, "--to", D2)} == {D1, D2}
    assert {d for _, d, _ in instances(data_dir, "--from", D2, "--to", D2)} == {D2}
    assert {n for n, _, _ in instances(data_dir, "--node", "b")} == {"b"}
    assert len(instances(data_dir, "--workflow", "flow")) == 6
    assert instances(data_dir, "--workflow", "other") == []
    assert instances(data_dir, "--env", "dev") == []


def test_instance_list_pages_and_says_how_to_see_the_next_page(store: tuple[Path, Flow]) -> None:
    data_dir, _ = store
    first = listed(data_dir, "instance", "list", "-w", "ws", "--page-size", "4")
    second = listed(data_dir, "instance", "list", "-w", "ws", "--page-size", "4", "--page", "2")
    assert (first["total_count"], len(first["instances"]), len(second["instances"])) == (6, 4, 2)
    ids = [i["instance_id"] for i in first["instances"] + second["instances"]]
    assert len(set(ids)) == 6
    table = invoke(data_dir, "instance", "list", "-w", "ws", "--page-size", "4")
    assert table.stdout.rstrip().endswith("page 1, 4 of 6 (next: --page 2)")
    last = invoke(data_dir, "instance", "list", "-w", "ws", "--page-size", "4", "--page", "2")
    assert last.stdout.rstrip().endswith("page 2, 2 of 6")


def test_instance_list_table_shows_dates_and_times_for_people(store: tuple[Path, Flow]) -> None:
    data_dir, flow = store
    result = invoke(data_dir, "instance", "list", "-w", "ws", "--status", "SUCCESS")
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.stdout.splitlines()
            if line.startswith("│")]  # fmt: skip
    a = by_name(flow.ctx, 1)["a"]
    assert rows == [
        [str(a.instance_id), "a", "1", D1, "SUCCESS", human_time(a.begin_running_time),
         human_time(a.finish_time)]
    ]  # fmt: skip
    assert len(human_time(a.finish_time)) == len("2020-01-01 00:00:00")


def test_instance_show_writes_dates_for_people_and_iso_8601_in_json(
    store: tuple[Path, Flow],
) -> None:
    data_dir, flow = store
    a = by_name(flow.ctx, 1)["a"]
    table = invoke(data_dir, "instance", "show", str(a.instance_id)).stdout
    fields = {
        cells[0]: cells[1]
        for cells in ([c.strip() for c in line.split("│")[1:-1]] for line in table.splitlines())
        if len(cells) == 2
    }
    assert fields["bizdate"] == D1
    assert fields["cyc_time"] == human_time(a.cyc_time)
    assert fields["finish_time"] == human_time(a.finish_time)
    # a count, not a time (None, shown empty, for a node without automatic reruns)
    rerun_time = "" if a.task_rerun_time is None else str(a.task_rerun_time)
    assert fields["task_rerun_time"] == rerun_time
    shown = listed(data_dir, "instance", "show", str(a.instance_id))
    assert (shown["bizdate"], shown["finish_time"]) == (D1, iso_time(a.finish_time))
    assert shown["finish_time"][10] == "T" and shown["finish_time"][-6] in "+-"


def test_dag_list_finds_dags_by_workspace_workflow_date_and_status(
    store: tuple[Path, Flow],
) -> None:
    data_dir, _ = store

    def dags(*args: str) -> list[tuple[int, str, str]]:
        page = listed(data_dir, "dag", "list", *args)
        return [(d["op_seq"], d["biz_date"], d["status"]) for d in page["items"]]

    # newest run first, each run's Dags in date order
    assert dags("-w", "ws") == [(2, D3, "CREATED"), (1, D1, "FAILURE"), (1, D2, "CREATED")]
    assert dags("--op-seq", "1") == [(1, D1, "FAILURE"), (1, D2, "CREATED")]
    assert dags("-w", "ws", "--status", "created") == [(2, D3, "CREATED"), (1, D2, "CREATED")]
    assert dags("-w", "ws", "--bizdate", "20200102") == [(1, D2, "CREATED")]
    assert dags("-w", "ws", "--from", D2) == [(2, D3, "CREATED"), (1, D2, "CREATED")]
    assert dags("-w", "ws", "--workflow", "flow", "--to", D1) == [(1, D1, "FAILURE")]
    assert dags("-w", "ws", "--workflow", "nope") == []
    assert dags("-w", "ws", "--env", "Dev") == []
    assert listed(data_dir, "dag", "list", "-w", "ws", "--page-size", "1")["total_count"] == 3


def test_dag_list_asks_for_a_workspace_or_a_run(store: tuple[Path, Flow]) -> None:
    data_dir, _ = store
    neither = invoke(data_dir, "dag", "list")
    assert neither.exit_code == 2
    assert neither.stderr.endswith(
        "Error: Give the workspace (-w IDENTIFIER) or the run (--op-seq N).\n"
    )
    unknown = invoke(data_dir, "dag", "list", "-w", "nope")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "Error: The workspace 'nope' does not exist.\n",
    )
    both = invoke(data_dir, "instance", "list", "-w", "ws", "--bizdate", D1, "--from", D1)
    assert both.exit_code == 2
    assert both.stderr.endswith("Error: Give --bizdate, or --from and/or --to, not both.\n")
    bad_page = invoke(data_dir, "instance", "list", "-w", "ws", "--page", "0")
    assert bad_page.exit_code == 2
    assert "'--page'" in bad_page.stderr
