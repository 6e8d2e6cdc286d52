"""The state machine of docs/running.md ("Operations"): operations per state, Dag status."""

from __future__ import annotations

import pytest

from opcenter.domain.model import DagStatus, TaskType
from opcenter.domain.model import InstanceStatus as S
from opcenter.domain.states import (
    ALLOWED,
    InstanceFacts,
    Operation,
    RerunMode,
    blocked_by_failure,
    check_operation,
    derive_dag_status,
)
from opcenter.errors import Conflict

ALL = [S.NOT_RUN, S.WAIT_TIME, S.WAIT_RESOURCE, S.RUNNING, S.FAILURE, S.SUCCESS]


def facts(status: S, **kw: object) -> InstanceFacts:
    return InstanceFacts(instance_id=7, status=status, **kw)  # type: ignore[arg-type]


REFUSED = [(op, s) for op in Operation for s in ALL if s not in ALLOWED[op]]


@pytest.mark.parametrize(("op", "status"), REFUSED)
def test_operation_is_refused_with_the_current_status_given_a_state_not_allowed(
    op: Operation, status: S
) -> None:
    with pytest.raises(Conflict) as err:
        check_operation(op, facts(status))
    assert err.value.code == "Invalid.Instance.Status"
    assert err.value.http_status == 409
    assert err.value.message == (
        f"{op.value} is not allowed for InstanceId=7 with status {status.value}."
    )


def test_allowed_states_are_those_of_the_docs() -> None:
    assert ALLOWED == {
        Operation.RESTART: {S.FAILURE, S.SUCCESS},
        Operation.SET_SUCCESS: {S.FAILURE, S.NOT_RUN},
        Operation.STOP: {S.NOT_RUN, S.WAIT_TIME, S.WAIT_RESOURCE, S.RUNNING},
        Operation.SUSPEND: {S.NOT_RUN, S.WAIT_TIME, S.WAIT_RESOURCE},
        Operation.RESUME: {S.NOT_RUN, S.WAIT_TIME, S.WAIT_RESOURCE},
    }


def test_restart_is_refused_given_a_dry_run_that_succeeded() -> None:
    with pytest.raises(Conflict, match="a dry-run instance"):
        check_operation(Operation.RESTART, facts(S.SUCCESS, task_type=TaskType.SKIP))
    check_operation(Operation.RESTART, facts(S.FAILURE, task_type=TaskType.SKIP))


def test_restart_honours_rerun_mode() -> None:
    denied = facts(S.FAILURE, rerun_mode=RerunMode.ALL_DENIED)
    with pytest.raises(Conflict, match="RerunMode is ALL_DENIED"):
        check_operation(Operation.RESTART, denied)
    on_failure = RerunMode.FAILURE_ALLOWED
    check_operation(Operation.RESTART, facts(S.FAILURE, rerun_mode=on_failure))
    with pytest.raises(Conflict, match="FAILURE_ALLOWED"):
        check_operation(Operation.RESTART, facts(S.SUCCESS, rerun_mode=on_failure))


def test_set_success_needs_a_failed_upstream_given_not_run() -> None:
    with pytest.raises(Conflict, match="not blocked by a failed upstream"):
        check_operation(Operation.SET_SUCCESS, facts(S.NOT_RUN))
    check_operation(Operation.SET_SUCCESS, facts(S.NOT_RUN, blocked_by_failure=True))


def test_suspend_and_resume_check_the_frozen_flag() -> None:
    with pytest.raises(Conflict, match="already suspended"):
        check_operation(Operation.SUSPEND, facts(S.NOT_RUN, suspended=True))
    with pytest.raises(Conflict, match="not suspended"):
        check_operation(Operation.RESUME, facts(S.NOT_RUN))


def test_blocked_by_failure_follows_ancestors() -> None:
    parents = {1: [], 2: [1], 3: [2]}
    assert blocked_by_failure(3, {1: S.FAILURE, 2: S.NOT_RUN, 3: S.NOT_RUN}, parents)
    assert not blocked_by_failure(3, {1: S.RUNNING, 2: S.NOT_RUN, 3: S.NOT_RUN}, parents)


CHAIN = {1: [], 2: [1]}


@pytest.mark.parametrize(
    ("instances", "expected"),
    [
        ({1: (S.SUCCESS, False), 2: (S.SUCCESS, False)}, DagStatus.SUCCESS),
        ({1: (S.RUNNING, False), 2: (S.NOT_RUN, False)}, DagStatus.RUNNING),
        ({1: (S.FAILURE, False), 2: (S.NOT_RUN, False)}, DagStatus.FAILURE),
        ({1: (S.SUCCESS, False), 2: (S.FAILURE, False)}, DagStatus.FAILURE),
        ({1: (S.SUCCESS, False), 2: (S.NOT_RUN, True)}, DagStatus.RUNNING),
    ],
)
def test_dag_status_follows_its_instances(
    instances: dict[int, tuple[S, bool]], expected: DagStatus
) -> None:
    assert derive_dag_status(DagStatus.RUNNING, instances, CHAIN) is expected


def test_dag_status_stays_running_given_a_failure_while_others_progress() -> None:
    parents = {1: [], 2: []}
    instances = {1: (S.FAILURE, False), 2: (S.RUNNING, False)}
    assert derive_dag_status(DagStatus.RUNNING, instances, parents) is DagStatus.RUNNING


def test_dag_status_stays_created_given_a_dag_not_started() -> None:
    instances = {1: (S.FAILURE, False), 2: (S.NOT_RUN, False)}
    assert derive_dag_status(DagStatus.CREATED, instances, CHAIN) is DagStatus.CREATED
