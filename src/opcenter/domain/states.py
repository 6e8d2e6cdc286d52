"""The state machine of manual instances and Dags (pure; docs/running.md, "Operations").

    NOT_RUN → WAIT_TIME → WAIT_RESOURCE → RUNNING → SUCCESS | FAILURE

An operator operation is allowed only from the states listed in `ALLOWED`; `check_operation`
raises `Conflict("Instance", …)` (code `Invalid.Instance.Status`, HTTP 409) naming the current
status otherwise. `derive_dag_status` says what a Dag's status is given its instances.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opcenter.domain.model import DagStatus, InstanceStatus, TaskType
from opcenter.errors import Conflict

__all__ = [
    "ACTIVE",
    "ALLOWED",
    "InstanceFacts",
    "Operation",
    "RerunMode",
    "blocked_by_failure",
    "check_operation",
    "derive_dag_status",
]

S = InstanceStatus

# States in which an instance is on its way (the engine is working on it).
ACTIVE = frozenset({S.WAIT_TIME, S.WAIT_RESOURCE, S.RUNNING})


class Operation(str, enum.Enum):
    RESTART = "RestartInstance"
    SET_SUCCESS = "SetSuccessInstance"
    STOP = "StopInstance"
    SUSPEND = "SuspendInstance"
    RESUME = "ResumeInstance"


class RerunMode(str, enum.Enum):
    """A node's rerun property (CreateFile `RerunMode`)."""

    ALL_ALLOWED = "ALL_ALLOWED"
    FAILURE_ALLOWED = "FAILURE_ALLOWED"
    ALL_DENIED = "ALL_DENIED"

    @classmethod
    def of(cls, value: str | None) -> RerunMode:
        try:
            return cls(value or cls.ALL_ALLOWED.value)
        except ValueError:
            return cls.ALL_ALLOWED


# The states each operation starts from (docs/running.md). Extra conditions are in check_operation.
ALLOWED: dict[Operation, frozenset[InstanceStatus]] = {
    Operation.RESTART: frozenset({S.FAILURE, S.SUCCESS}),
    Operation.SET_SUCCESS: frozenset({S.FAILURE, S.NOT_RUN}),
    Operation.STOP: frozenset({S.NOT_RUN, S.WAIT_TIME, S.WAIT_RESOURCE, S.RUNNING}),
    Operation.SUSPEND: frozenset({S.NOT_RUN, S.WAIT_TIME, S.WAIT_RESOURCE}),
    Operation.RESUME: frozenset({S.NOT_RUN, S.WAIT_TIME, S.WAIT_RESOURCE}),
}


@dataclass(frozen=True)
class InstanceFacts:
    """What the rules need to know about one instance."""

    instance_id: int
    status: InstanceStatus
    task_type: TaskType = TaskType.MANUAL
    suspended: bool = False
    rerun_mode: RerunMode = RerunMode.ALL_ALLOWED
    blocked_by_failure: bool = False  # some ancestor in the Dag is FAILURE


def _refuse(op: Operation, facts: InstanceFacts, why: str) -> Conflict:
    return Conflict(
        "Instance",
        f"{op.value} is not allowed for InstanceId={facts.instance_id} with status "
        f"{facts.status.value}{why}.",
    )


def check_operation(op: Operation, facts: InstanceFacts) -> None:
    """Raise Conflict unless `op` is allowed for the instance in its current state."""
    status = facts.status
    if status not in ALLOWED[op]:
        raise _refuse(op, facts, "")
    if op is Operation.RESTART:
        if status is S.SUCCESS and facts.task_type.dry_run:
            raise _refuse(op, facts, f": a dry-run instance ({facts.task_type.value}) never ran")
        if facts.rerun_mode is RerunMode.ALL_DENIED:
            raise _refuse(op, facts, ": the node's RerunMode is ALL_DENIED")
        if facts.rerun_mode is RerunMode.FAILURE_ALLOWED and status is S.SUCCESS:
            raise _refuse(op, facts, ": the node's RerunMode is FAILURE_ALLOWED")
    elif op is Operation.SET_SUCCESS:
        if status is S.NOT_RUN and not facts.blocked_by_failure:
            raise _refuse(op, facts, " that is not blocked by a failed upstream instance")
    elif op is Operation.SUSPEND and facts.suspended:
        raise _refuse(op, facts, " (already suspended)")
    elif op is Operation.RESUME and not facts.suspended:
        raise _refuse(op, facts, " (not suspended)")


def blocked_by_failure(
    instance_id: int,
    statuses: Mapping[int, InstanceStatus],
    parents: Mapping[int, Iterable[int]],
) -> bool:
    """True when some ancestor of the instance (within its Dag) is FAILURE."""
    seen: set[int] = set()
    todo = list(parents.get(instance_id, ()))
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if statuses.get(current) is S.FAILURE:
            return True
        todo.extend(parents.get(current, ()))
    return False


def derive_dag_status(
    current: DagStatus,
    instances: Mapping[int, tuple[InstanceStatus, bool]],
    parents: Mapping[int, Iterable[int]],
) -> DagStatus:
    """A started Dag's status from its instances (`id -> (status, suspended)`):
    SUCCESS when every instance succeeded; FAILURE when one failed and nothing else can make
    progress (no instance active, none ready to run); RUNNING otherwise. A Dag not started yet
    (CREATED) stays CREATED. A suspended instance is not progress: it waits for an operator."""
    if current is DagStatus.CREATED:
        return current
    statuses = [s for s, _ in instances.values()]
    if all(s is S.SUCCESS for s in statuses):
        return DagStatus.SUCCESS
    if S.FAILURE not in statuses:
        return DagStatus.RUNNING
    for instance_id, (status, suspended) in instances.items():
        if suspended:
            continue
        if status in ACTIVE:
            return DagStatus.RUNNING
        if status is S.NOT_RUN and all(
            instances[p][0] is S.SUCCESS for p in parents.get(instance_id, ())
        ):
            return DagStatus.RUNNING
    return DagStatus.FAILURE
