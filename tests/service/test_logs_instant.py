"""The logs of attempts the engine finishes without a process (virtual nodes, dry runs): no
file is written; the log is made on read from the store, the same line the engine wrote into a
file before (`<finish time> [opcenter] <text>`), on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from opcenter.domain.model import DagStatus, TaskType
from opcenter.engine.paths import log_path
from opcenter.engine.scheduler import Engine
from opcenter.service import logs
from opcenter.service.context import ServiceContext
from opcenter.service.history import list_instance_history
from opcenter.service.instances import restart_instance
from opcenter.store.tables import Instance
from tests.engine.builders import by_name, make_flow, node, run_flow, wait_dag, wait_for

PROD = "PROD"
# The lines dispatch.write_instant_logs wrote into each file before logs were made on read.
VIRTUAL = "Virtual node: nothing to run; the instance succeeded as soon as its upstream did."
SKIP = (
    "Dry run (SKIP): the node's code was not run; the instance succeeded as soon as its "
    "upstream did."
)


@pytest.fixture
def engine(ctx: ServiceContext, start_engine: Callable[..., Engine]) -> Engine:
    return start_engine(ctx)


def _line(finished_ms: int, text: str) -> str:
    stamp = datetime.fromtimestamp(finished_ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} [opcenter] {text}\n"


def _log_files(ctx: ServiceContext) -> set[Path]:
    return set((ctx.settings.data_dir / "logs").rglob("*.log"))


def _flow_run(ctx: ServiceContext) -> dict:  # type: ignore[type-arg]
    flow = make_flow(
        ctx,
        [
            node("a", "shell", "echo ran-a"),
            node("v", after=["a"]),
            node("d", "shell", "echo never", after=["v"]),
        ],
    )
    dag_id = run_flow(flow, exclude_node_ids=flow.ids("d")).dag_id
    assert wait_dag(ctx, dag_id) is DagStatus.SUCCESS
    return by_name(ctx, dag_id)


def test_virtual_and_dry_run_attempts_write_no_file_and_read_as_before(
    ctx: ServiceContext, engine: Engine
) -> None:
    rows = _flow_run(ctx)
    a, v, d = rows["a"], rows["v"], rows["d"]
    assert d.task_type is TaskType.SKIP
    files = _log_files(ctx)
    assert files == {log_path(ctx.settings.data_dir, a.dag_id, a.instance_id, 1)}
    for inst, text in ((v, VIRTUAL), (d, SKIP)):
        expected = _line(inst.finish_time, text)
        got = logs.get_instance_log(ctx, instance_id=inst.instance_id, project_env=PROD)
        assert got == expected
        page = logs.read_instance_log(ctx, instance_id=inst.instance_id, project_env=PROD)
        assert (page.text, page.attempt, page.size) == (expected, 1, len(expected))
        part = logs.read_instance_log(
            ctx, instance_id=inst.instance_id, project_env=PROD, offset=20, limit=9
        )
        assert (part.text, part.next_offset) == (expected[20:29], 29)
        assert (
            logs.read_instance_log(
                ctx, instance_id=inst.instance_id, project_env=PROD, limit=10, tail=True
            ).text
            == expected[-10:]
        )
    assert "ran-a" in logs.get_instance_log(ctx, instance_id=a.instance_id, project_env=PROD)


def test_each_attempt_of_a_rerun_virtual_instance_reads_its_own_line(
    ctx: ServiceContext, engine: Engine
) -> None:
    rows = _flow_run(ctx)
    a, v = rows["a"], rows["v"]
    first = logs.get_instance_log(ctx, instance_id=v.instance_id, project_env=PROD)
    assert restart_instance(ctx, instance_id=v.instance_id, project_env=PROD)
    wait_for(lambda: by_name(ctx, v.dag_id)["v"].attempt == 2 or None)
    wait_dag(ctx, v.dag_id)
    history = {
        h.attempt: h
        for h in list_instance_history(ctx, instance_id=v.instance_id, project_env=PROD)
    }
    for number in (1, 2):
        page = logs.read_instance_log(
            ctx, instance_id=v.instance_id, project_env=PROD, attempt=number
        )
        assert page.text == _line(history[number].finish_time, VIRTUAL)
    assert (
        logs.read_instance_log(ctx, instance_id=v.instance_id, project_env=PROD, attempt=1).text
        == first
    )
    assert _log_files(ctx) == {log_path(ctx.settings.data_dir, a.dag_id, a.instance_id, 1)}


def test_a_file_written_for_such_an_attempt_is_read_as_it_is(
    ctx: ServiceContext, engine: Engine
) -> None:
    v = _flow_run(ctx)["v"]
    path = log_path(ctx.settings.data_dir, v.dag_id, v.instance_id, 1)
    path.write_text("2026-01-02 03:04:05 [opcenter] written by an older opcenter\n")
    got = logs.get_instance_log(ctx, instance_id=v.instance_id, project_env=PROD)
    assert got == path.read_text()


def test_a_shell_attempt_that_has_not_written_reads_empty(
    ctx: ServiceContext, engine: Engine
) -> None:
    a = _flow_run(ctx)["a"]
    log_path(ctx.settings.data_dir, a.dag_id, a.instance_id, 1).unlink()
    assert logs.get_instance_log(ctx, instance_id=a.instance_id, project_env=PROD) == ""
    with ctx.db.transaction(readonly=True) as session:
        assert session.get(Instance, a.instance_id).task_type == "MANUAL"
