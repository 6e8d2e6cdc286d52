"""The state machine of manual instances and Dags (pure; docs/running.md, "Operations").

    NOT_RUN → WAIT_TIME → WAIT_RESOURCE → RUNNING → SUCCESS | FAILURE

An operator operation is allowed only from the states listed in `ALLOWED`; `refusal` says why
not (a `Refusal`: a stable reason code and the API's wording), `check_operation` raises it as
`Conflict("Instance", …)` (code `Invalid.Instance.Status`, HTTP 409) naming the current status.
`rerun_downstream_plan` decides a rerun with downstream, and `action_refusals` answers, per
`Action` the page and the CLI offer, from these same rules. `derive_dag_status` says what a
Dag's status is given its instances.
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
    "Action",
    "InstanceFacts",
    "Operation",
    "Refusal",
    "RerunMode",
    "action_refusals",
    "blocked_by_failure",
    "check_operation",
    "derive_dag_status",
    "refusal",
    "rerun_downstream_plan",
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


@dataclass(frozen=True)
class Refusal:
    """Why an operation is not allowed: a `reason` code (stable, for translated messages), the
    English clause of the API's message (`why`), and the instance it concerns (for a rerun with
    downstream, possibly a descendant)."""

    reason: str
    why: str
    instance_id: int
    status: InstanceStatus


def _refusal(facts: InstanceFacts, reason: str, why: str = "") -> Refusal:
    return Refusal(reason, why, facts.instance_id, facts.status)


def refusal(op: Operation, facts: InstanceFacts) -> Refusal | None:
    """Why `op` is not allowed for the instance in its current state; None when it is."""
    status = facts.status
    if status not in ALLOWED[op]:
        return _refusal(facts, "status")
    if op is Operation.RESTART:
        return _rerun_refusal(facts)
    if op is Operation.SET_SUCCESS and status is S.NOT_RUN and not facts.blocked_by_failure:
        return _refusal(facts, "not_blocked", " that is not blocked by a failed upstream instance")
    if op is Operation.SUSPEND and facts.suspended:
        return _refusal(facts, "suspended", " (already suspended)")
    if op is Operation.RESUME and not facts.suspended:
        return _refusal(facts, "not_suspended", " (not suspended)")
    return None


def _rerun_refusal(facts: InstanceFacts) -> Refusal | None:
    status = facts.status
    if status is S.SUCCESS and facts.task_type.dry_run:
        why = f": a dry-run instance ({facts.task_type.value}) never ran"
        return _refusal(facts, "dry_run", why)
    if facts.rerun_mode is RerunMode.ALL_DENIED:
        return _refusal(facts, "rerun_denied", ": the node's RerunMode is ALL_DENIED")
    if facts.rerun_mode is RerunMode.FAILURE_ALLOWED and status is S.SUCCESS:
        return _refusal(facts, "rerun_failure_only", ": the node's RerunMode is FAILURE_ALLOWED")
    return None


def _refuse(op: Operation, refused: Refusal) -> Conflict:
    return Conflict(
        "Instance",
        f"{op.value} is not allowed for InstanceId={refused.instance_id} with status "
        f"{refused.status.value}{refused.why}.",
    )


def check_operation(op: Operation, facts: InstanceFacts) -> None:
    """Raise Conflict unless `op` is allowed for the instance in its current state."""
    refused = refusal(op, facts)
    if refused is not None:
        raise _refuse(op, refused)


def rerun_downstream_plan(
    root: InstanceFacts, descendants: Iterable[InstanceFacts]
) -> tuple[list[int], Refusal | None]:
    """A rerun with downstream: the instances it sets back to NOT_RUN (the root first), or why
    it is refused (nothing is changed then).

    The root follows RestartInstance's rules. Each descendant (an instance after it in its Dag)
    that has finished (FAILURE, SUCCESS, a dry run's SUCCESS included) goes back to NOT_RUN, so
    it runs again, in order, once its upstream has; one that has not run yet (NOT_RUN, suspended
    or not) is left as it is, it waits anyway. Refused as a whole when a descendant is on its
    way (WAIT_TIME, WAIT_RESOURCE, RUNNING: it would run on the old upstream result, or twice),
    or finished but not rerunnable by its node's RerunMode (left SUCCESS, its own descendants
    would run before the root)."""
    refused = refusal(Operation.RESTART, root)
    if refused is not None:
        return [], refused
    chosen = [root.instance_id]
    for facts in descendants:
        status = facts.status
        if status in ACTIVE:
            why = f": its downstream instance InstanceId={facts.instance_id} is {status.value}"
            return [], Refusal("downstream_active", why, facts.instance_id, status)
        if status is S.NOT_RUN:
            continue
        denied = _rerun_refusal(facts) if not facts.task_type.dry_run else None
        if denied is not None:
            why = f": its downstream instance InstanceId={facts.instance_id} cannot run again"
            return [], Refusal("downstream_denied", why + denied.why, facts.instance_id, status)
        chosen.append(facts.instance_id)
    return chosen, None


class Action(str, enum.Enum):
    """What an operator can do to an instance, as the page and the CLI offer it; each is one
    of the API's operations (`operation`, also the RAM action)."""

    RERUN = "rerun"
    RERUN_LATEST = "rerun_latest"
    RERUN_DOWNSTREAM = "rerun_downstream"
    SET_SUCCESS = "set_success"
    STOP = "stop"
    SUSPEND = "suspend"
    RESUME = "resume"

    @property
    def operation(self) -> Operation:
        return _ACTION_OPERATION[self]


_ACTION_OPERATION = {
    Action.RERUN: Operation.RESTART,
    Action.RERUN_LATEST: Operation.RESTART,
    Action.RERUN_DOWNSTREAM: Operation.RESTART,
    Action.SET_SUCCESS: Operation.SET_SUCCESS,
    Action.STOP: Operation.STOP,
    Action.SUSPEND: Operation.SUSPEND,
    Action.RESUME: Operation.RESUME,
}


def action_refusals(
    facts: InstanceFacts, descendants: Iterable[InstanceFacts], *, deployed: bool
) -> dict[Action, Refusal | None]:
    """For each action, None when the instance's state allows it, else why not — by the very
    rules the operations check (`refusal`, `rerun_downstream_plan`). `facts` must carry
    `blocked_by_failure`; `descendants` are the instances after it in its Dag; `deployed`: its
    node has a version deployed in its environment now (rerun with the latest version)."""
    rerun = refusal(Operation.RESTART, facts)
    latest = rerun
    if latest is None and not deployed:
        latest = _refusal(facts, "not_deployed", ": its node has no version deployed any more")
    out: dict[Action, Refusal | None] = {
        Action.RERUN: rerun,
        Action.RERUN_LATEST: latest,
        Action.RERUN_DOWNSTREAM: rerun_downstream_plan(facts, descendants)[1],
    }
    for action in (Action.SET_SUCCESS, Action.STOP, Action.SUSPEND, Action.RESUME):
        out[action] = refusal(action.operation, facts)
    return out


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
