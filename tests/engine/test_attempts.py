"""Attempts (issue 12): each attempt's row (its id is the InstanceHistoryId), ListInstanceHistory
and GetInstanceLog by history id, ErrorMessage for each way an attempt fails, PAUSE for a
suspended instance, TaskRerunTime, the log header's version line, and rerunning with the latest
deployed version; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from opcenter.domain.model import DagStatus, InstanceStatus, TaskType
from opcenter.engine.scheduler import Engine
from opcenter.errors import Conflict, NotFound
from opcenter.runners.base import InstanceSpec
from opcenter.runners.local import LocalExecutor
from opcenter.service import deployments, files
from opcenter.service import instances as ops
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.history import list_instance_history
from opcenter.service.logs import get_instance_log, read_instance_log
from opcenter.service.run_views import AttemptView
from opcenter.store.tables import FileVersion, Instance, InstanceAttempt, NodeRelease
from tests.engine.builders import (
    attempt_log,
    by_name,
    make_flow,
    node,
    run_flow,
    wait_dag,
    wait_for,
)

S = InstanceStatus
PROD = "PROD"
# Fails on its first attempt, succeeds on the next (the engine numbers attempts for the job).
FLAKY = 'test "$OPCENTER_ATTEMPT" -ge 2 || exit 3'


def history(ctx: ServiceContext, instance_id: int) -> list[AttemptView]:
    return list_instance_history(ctx, instance_id=instance_id, project_env=PROD)


def status_of(ctx: ServiceContext, instance_id: int) -> S:
    return ops.get_instance(ctx, instance_id=instance_id, project_env=PROD).status


# --- attempt rows ---------------------------------------------------------------------------


def test_every_attempt_is_listed_with_its_own_id_and_how_it_ended(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a node that fails once and is rerun automatically, a virtual node and a dry run
    flow = make_flow(
        ctx,
        [
            node("flaky", "shell", FLAKY, auto_rerun_times=2, auto_rerun_interval_millis=0),
            node("v", after=["flaky"]),
            node("skipped", "shell", "exit 9", after=["v"]),
        ],
    )
    created = run_flow(flow, exclude_node_ids=flow.ids("skipped"))
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    rows = by_name(ctx, created.dag_id)
    flaky = rows["flaky"]
    # Then the flaky instance has two attempts, each with its own InstanceHistoryId
    attempts = history(ctx, flaky.instance_id)
    assert [(a.attempt, a.status, a.error_message) for a in attempts] == [
        (1, S.FAILURE, "exit code 3"),
        (2, S.SUCCESS, ""),
    ]
    assert all(a.recorded and a.version_id == flaky.version_id for a in attempts)
    assert attempts[0].instance_history_id < attempts[1].instance_history_id
    first, second = attempts
    assert first.begin_running_time is not None and first.finish_time is not None
    assert first.finish_time <= second.begin_running_time <= second.finish_time  # type: ignore[operator]
    assert (second.finish_time, second.status) == (flaky.finish_time, flaky.status)
    # and GetInstanceLog reads each attempt by its id
    assert "attempt 1" in attempt_log(ctx, flaky.instance_id, 1)
    assert "exit code 3" in attempt_log(ctx, flaky.instance_id, 1)
    assert "exit code 0" in attempt_log(ctx, flaky.instance_id, 2)
    # and the instances that finished inside the engine have their one attempt too
    for name, task_type in (("v", TaskType.MANUAL), ("skipped", TaskType.SKIP)):
        (only,) = history(ctx, rows[name].instance_id)
        assert (only.attempt, only.status, only.task_type, only.recorded) == (
            1,
            S.SUCCESS,
            task_type,
            True,
        )
        assert only.begin_running_time == only.finish_time == rows[name].finish_time


def test_an_attempt_history_id_of_another_instance_is_refused(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(ctx, [node("a", "shell", "echo a"), node("b", "shell", "echo b", after=["a"])])
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    a, b = (by_name(ctx, created.dag_id)[n].instance_id for n in ("a", "b"))
    (a_attempt,) = history(ctx, a)
    (b_attempt,) = history(ctx, b)
    assert a_attempt.instance_history_id != b_attempt.instance_history_id
    # The id of a's attempt, an unknown id, and b's attempt number when it is not its id
    refused = {a_attempt.instance_history_id, 987654321}
    if b_attempt.instance_history_id != 1:
        refused.add(1)
    for wrong in sorted(refused):
        with pytest.raises(NotFound) as caught:
            get_instance_log(ctx, instance_id=b, project_env=PROD, instance_history_id=wrong)
        assert (caught.value.code, caught.value.message) == (
            "Invalid.InstanceHistory.NotExists",
            f"InstanceHistoryId={wrong} is not an attempt of the instance InstanceId={b} in "
            "PROD (ListInstanceHistory lists its attempts).",
        )
    assert "echo b" not in get_instance_log(
        ctx, instance_id=b, project_env=PROD, instance_history_id=b_attempt.instance_history_id
    )
    # An unknown instance, or one of the other environment
    with pytest.raises(NotFound) as unknown:
        list_instance_history(ctx, instance_id=b, project_env="DEV")
    assert unknown.value.code == "Invalid.Instance.NotExists"


def test_attempts_of_before_attempt_rows_are_rebuilt_and_readable_by_number(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given an instance that ran twice (a failure, an automatic rerun) before opcenter kept
    # attempt rows (a store upgraded to 0005: its history has none)
    flow = make_flow(
        ctx, [node("old", "shell", FLAKY, auto_rerun_times=1, auto_rerun_interval_millis=0)]
    )
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    old = by_name(ctx, created.dag_id)["old"]
    with ctx.db.transaction() as session:
        session.execute(sa.delete(InstanceAttempt))
    # Then ListInstanceHistory rebuilds both: the latest from the instance, the first from the
    # end of its log; their InstanceHistoryId is the attempt number
    rebuilt = history(ctx, old.instance_id)
    assert [
        (a.instance_history_id, a.attempt, a.status, a.error_message, a.recorded) for a in rebuilt
    ] == [(1, 1, S.FAILURE, "exit code 3", False), (2, 2, S.SUCCESS, "", False)]
    assert (rebuilt[1].begin_running_time, rebuilt[1].finish_time) == (
        old.begin_running_time,
        old.finish_time,
    )
    assert rebuilt[0].finish_time is None  # not recorded anywhere
    # and GetInstanceLog accepts those numbers for that instance
    first = get_instance_log(
        ctx, instance_id=old.instance_id, project_env=PROD, instance_history_id=1
    )
    assert "attempt 1" in first and "exit code 3" in first
    # When it runs again now, the new attempt has its row, and the old ones stay listed
    ops.restart_instance(ctx, instance_id=old.instance_id, project_env=PROD)
    wait_for(
        lambda: status_of(ctx, old.instance_id) is S.SUCCESS
        and len(history(ctx, old.instance_id)) == 3
    )
    after = history(ctx, old.instance_id)
    assert [(a.attempt, a.recorded) for a in after] == [(1, False), (2, False), (3, True)]
    assert after[2].instance_history_id > 0
    assert "attempt 3" in attempt_log(ctx, old.instance_id, 3)


# --- ErrorMessage ---------------------------------------------------------------------------


class RefusingExecutor(LocalExecutor):
    """The real LocalExecutor, whose hand-over of the named instances raises."""

    def __init__(self, slots: int, refuse: set[int]) -> None:
        super().__init__(slots, stop_grace_seconds=0.5)
        self.refuse = refuse

    def submit(self, spec: InstanceSpec) -> None:
        if spec.instance_id in self.refuse:
            raise RuntimeError("no worker will take it")
        super().submit(spec)


def test_error_message_says_why_each_attempt_failed(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    # Given nodes that exit 5, time out, and are stopped while running
    flow = make_flow(
        ctx,
        [
            node("exits", "shell", "exit 5"),
            node("slow", "shell", "sleep 30"),
            node("stopped", "shell", "sleep 30"),
        ],
    )
    created = run_flow(flow)
    rows = by_name(ctx, created.dag_id)
    with ctx.db.transaction() as session:  # Timeout is in hours: make this one 1 s
        session.get(Instance, rows["slow"].instance_id).timeout_seconds = 1  # type: ignore[union-attr]
    ids = {name: i.instance_id for name, i in rows.items()}
    start_engine(ctx, 3)
    wait_for(lambda: status_of(ctx, ids["stopped"]) is S.RUNNING)
    ops.stop_instance(ctx, instance_id=ids["stopped"], project_env=PROD, caller=Caller("alice"))
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    expected = {
        "exits": "exit code 5",
        "slow": "timed out after 1 s",
        "stopped": "Stopped by alice.",
    }
    for name, message in expected.items():
        view = ops.get_instance(ctx, instance_id=ids[name], project_env=PROD)
        assert (view.status, view.error_message) == (S.FAILURE, message), name
        (attempt,) = history(ctx, ids[name])
        assert (attempt.status, attempt.error_message) == (S.FAILURE, message), name


def test_error_message_of_a_refused_hand_over_and_a_stop_while_waiting(
    ctx: ServiceContext, start_engine: Callable[..., Engine]
) -> None:
    # Given one slot, held by a long job (the lower instance id goes first), a node waiting for
    # it, and a node after that one which the executor refuses
    flow = make_flow(
        ctx,
        [
            node("hold", "shell", "sleep 30"),
            node("waits", "shell", "echo never"),
            node("refused", "shell", "echo never", after=["waits"]),
        ],
    )
    created = run_flow(flow)
    ids = {n: i.instance_id for n, i in by_name(ctx, created.dag_id).items()}
    start_engine(ctx, executor=RefusingExecutor(1, refuse={ids["refused"]}))
    wait_for(
        lambda: (status_of(ctx, ids["hold"]), status_of(ctx, ids["waits"]))
        == (S.RUNNING, S.WAIT_RESOURCE)
    )
    # When the waiting one is stopped while it waits for the slot
    ops.stop_instance(ctx, instance_id=ids["waits"], project_env=PROD, caller=Caller("bob"))
    # Then its attempt is listed: it never ran, and says who stopped it (its log too)
    (stopped,) = history(ctx, ids["waits"])
    assert (stopped.status, stopped.error_message, stopped.begin_running_time) == (
        S.FAILURE,
        "Stopped by bob.",
        None,
    )
    assert "Stopped by bob." in attempt_log(ctx, ids["waits"], 1)
    ops.stop_instance(ctx, instance_id=ids["hold"], project_env=PROD, caller=Caller("bob"))
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    # And a hand-over the executor refuses says "cannot start: <reason>"
    ops.set_success_instance(ctx, instance_id=ids["waits"], project_env=PROD)
    wait_for(lambda: status_of(ctx, ids["refused"]) is S.FAILURE)
    refused = ops.get_instance(ctx, instance_id=ids["refused"], project_env=PROD)
    assert refused.error_message == "cannot start: no worker will take it"
    (attempt,) = history(ctx, ids["refused"])
    assert (attempt.status, attempt.error_message) == (S.FAILURE, refused.error_message)


def test_an_automatic_rerun_keeps_the_failure_until_it_starts(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(
        ctx, [node("later", "shell", FLAKY, auto_rerun_times=1, auto_rerun_interval_millis=60_000)]
    )
    created = run_flow(flow)
    later = by_name(ctx, created.dag_id)["later"].instance_id
    wait_for(lambda: status_of(ctx, later) is S.WAIT_TIME)
    view = ops.get_instance(ctx, instance_id=later, project_env=PROD)
    # the failed attempt's reason, while the rerun is due; TaskRerunTime counts the rerun to come
    assert (view.error_message, view.task_rerun_time) == ("exit code 3", 1)
    ops.stop_instance(ctx, instance_id=later, project_env=PROD)
    assert [(a.status, a.error_message) for a in history(ctx, later)] == [
        (S.FAILURE, "exit code 3")
    ]


# --- PAUSE, TaskRerunTime --------------------------------------------------------------------


def test_a_suspended_instance_shows_task_type_pause(ctx: ServiceContext, engine: Engine) -> None:
    flow = make_flow(ctx, [node("first", "shell", "sleep 30"), node("next", after=["first"])])
    created = run_flow(flow)
    ids = {n: i.instance_id for n, i in by_name(ctx, created.dag_id).items()}
    wait_for(lambda: status_of(ctx, ids["first"]) is S.RUNNING)
    ops.suspend_instance(ctx, instance_id=ids["next"], project_env=PROD)
    suspended = ops.get_instance(ctx, instance_id=ids["next"], project_env=PROD)
    assert (suspended.status, suspended.task_type, suspended.suspended) == (
        S.NOT_RUN,
        TaskType.PAUSE,
        True,
    )
    assert by_name(ctx, created.dag_id)["next"].task_type is TaskType.PAUSE
    ops.resume_instance(ctx, instance_id=ids["next"], project_env=PROD)
    assert ops.get_instance(ctx, instance_id=ids["next"], project_env=PROD).task_type is (
        TaskType.MANUAL
    )
    ops.stop_instance(ctx, instance_id=ids["first"], project_env=PROD)


def test_task_rerun_time_counts_the_runs_left(ctx: ServiceContext, engine: Engine) -> None:
    flow = make_flow(
        ctx,
        [
            node("fails", "shell", "exit 1", auto_rerun_times=2, auto_rerun_interval_millis=0),
            node("waits", "shell", "echo", after=["fails"], auto_rerun_times=2),
            node("plain", "shell", "echo"),
            node("denied", "shell", "echo", auto_rerun_times=2, rerun_mode="ALL_DENIED"),
        ],
    )
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    rows = by_name(ctx, created.dag_id)
    # Empty: no automatic rerun configured; 0: it cannot be rerun (denied, or used up); a
    # NOT_RUN instance: AutoRerunTimes + 1 (its first run included)
    assert {n: (i.attempt, i.task_rerun_time) for n, i in rows.items()} == {
        "fails": (3, 0),
        "waits": (0, 3),
        "plain": (1, None),
        "denied": (1, 0),
    }
    # RestartInstance starts the count again
    ops.restart_instance(ctx, instance_id=rows["fails"].instance_id, project_env=PROD)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    again = ops.get_instance(ctx, instance_id=rows["fails"].instance_id, project_env=PROD)
    assert (again.attempt, again.task_rerun_time) == (6, 0)


# --- what an attempt runs: the log header, rerun with the latest version -----------------------


def _version(ctx: ServiceContext, version_id: int) -> tuple[int, str]:
    with ctx.db.transaction(readonly=True) as session:
        row = session.get(FileVersion, version_id)
        assert row is not None
        return row.version, row.name


def test_each_attempt_log_names_the_version_and_deployment_it_runs(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(ctx, [node("job", "shell", "echo ran")])
    prod = run_flow(flow)
    dev = run_flow(flow, env="DEV")
    assert wait_dag(ctx, prod.dag_id) is DagStatus.SUCCESS
    assert wait_dag(ctx, dev.dag_id, env="DEV") is DagStatus.SUCCESS
    for created, env, verb in ((prod, "PROD", "deploy"), (dev, "DEV", "submit")):
        job = by_name(ctx, created.dag_id, env)["job"]
        dep = _deployment(ctx, job.version_id, env)  # type: ignore[arg-type]
        log = read_instance_log(ctx, instance_id=job.instance_id, project_env=env).text
        assert (
            f"Code: file job version 1 (FileVersionId {job.version_id}), released to {env} by "
            f"deployment {dep} ({verb} job v1)"
        ) in log.splitlines()[1]


def _deployment(ctx: ServiceContext, version_id: int, env: str) -> int:
    from opcenter.store.tables import Deployment

    with ctx.db.transaction(readonly=True) as session:
        found = session.scalar(
            sa.select(sa.func.max(Deployment.id)).where(
                Deployment.version_id == version_id, Deployment.to_env == env
            )
        )
        assert found is not None
        return int(found)


def test_rerun_with_the_latest_version_runs_the_fix_with_the_run_parameters(
    ctx: ServiceContext, engine: Engine
) -> None:
    # Given a node that fails in version 1, run with DagParameters and NodeParameters
    flow = make_flow(
        ctx,
        [node("fix", "shell", "exit 1", params="p=deployed1 d=$bizdate")],
        parameters="w=workflow",
    )
    node_id = flow.id("fix")
    created = run_flow(
        flow,
        dag_parameters=json.dumps({"w": "dag"}),
        node_parameters=json.dumps({str(node_id): "p=run"}),
    )
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    first = by_name(ctx, created.dag_id)["fix"]
    bizdate = created.biz_dates[0].strftime("%Y%m%d")
    assert first.param_values == f"p=run d={bizdate} w=dag"
    # When the file is fixed, with a new parameter, and deployed (version 2)
    files.update_file(
        ctx,
        project_id=flow.project_id,
        file_id=flow.file_ids["fix"],
        content='echo "p=${p} q=${q} w=${w} d=${d}"',
        para_value="p=deployed2 q=new d=$bizdate",
    )
    deployments.submit_file(ctx, project_id=flow.project_id, file_id=flow.file_ids["fix"])
    deployments.deploy_file(ctx, project_id=flow.project_id, file_id=flow.file_ids["fix"])
    # Then a plain rerun runs version 1 again (and its log says so)
    ops.restart_instance(ctx, instance_id=first.instance_id, project_env=PROD)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    assert "Code: file fix version 1 " in attempt_log(ctx, first.instance_id, 2)
    # and a rerun with the latest version runs version 2: the run's own parameters are kept
    # (NodeParameters p, DagParameters w), the new definitions apply (q), dates are the run's
    ops.restart_instance(ctx, instance_id=first.instance_id, project_env=PROD, use_latest=True)
    assert wait_dag(ctx, created.dag_id) is DagStatus.SUCCESS
    fixed = by_name(ctx, created.dag_id)["fix"]
    assert fixed.version_id != first.version_id
    assert _version(ctx, fixed.version_id) == (2, "fix")  # type: ignore[arg-type]
    assert fixed.param_values == f"p=run q=new d={bizdate} w=dag"
    log = attempt_log(ctx, first.instance_id, 3)
    assert "Code: file fix version 2 " in log
    assert f"p=run q=new w=dag d={bizdate}" in log
    # and its history says which version each attempt ran
    assert [a.version_id for a in history(ctx, first.instance_id)] == [
        first.version_id,
        first.version_id,
        fixed.version_id,
    ]


def test_rerun_with_the_latest_version_is_refused_given_no_version_deployed(
    ctx: ServiceContext, engine: Engine
) -> None:
    flow = make_flow(ctx, [node("gone", "shell", "exit 1")])
    created = run_flow(flow)
    assert wait_dag(ctx, created.dag_id) is DagStatus.FAILURE
    gone = by_name(ctx, created.dag_id)["gone"]
    with ctx.db.transaction() as session:
        session.execute(
            sa.update(NodeRelease)
            .where(NodeRelease.node_id == gone.node_id, NodeRelease.env == PROD)
            .values(offline_at=1)
        )
    with pytest.raises(Conflict) as refused:
        ops.restart_instance(ctx, instance_id=gone.instance_id, project_env=PROD, use_latest=True)
    assert (refused.value.code, refused.value.message) == (
        "Invalid.Instance.Status",
        f"RestartInstance with UseLatestConfig: the node NodeId={gone.node_id} of "
        f"InstanceId={gone.instance_id} has no version deployed in PROD.",
    )
    assert status_of(ctx, gone.instance_id) is S.FAILURE  # nothing changed
