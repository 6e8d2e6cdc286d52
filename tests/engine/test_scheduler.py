"""The engine end to end on SQLite and PostgreSQL with real processes: ordering, dry runs,
parameters seen by each node type, states and time stamps, date ranges, timeout and automatic
reruns."""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from opcenter.domain.model import DagStatus, InstanceStatus, TaskType
from opcenter.engine.scheduler import Engine
from opcenter.service.context import ServiceContext
from opcenter.service.instances import list_instances
from opcenter.service.logs import get_instance_log
from opcenter.service.runs import list_dags
from opcenter.store.tables import Instance
from tests.engine.builders import attempt_log, by_name, make_flow, node, run_flow, wait_dag

S = InstanceStatus


def log(ctx: ServiceContext, instance_id: int) -> str:
    return get_instance_log(ctx, instance_id=instance_id, project_env="PROD")


def test_instances_run_in_dependency_order_through_dry_run_nodes(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a chain a -> b -> c where b is excluded (a dry run)
    flow = make_flow(
        ctx,
        [
            node("a", "shell", "sleep 0.2; echo a"),
            node("b", "shell", "echo never", after=["a"]),
            node("c", "shell", "echo c", after=["b"]),
        ],
    )
    # When it runs
    created = run_flow(flow, exclude_node_ids=flow.ids("b"))
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    rows = by_name(ctx, created.dag_id)
    # Then b succeeded only after a, without running, and c ran after b
    assert rows["b"].task_type is TaskType.SKIP
    assert rows["a"].finish_time <= rows["b"].finish_time <= rows["c"].begin_running_time
    assert "Dry run (SKIP): the node's code was not run" in log(ctx, rows["b"].instance_id)
    assert "never" not in log(ctx, rows["b"].instance_id)
    assert "\nc\n" in log(ctx, rows["c"].instance_id)


def test_nodes_outside_include_are_dry_runs(ctx: ServiceContext, engine: Engine) -> None:
    flow = make_flow(ctx, [node("a", "shell", "echo ran-a"), node("b", "shell", "echo ran-b")])
    created = run_flow(flow, include_node_ids=flow.ids("a"))
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    rows = by_name(ctx, created.dag_id)
    assert "ran-a" in log(ctx, rows["a"].instance_id)
    assert "Dry run (SKIP_UNCHOOSE)" in log(ctx, rows["b"].instance_id)
    assert "ran-b" not in log(ctx, rows["b"].instance_id)


def test_every_state_is_stamped_in_order(ctx: ServiceContext, engine: Engine) -> None:
    flow = make_flow(ctx, [node("a", "shell", "sleep 0.1")])
    created = run_flow(flow)
    wait_dag(ctx, created.dag_id)
    a = by_name(ctx, created.dag_id)["a"]
    assert a.status is S.SUCCESS
    assert a.create_time <= a.begin_wait_time_time <= a.begin_wait_res_time
    assert a.begin_wait_res_time <= a.begin_running_time
    assert a.finish_time - a.begin_running_time >= 100
    assert a.attempt == 1


def test_each_node_type_sees_its_parameters(ctx: ServiceContext, engine: Engine) -> None:
    flow = make_flow(
        ctx,
        [
            node(
                "sh", "shell", 'echo "sh ${d} ${region} $1 $2 ${HOME_X}"', params="d=$bizdate p1 p2"
            ),
            node(
                "py",
                "python",
                "import sys\nprint('py', '${d}', '${region}', sys.argv[1:])",
                params="d=${yyyy-mm-dd} first",
            ),
            node(
                "sql",
                "sql",
                "create table t_${d} (r text); insert into t_${d} values ('${region}');"
                " select '${d}' as d, r from t_${d};",
                params="d=$cyctime",
            ),
        ],
        parameters="region=cn",
    )
    created = run_flow(flow, dag_parameters=json.dumps({"region": "us"}))
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    day = created.biz_dates[0]
    rows = by_name(ctx, created.dag_id)
    ymd = day.strftime("%Y%m%d")
    sh = log(ctx, rows["sh"].instance_id)
    assert f"sh {ymd} us p1 p2 \n" in sh  # ${HOME_X} was left to the shell
    assert f"Parameters: d={ymd} p1 p2 region=us" in sh
    assert "WARNING: undefined parameter(s) left as written: ${HOME_X}" in sh
    assert f"py {day.isoformat()} us ['first']" in log(ctx, rows["py"].instance_id)
    # The SQL's own output, not the log header: its result row, and the table it created
    cyctime = day.fromordinal(day.toordinal() + 1).strftime("%Y%m%d") + "000000"
    sql_lines = log(ctx, rows["sql"].instance_id).splitlines()
    assert (
        sql_lines[sql_lines.index("[sql] result of statement 3: 1 row(s)") + 3] == f"{cyctime} | us"
    )
    with sqlite3.connect(ctx.settings.data_dir / "sql" / "ws_PROD" / "ws_PROD.db") as made:
        names = made.execute("select name from sqlite_master where type = 'table'").fetchall()
    assert names == [(f"t_{cyctime}",)]


def test_sql_nodes_use_a_sqlite_file_per_workspace_and_env(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(
        ctx,
        [
            node("make", "sql", "create table t (x int); insert into t values (41);"),
            node("read", "sql", "select x + 1 as answer from t;", after=["make"]),
        ],
    )
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    assert (ctx.settings.data_dir / "sql" / "ws_PROD" / "ws_PROD.db").is_file()
    assert "42" in log(ctx, by_name(ctx, created.dag_id)["read"].instance_id)


def test_a_failure_keeps_descendants_not_run_and_fails_the_dag(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(
        ctx,
        [
            node("bad", "shell", "echo oops; exit 3"),
            node("after", after=["bad"]),
            node("side", "shell", "sleep 0.3"),
        ],
    )
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    rows = by_name(ctx, created.dag_id)
    assert (rows["bad"].status, rows["after"].status, rows["side"].status) == (
        S.FAILURE,
        S.NOT_RUN,
        S.SUCCESS,
    )
    assert "exit code 3" in log(ctx, rows["bad"].instance_id)


def test_dates_of_a_range_run_one_after_another(ctx: ServiceContext, engine: Engine) -> None:
    flow = make_flow(ctx, [node("a", "shell", "sleep 0.05"), node("b", after=["a"])])
    created = run_flow(
        flow, start_biz_date="2020-01-01 00:00:00", end_biz_date="2020-01-04 00:00:00"
    )
    wait_dag(ctx, created.dag_ids[-1])
    dags = list_dags(ctx, op_seq=created.op_seq, project_env="PROD")
    assert [d.status for d in dags] == [DagStatus.SUCCESS] * 4
    for earlier, later in itertools.pairwise(dags):
        assert earlier.finish_time <= later.start_time


def test_a_failed_date_holds_the_later_dates(ctx: ServiceContext, engine: Engine) -> None:
    flow = make_flow(ctx, [node("a", "shell", 'test "${d}" != 20200102', params="d=$bizdate")])
    created = run_flow(
        flow, start_biz_date="2020-01-01 00:00:00", end_biz_date="2020-01-03 00:00:00"
    )
    wait_dag(ctx, created.dag_ids[1])
    dags = list_dags(ctx, op_seq=created.op_seq, project_env="PROD")
    assert [d.status for d in dags] == [DagStatus.SUCCESS, DagStatus.FAILURE, DagStatus.CREATED]
    third = by_name(ctx, created.dag_ids[2])["a"]
    assert (third.status, third.begin_wait_time_time) == (S.NOT_RUN, None)


def test_a_node_timeout_fails_the_instance(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    flow = make_flow(ctx, [node("slow", "shell", "sleep 30", timeout=1)])
    created = run_flow(flow)
    slow = by_name(ctx, created.dag_id)["slow"]
    # Timeout is in hours (1 h = 3600 s); shorten this instance's limit to keep the test fast.
    with ctx.db.transaction() as session:
        assert session.get(Instance, slow.instance_id).timeout_seconds == 3600  # type: ignore[union-attr]
        session.get(Instance, slow.instance_id).timeout_seconds = 1  # type: ignore[union-attr]
    start_engine(ctx)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    assert "timed out after 1" in log(ctx, slow.instance_id)


def test_auto_rerun_retries_a_failure_with_a_new_attempt(
    ctx: ServiceContext, engine: Engine
) -> None:
    marker = ctx.settings.data_dir / "tries"
    flow = make_flow(
        ctx,
        [
            node(
                "flaky",
                "shell",
                f'echo x >> {marker}; test "$(wc -l < {marker})" -ge 3',
                auto_rerun_times=3,
                auto_rerun_interval_millis=100,
            )
        ],
    )
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    flaky = by_name(ctx, created.dag_id)["flaky"]
    assert (flaky.attempt, flaky.task_rerun_time) == (3, 1)
    first = attempt_log(ctx, flaky.instance_id, 1)
    assert "exit code 1" in first and "An automatic rerun starts in 0.1 s." in first
    assert "attempt 3" in log(ctx, flaky.instance_id)


def test_auto_rerun_gives_up_after_its_count(ctx: ServiceContext, engine: Engine) -> None:
    flow = make_flow(
        ctx, [node("bad", "shell", "exit 1", auto_rerun_times=1, auto_rerun_interval_millis=0)]
    )
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    bad = by_name(ctx, created.dag_id)["bad"]
    assert (bad.status, bad.attempt, bad.task_rerun_time) == (S.FAILURE, 2, 0)


def test_work_created_by_another_process_is_picked_up_by_polling(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    # Given a second context on the same store, as another process would have: no notify hook
    other = ServiceContext(db=ctx.db, settings=ctx.settings)
    start_engine(ctx)
    flow = make_flow(other, [node("a")])
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id, timeout=5) is DagStatus.SUCCESS


def test_unfinished_work_is_resumed_by_a_new_engine(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    flow = make_flow(ctx, [node("a"), node("b", after=["a"])])
    created = run_flow(flow)  # no engine yet: stays CREATED
    assert list_dags(ctx, op_seq=created.op_seq, project_env="PROD")[0].status is DagStatus.CREATED
    start_engine(ctx)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS


def test_list_instances_filters_by_dag_and_status(ctx: ServiceContext, engine: Engine) -> None:
    # Given two runs of one flow, each with a success and a failure
    flow = make_flow(ctx, [node("a"), node("b", "shell", "exit 1")])
    first, second = run_flow(flow), run_flow(flow)
    assert wait_dag(ctx, first.dag_id) is wait_dag(ctx, second.dag_id) is DagStatus.FAILURE

    def listed(**filters: object) -> list[tuple[int, str, S]]:
        page = list_instances(ctx, project_env="PROD", project_id=flow.project_id, **filters)
        assert page.total_count == len(page.instances)
        return sorted((i.dag_id, i.node_name, i.status) for i in page.instances)

    # Then each filter keeps exactly its instances, and both together keep their intersection
    assert listed(dag_id=first.dag_id) == [
        (first.dag_id, "a", S.SUCCESS),
        (first.dag_id, "b", S.FAILURE),
    ]
    assert listed(status="FAILURE") == [
        (first.dag_id, "b", S.FAILURE),
        (second.dag_id, "b", S.FAILURE),
    ]
    assert listed(dag_id=second.dag_id, status="FAILURE") == [(second.dag_id, "b", S.FAILURE)]


def test_a_run_fails_then_succeeds_after_set_success_on_each_backend(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    # The same engine path on SQLite and PostgreSQL.
    from opcenter.service.instances import set_success_instance

    start_engine(ctx)
    flow = make_flow(
        ctx, [node("a", "shell", "exit 2"), node("b", "python", "print('b')", after=["a"])]
    )
    created = run_flow(
        flow, start_biz_date="2020-01-01 00:00:00", end_biz_date="2020-01-02 00:00:00"
    )
    assert wait_dag(ctx, created.dag_ids[0]) is DagStatus.FAILURE
    a = by_name(ctx, created.dag_ids[0])["a"]
    set_success_instance(ctx, instance_id=a.instance_id, project_env="PROD")
    assert wait_dag(ctx, created.dag_ids[0]) is DagStatus.SUCCESS
    assert wait_dag(ctx, created.dag_ids[1]) is DagStatus.FAILURE
    assert "b\n" in log(ctx, by_name(ctx, created.dag_ids[0])["b"].instance_id)


def test_a_watch_fires_once_the_dags_end_is_committed(ctx: ServiceContext, engine: Engine) -> None:
    # Given a watch on a run's Dag (a shell node, so the Dag is still running when watched)
    flow = make_flow(ctx, [node("a", "shell", "sleep 0.3"), node("b", after=["a"])])
    created = run_flow(flow)
    done = engine.watch(created.dag_id)
    # When the engine finishes it, the event fires, and the store already says SUCCESS
    assert done.wait(15)
    dags = list_dags(ctx, op_seq=created.op_seq, project_env="PROD")
    assert [d.status for d in dags] == [DagStatus.SUCCESS]
    # and a watch on another Dag is left alone
    other = engine.watch(created.dag_id + 1000)
    assert not other.is_set()


def test_the_engine_thread_is_named_in_the_operating_system(engine: Engine) -> None:
    # Given a running engine, its thread carries the name `opcenter-engine` for the OS too
    # (what `top -H` shows, and how a benchmark tells the engine's CPU from the requests').
    # The thread names itself once it runs, which may be just after start() returned: the
    # names are read until it shows (bounded).
    def names() -> set[str]:
        found = set()
        for comm in Path("/proc/self/task").glob("*/comm"):
            try:
                found.add(comm.read_text().strip())
            except OSError:
                continue
        return found

    deadline = time.monotonic() + 10
    while "opcenter-engine" not in names() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "opcenter-engine" in names()
