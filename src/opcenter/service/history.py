"""ListInstanceHistory, and which attempt an `InstanceHistoryId` names (GetInstanceLog).

Every attempt of an instance has a row in `instance_attempt`, written by the engine when the
attempt starts RUNNING (or finishes inside the engine: dry run, virtual node, or is stopped
while it waits for a slot) and updated when it ends; the row's id is the attempt's
`InstanceHistoryId`. An attempt queued for a slot (WAIT_RESOURCE) has no row yet: it is listed
once it runs.

Attempts that ran before opcenter kept these rows (stores upgraded to schema 0005) have none.
They are listed all the same, rebuilt from what the store and the log still say: the latest
attempt from the instance itself (its status, times and ErrorMessage) when the instance still
describes it, an earlier one from the last `[opcenter]` line of its log (`exit code 0` → SUCCESS,
any other end → FAILURE with that line as ErrorMessage). Such an entry's `InstanceHistoryId` is
the attempt number, and GetInstanceLog accepts it for that instance.

An `InstanceHistoryId` given to GetInstanceLog is, in this order: the id of an attempt row of
that instance; else, when the instance has an attempt of that number without a row, that
attempt number; anything else (an attempt of another instance, an unknown id) is refused with
`Invalid.InstanceHistory.NotExists` (404).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import InstanceStatus, TaskType
from opcenter.engine.paths import log_path
from opcenter.errors import NotFound, not_found
from opcenter.runners.logs import LOG_TAG, read_log_page
from opcenter.service.context import ServiceContext
from opcenter.service.instances import _env
from opcenter.service.run_views import DAG_TYPE, AttemptView
from opcenter.store.tables import Instance, InstanceAttempt

__all__ = ["DEFAULT_ENV", "history_attempt", "list_instance_history"]

S = InstanceStatus
A = InstanceAttempt.__table__
DEFAULT_ENV = "PROD"  # ListInstanceHistory's ProjectEnv when none is given (the SDK's default)
_TAIL_BYTES = 4096  # how much of a log's end is read to tell how an old attempt ended
# Lines written after an attempt's end that do not say how it ended.
_AFTERWORDS = ("An automatic rerun", "Its processes could not be killed")
_SUCCEEDED_LINES = ("exit code 0", "nothing to run", "Virtual node:", "Dry run")
_UNKNOWN_END = "How this attempt ended is not recorded (its log is gone)."

_ROWS = sa.select(A).where(A.c.instance_id == sa.bindparam("instance_id")).order_by(A.c.attempt)


def _instance(session: Session, instance_id: int, env: str) -> Instance:
    inst = session.get(Instance, instance_id)
    if inst is None or inst.env != env:
        raise not_found("InstanceId", instance_id, env)
    return inst


def list_instance_history(
    ctx: ServiceContext, *, instance_id: int, project_env: str | None = None
) -> list[AttemptView]:
    """ListInstanceHistory: every attempt of the instance that has started, oldest first.
    `project_env` defaults to PROD. An unknown instance (or one of the other environment) →
    `Invalid.Instance.NotExists`."""
    env = _env(project_env or DEFAULT_ENV)
    with ctx.db.transaction(readonly=True) as session:
        inst = _instance(session, instance_id, env)
        rows = session.connection().execute(_ROWS, {"instance_id": inst.id}).all()
        recorded = {r.attempt: _recorded(r, inst) for r in rows}
        views = []
        for number in range(1, inst.attempt + 1):
            view = recorded.get(number)
            if view is None and not _queued(inst, number):
                view = _rebuilt(ctx, inst, number)
            if view is not None:
                views.append(view)
        return views


def _queued(inst: Instance, number: int) -> bool:
    """The instance's current attempt, claimed but not started (no row yet): not listed."""
    return number == inst.attempt and inst.status == S.WAIT_RESOURCE.value


def _common(inst: Instance) -> dict[str, Any]:
    return {
        "instance_id": inst.id,
        "dag_id": inst.dag_id,
        "dag_type": DAG_TYPE,
        "node_id": inst.node_id,
        "node_name": inst.node_name,
        "bizdate": inst.bizdate_ms,
        "cyc_time": inst.cyctime_ms,
    }


def _recorded(r: Any, inst: Instance) -> AttemptView:
    return AttemptView(
        instance_history_id=r.id,
        attempt=r.attempt,
        status=S(r.status),
        task_type=TaskType(r.task_type),
        create_time=r.created_at,
        modify_time=r.modified_at,
        begin_wait_time_time=r.begin_wait_time_time,
        begin_wait_res_time=r.begin_wait_res_time,
        begin_running_time=r.begin_running_time,
        finish_time=r.finish_time,
        error_message=r.error_message or "",
        version_id=r.version_id,
        recorded=True,
        **_common(inst),
    )


def _rebuilt(ctx: ServiceContext, inst: Instance, number: int) -> AttemptView:
    """An attempt without a row (it ran before opcenter recorded attempts)."""
    latest = number == inst.attempt
    if latest and inst.status in (S.RUNNING.value, S.SUCCESS.value, S.FAILURE.value):
        status, message = S(inst.status), inst.error_message or ""
    elif latest and inst.status == S.WAIT_TIME.value:  # it failed; its automatic rerun is due
        status, message = S.FAILURE, inst.error_message or ""
    else:
        status, message = _ending(log_path(ctx.settings.data_dir, inst.dag_id, inst.id, number))
    described = latest and inst.status != S.NOT_RUN.value  # NOT_RUN: restarted since
    return AttemptView(
        instance_history_id=number,
        attempt=number,
        status=status,
        task_type=TaskType(inst.task_type),
        create_time=None,
        modify_time=inst.modified_at if described else None,
        begin_wait_time_time=inst.begin_wait_time_time if described else None,
        begin_wait_res_time=inst.begin_wait_res_time if described else None,
        begin_running_time=inst.begin_running_time if described else None,
        finish_time=inst.finish_time if described else None,
        error_message=message,
        version_id=inst.version_id if latest else None,
        recorded=False,
        **_common(inst),
    )


def _ending(path: Any) -> tuple[InstanceStatus, str]:
    """How an attempt ended, from the last `[opcenter]` line of its log that says so."""
    data, _ = read_log_page(path, -_TAIL_BYTES, _TAIL_BYTES)
    marker = f"{LOG_TAG} "
    for line in reversed(data.decode("utf-8", errors="replace").splitlines()):
        _, found, text = line.partition(marker)
        if not found or text.startswith(_AFTERWORDS):
            continue
        if text.startswith(_SUCCEEDED_LINES):
            return S.SUCCESS, ""
        return S.FAILURE, text
    return S.FAILURE, _UNKNOWN_END


def history_attempt(session: Session, inst: Instance, history_id: int) -> int:
    """The attempt number an `InstanceHistoryId` names for `inst` (see the module's rules);
    NotFound("InstanceHistory") for anything else."""
    row = session.execute(
        sa.select(A.c.instance_id, A.c.attempt).where(A.c.id == history_id)
    ).first()
    if row is not None and row.instance_id == inst.id:
        return int(row.attempt)
    if 1 <= history_id <= inst.attempt:
        recorded = session.scalar(
            sa.select(A.c.id).where(A.c.instance_id == inst.id, A.c.attempt == history_id)
        )
        if recorded is None:
            return history_id
    raise NotFound(
        "InstanceHistory",
        f"InstanceHistoryId={history_id} is not an attempt of the instance "
        f"InstanceId={inst.id} in {inst.env} (ListInstanceHistory lists its attempts).",
    )
