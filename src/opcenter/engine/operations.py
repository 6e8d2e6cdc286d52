"""The operator transitions of an instance (rerun, set success, stop, suspend, resume).

The engine owns instance state: the service validates the request, resolves the instance and
calls one function here. Each function, in one transaction, checks the instance's state against
the rules (`domain.states.check_operation`), writes one compare-and-set update (`… WHERE status
= <the status it checked> AND attempt = … AND suspended = …`), recomputes the Dag's status and
bumps the Dag's revision, so an engine in any process sees the change and a decision it took on
the older state is refused by the store. After the commit the in-process engine is woken
(`ctx.notify`).

Stop: an instance without a process (NOT_RUN, WAIT_TIME, WAIT_RESOURCE) ends FAILURE at once,
`error_message` and its log saying who stopped it. A RUNNING instance only records who stopped
it (`stopped_by`) and stays RUNNING: the engine that runs it terminates the process group and
records FAILURE "Stopped by <who>." once the attempt's result arrives (the group is gone). When
no engine runs, the next engine start resolves it (engine/recovery.py). A refused state raises
`Conflict("Instance", …)` naming the current status.

Rerun with downstream (`restart_downstream`) is the same step for the instance and every
finished instance after it in its Dag, in one transaction: one compare-and-set per instance, all
or nothing (`domain.states.rerun_downstream_plan` decides which, and when it is refused).
`allowed_actions` answers, for the page, what each action would answer now, from the same rules.

Attempt rows (`instance_attempt`, see engine/transitions.py): an attempt stopped while it waited
for a slot (WAIT_RESOURCE) never ran, but it has a number and a log, so the stop records its row
(FAILURE, "Stopped by <who>."). Set success changes the instance, not its history: the failed
attempt stays FAILURE. A restart starts no attempt (the engine's claim does).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.context import ServiceContext
from opcenter.domain.model import InstanceStatus, TaskType
from opcenter.domain.states import (
    Action,
    InstanceFacts,
    Operation,
    Refusal,
    RerunMode,
    action_refusals,
    blocked_by_failure,
    check_operation,
    rerun_downstream_plan,
)
from opcenter.engine.dags import refresh_dag
from opcenter.engine.dispatch import write_lines
from opcenter.engine.paths import log_path
from opcenter.engine.transitions import record_attempts
from opcenter.engine.view import DagView, load_edges
from opcenter.errors import Conflict, NotFound
from opcenter.store.db import StoreUnavailable
from opcenter.store.tables import FileVersion, Instance

__all__ = [
    "Reconfigure",
    "allowed_actions",
    "restart",
    "restart_downstream",
    "resume",
    "set_success",
    "stop",
    "stopped_line",
    "suspend",
]

S = InstanceStatus
T = TypeVar("T")
_Values = Callable[[Session, Instance, int, str], dict[str, Any]]


def stopped_line(who: str) -> str:
    """The log line and `error_message` of an attempt an operator stopped."""
    return f"Stopped by {who}."


Reconfigure = Callable[[Session, Instance], dict[str, Any]]


def restart(
    ctx: ServiceContext, instance_id: int, who: str, reconfigure: Reconfigure | None = None
) -> InstanceStatus:
    """FAILURE/SUCCESS (as RerunMode allows) → NOT_RUN; the engine then runs a new attempt.
    Refused while the instance is RUNNING (a stop is still being carried out).

    `reconfigure(session, instance)`, called in the operation's transaction once the state is
    checked, returns instance columns to change with it (rerun with the latest deployed
    version: `version_id`, the resolved parameters, …); its `auto_rerun_left` wins over the
    one read from the instance's current version."""
    if reconfigure is None:
        return _apply(ctx, Operation.RESTART, _restart_values, instance_id, who)

    def values(session: Session, inst: Instance, now: int, who: str) -> dict[str, Any]:
        return {**_restart_values(session, inst, now, who), **reconfigure(session, inst)}

    return _apply(ctx, Operation.RESTART, values, instance_id, who)


def restart_downstream(
    ctx: ServiceContext, instance_id: int, who: str, reconfigure: Reconfigure | None = None
) -> list[int]:
    """Rerun with downstream: the instance and every finished instance after it in its Dag
    back to NOT_RUN, in one transaction (`domain.states.rerun_downstream_plan` says which, and
    when it is refused as a whole). Each is a compare-and-set like `restart`; if any changed
    meanwhile, nothing is changed (Conflict). `reconfigure` (the latest deployed version) applies
    to each instance set back. Returns their ids, the instance's own first."""
    return _retrying(lambda: _restart_downstream_once(ctx, instance_id, who, reconfigure))


def set_success(ctx: ServiceContext, instance_id: int, who: str) -> InstanceStatus:
    """FAILURE, or NOT_RUN blocked by a failed upstream → SUCCESS."""
    return _apply(ctx, Operation.SET_SUCCESS, _success_values, instance_id, who)


def stop(ctx: ServiceContext, instance_id: int, who: str) -> InstanceStatus:
    """Not running → FAILURE now; RUNNING → stays RUNNING with `stopped_by` (see above)."""
    return _apply(ctx, Operation.STOP, _stop_values, instance_id, who)


def suspend(ctx: ServiceContext, instance_id: int, who: str) -> InstanceStatus:
    """Freeze a waiting instance (it keeps its status and blocks its descendants)."""
    return _apply(ctx, Operation.SUSPEND, _suspend_values, instance_id, who)


def resume(ctx: ServiceContext, instance_id: int, who: str) -> InstanceStatus:
    """Unfreeze a suspended instance."""
    return _apply(ctx, Operation.RESUME, _resume_values, instance_id, who)


# An operation takes the instance's row, then its Dag's (refresh_dag). An engine step that starts
# a CREATED Dag takes them the other way round, so on PostgreSQL the two can deadlock; the
# database then aborts one of them. The engine's step is simply retried by the engine; an
# operation is retried here (its transaction rolled back whole), so the caller never sees it.
_DEADLOCK_RETRIES = 3
_DEADLOCK_SQLSTATE = "40P01"


def _apply(
    ctx: ServiceContext, op: Operation, values: _Values, instance_id: int, who: str
) -> InstanceStatus:
    """`_apply_once`, retried when the database chose it as the victim of a deadlock."""
    return _retrying(lambda: _apply_once(ctx, op, values, instance_id, who))


def _retrying(once: Callable[[], T]) -> T:
    """`once()`, again when the database chose it as the victim of a deadlock (its
    transaction was rolled back whole)."""
    for attempt in range(1, _DEADLOCK_RETRIES + 1):
        try:
            return once()
        except StoreUnavailable as exc:
            if attempt == _DEADLOCK_RETRIES or not _is_deadlock(exc):
                raise
    raise AssertionError("unreachable")


def _is_deadlock(exc: BaseException) -> bool:
    cause = getattr(exc.__cause__, "orig", None)
    return getattr(cause, "sqlstate", None) == _DEADLOCK_SQLSTATE


def _apply_once(
    ctx: ServiceContext, op: Operation, values: _Values, instance_id: int, who: str
) -> InstanceStatus:
    """Check, compare-and-set, refresh the Dag, commit; then the stop line (when no process
    is involved) and the engine wake-up. Returns the instance's new status."""
    line: tuple[int, int, str] | None = None
    with ctx.db.transaction() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            raise NotFound("Instance", f"The instance InstanceId={instance_id} does not exist.")
        check_operation(op, _facts(session, inst, op))
        before = S(inst.status)
        now = ctx.clock()
        new = values(session, inst, now, who)
        _compare_and_set(session, op, inst, new, now)
        if op is Operation.STOP and before is S.WAIT_RESOURCE:
            # An attempt stopped while it waited for a slot never ran; it is an attempt all the
            # same (it has a number and a log saying who stopped it): its row says so.
            record_attempts(session, [inst.id], now)
        refresh_dag(session, inst.dag_id, now)
        status = S(new.get("status", before.value))
        if op is Operation.STOP and status is S.FAILURE:
            line = (inst.dag_id, inst.attempt, stopped_line(who))
    if line is not None:
        dag_id, attempt, text = line
        write_lines(log_path(ctx.settings.data_dir, dag_id, instance_id, attempt), [text])
    ctx.notify()
    return status


def _compare_and_set(
    session: Session, op: Operation, inst: Instance, values: dict[str, Any], now: int
) -> None:
    changed = session.execute(
        sa.update(Instance)
        .where(
            Instance.id == inst.id,
            Instance.status == inst.status,
            Instance.suspended == inst.suspended,
            Instance.attempt == inst.attempt,
        )
        .values(modified_at=now, **values)
        .returning(Instance.id)
    ).first()
    if changed is None:
        current = session.scalar(sa.select(Instance.status).where(Instance.id == inst.id))
        raise Conflict(
            "Instance",
            f"{op.value}: InstanceId={inst.id} changed meanwhile; its status is now {current}.",
        )


def _facts(session: Session, inst: Instance, op: Operation) -> InstanceFacts:
    blocked = False
    if op is Operation.SET_SUCCESS and inst.status == S.NOT_RUN.value:
        view = DagView.load(session, inst.dag_id)
        assert view is not None
        statuses = {i.id: i.status for i in view.instances.values()}
        blocked = blocked_by_failure(inst.id, statuses, view.parents)
    return _row_facts(inst, blocked)


def _restart_downstream_once(
    ctx: ServiceContext, instance_id: int, who: str, reconfigure: Reconfigure | None
) -> list[int]:
    with ctx.db.transaction() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            raise NotFound("Instance", f"The instance InstanceId={instance_id} does not exist.")
        rows = _with_descendants(session, inst)
        facts = [_row_facts(row) for row in rows]
        chosen, refused = rerun_downstream_plan(facts[0], facts[1:])
        if refused is not None:
            raise Conflict(
                "Instance",
                f"RestartInstance with downstream is not allowed for InstanceId={instance_id}"
                f" ({inst.status}){refused.why}.",
            )
        now = ctx.clock()
        by_id = {row.id: row for row in rows}
        for chosen_id in chosen:  # instance rows first, then the Dag's (as `_apply_once`)
            row = by_id[chosen_id]
            values = _restart_values(session, row, now, who)
            if reconfigure is not None:
                values.update(reconfigure(session, row))
            _compare_and_set(session, Operation.RESTART, row, values, now)
        refresh_dag(session, inst.dag_id, now)
    ctx.notify()
    return chosen


def _descendant_ids(session: Session, inst: Instance) -> list[int]:
    """The instances after `inst` in its Dag, breadth first (each once)."""
    children: dict[int, list[int]] = {}
    for parent, child in load_edges(session, inst.dag_id):
        children.setdefault(parent, []).append(child)
    seen: set[int] = {inst.id}
    order: list[int] = []
    todo = deque(children.get(inst.id, ()))
    while todo:
        current = todo.popleft()
        if current not in seen:
            seen.add(current)
            order.append(current)
            todo.extend(children.get(current, ()))
    return order


def _with_descendants(session: Session, inst: Instance) -> list[Instance]:
    """`inst` and its descendants' rows, `inst` first."""
    ids = _descendant_ids(session, inst)
    rows = {r.id: r for r in session.scalars(sa.select(Instance).where(Instance.id.in_(ids)))}
    return [inst, *(rows[i] for i in ids)]


def _row_facts(inst: Instance, blocked: bool = False) -> InstanceFacts:
    return InstanceFacts(
        instance_id=inst.id,
        status=S(inst.status),
        task_type=TaskType(inst.task_type),
        suspended=bool(inst.suspended),
        rerun_mode=RerunMode.of(inst.rerun_mode),
        blocked_by_failure=blocked,
    )


def allowed_actions(
    session: Session, inst: Instance, deployed: bool
) -> dict[Action, Refusal | None]:
    """What each action would answer for `inst` now: None (allowed) or its refusal — the
    rules the operations above check. `deployed`: its node has a version deployed in its
    environment (rerun with the latest version)."""
    blocked = False
    if inst.status == S.NOT_RUN.value:
        blocked = _facts(session, inst, Operation.SET_SUCCESS).blocked_by_failure
    rows = _with_descendants(session, inst)
    descendants = [_row_facts(row) for row in rows[1:]]
    return action_refusals(_row_facts(inst, blocked), descendants, deployed=deployed)


_NO_PROCESS = {"pgid": None, "proc_start": None, "proc_boot": None}


def _restart_values(session: Session, inst: Instance, now: int, who: str) -> dict[str, Any]:
    reruns = session.scalar(
        sa.select(FileVersion.auto_rerun_times).where(FileVersion.id == inst.version_id)
    )
    return {
        "status": S.NOT_RUN.value,
        "suspended": False,
        "stopped_by": None,
        "error_message": "",
        "retry_at": None,
        "auto_rerun_left": max(0, reruns or 0),
        "begin_wait_time_time": None,
        "begin_wait_res_time": None,
        "begin_running_time": None,
        "finish_time": None,
        **_NO_PROCESS,
    }


def _success_values(session: Session, inst: Instance, now: int, who: str) -> dict[str, Any]:
    return {"status": S.SUCCESS.value, "suspended": False, "retry_at": None, "finish_time": now}


def _stop_values(session: Session, inst: Instance, now: int, who: str) -> dict[str, Any]:
    if inst.status == S.RUNNING.value:
        return {"stopped_by": who}  # the engine ends it once the process group is gone
    return {
        "status": S.FAILURE.value,
        "suspended": False,
        "retry_at": None,
        "stopped_by": who,
        "error_message": stopped_line(who),
        "finish_time": now,
    }


def _suspend_values(session: Session, inst: Instance, now: int, who: str) -> dict[str, Any]:
    return {"suspended": True}


def _resume_values(session: Session, inst: Instance, now: int, who: str) -> dict[str, Any]:
    return {"suspended": False}
