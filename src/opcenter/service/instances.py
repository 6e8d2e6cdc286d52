"""The instance operations (rerun, set success, stop, suspend, resume) and instance queries.

An operation validates its input, resolves the instance in the requested environment
(`NotFound("Instance")` for an unknown id) and asks the engine for the transition
(`opcenter.engine.operations`), which checks the state against docs/running.md, writes it as a
compare-and-set, refreshes the Dag and wakes the engine. A refused state →
`Conflict("Instance", …)` (`Invalid.Instance.Status`, HTTP 409) naming the current status.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import Env, InstanceStatus, TaskType
from opcenter.domain.planning import day_start_ms, parse_biz_date
from opcenter.domain.states import Action, Refusal
from opcenter.engine import operations
from opcenter.errors import (
    InvalidParameter,
    InvalidParameterFormat,
    MissingParameter,
    NotFound,
    not_found,
)
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.lookup import check_paging, resolve_workspace
from opcenter.service.run_views import (
    InstancePage,
    InstanceStatusCount,
    InstanceView,
    instance_view,
)
from opcenter.store.tables import Dag, Instance, Workflow, Workspace

__all__ = [
    "DagProgress",
    "dag_progress",
    "get_instance",
    "get_instance_status_count",
    "get_instance_status_statistic",
    "get_manual_dag_instances",
    "instance_actions",
    "list_instances",
    "list_manual_dag_instances",
    "rerun_with_downstream",
    "restart_instance",
    "resume_instance",
    "set_success_instance",
    "stop_instance",
    "suspend_instance",
]

S = InstanceStatus


def _env(project_env: str | None) -> str:
    if project_env is None or not str(project_env).strip():
        raise MissingParameter("ProjectEnv")
    try:
        return Env(project_env).value
    except ValueError:
        raise InvalidParameter(f"ProjectEnv={project_env!r} is not one of DEV, PROD.") from None


def _instance(session: Session, instance_id: int, env: str) -> Instance:
    inst = session.get(Instance, instance_id)
    if inst is None or inst.env != env:
        raise not_found("InstanceId", instance_id, env)
    return inst


def _operate(
    ctx: ServiceContext,
    transition: Callable[[ServiceContext, int, str], InstanceStatus],
    *,
    instance_id: int,
    project_env: str,
    caller: Caller,
) -> bool:
    """Validate the request and resolve the instance in its environment, then ask the engine
    for the transition (engine/operations.py)."""
    env = _env(project_env)
    with ctx.db.transaction(readonly=True) as session:
        _instance(session, instance_id, env)
    transition(ctx, instance_id, caller.name)
    return True


def restart_instance(
    ctx: ServiceContext,
    *,
    instance_id: int,
    project_env: str,
    caller: Caller = Caller(),
    use_latest: bool = False,
) -> bool:
    """RestartInstance: from FAILURE (a stopped instance too) or SUCCESS (not a dry run), as the
    node's RerunMode allows; back to NOT_RUN, then it runs again with its stored parameters.
    Refused while the instance is RUNNING, a stop in progress included. With `use_latest`
    (`UseLatestConfig`), it runs the node's latest deployed version (service/reruns.py)."""
    from opcenter.service.reruns import latest_config

    reconfigure = latest_config if use_latest else None
    return _operate(
        ctx,
        lambda c, i, who: operations.restart(c, i, who, reconfigure),
        instance_id=instance_id,
        project_env=project_env,
        caller=caller,
    )


def rerun_with_downstream(
    ctx: ServiceContext,
    *,
    instance_id: int,
    project_env: str,
    caller: Caller = Caller(),
    use_latest: bool = False,
) -> list[int]:
    """RestartInstance of the instance and of every instance after it in its Dag, in one step:
    each finished one goes back to NOT_RUN and runs again after its upstream; one that has not
    run yet waits as before. Refused as a whole (`Invalid.Instance.Status`) when the instance
    may not be rerun, or a descendant is on its way (WAIT_TIME, WAIT_RESOURCE, RUNNING) or may
    not be rerun by its node's RerunMode (domain.states.rerun_downstream_plan). With
    `use_latest`, each runs its node's latest deployed version. Returns the InstanceIds set
    back, this one first."""
    from opcenter.service.reruns import latest_config

    env = _env(project_env)
    with ctx.db.transaction(readonly=True) as session:
        _instance(session, instance_id, env)
    reconfigure = latest_config if use_latest else None
    return operations.restart_downstream(ctx, instance_id, caller.name, reconfigure)


def instance_actions(
    ctx: ServiceContext, *, instance_id: int, project_env: str
) -> dict[Action, Refusal | None]:
    """For each action on the instance (rerun, rerun with the latest version, rerun with
    downstream, set success, stop, suspend, resume): None when its state allows it now, else
    why not — the rules the operations themselves check (engine.operations.allowed_actions).
    Permissions are not looked at here."""
    from opcenter.service.reruns import released_in

    env = _env(project_env)
    with ctx.db.transaction(readonly=True) as session:
        inst = _instance(session, instance_id, env)
        deployed = released_in(session, inst.node_id, env) is not None
        return operations.allowed_actions(session, inst, deployed)


def set_success_instance(
    ctx: ServiceContext, *, instance_id: int, project_env: str, caller: Caller = Caller()
) -> bool:
    """SetSuccessInstance: from FAILURE, or NOT_RUN blocked by a failed upstream → SUCCESS,
    releasing its descendants; the Dag goes back to RUNNING."""
    return _operate(
        ctx,
        operations.set_success,
        instance_id=instance_id,
        project_env=project_env,
        caller=caller,
    )


def stop_instance(
    ctx: ServiceContext, *, instance_id: int, project_env: str, caller: Caller = Caller()
) -> bool:
    """StopInstance: from NOT_RUN, WAIT_TIME or WAIT_RESOURCE → FAILURE at once. A RUNNING
    instance stays RUNNING, recording who stopped it, until the engine has terminated its process
    group (SIGTERM, grace, SIGKILL); then it is FAILURE. Either way ErrorMessage and the log end
    with "Stopped by <who>."."""
    return _operate(
        ctx,
        operations.stop,
        instance_id=instance_id,
        project_env=project_env,
        caller=caller,
    )


def suspend_instance(
    ctx: ServiceContext, *, instance_id: int, project_env: str, caller: Caller = Caller()
) -> bool:
    """SuspendInstance: from NOT_RUN, WAIT_TIME or WAIT_RESOURCE → frozen (keeps its status,
    does not run, blocks its descendants)."""
    return _operate(
        ctx,
        operations.suspend,
        instance_id=instance_id,
        project_env=project_env,
        caller=caller,
    )


def resume_instance(
    ctx: ServiceContext, *, instance_id: int, project_env: str, caller: Caller = Caller()
) -> bool:
    """ResumeInstance: unfreeze a suspended instance."""
    return _operate(
        ctx,
        operations.resume,
        instance_id=instance_id,
        project_env=project_env,
        caller=caller,
    )


# -- queries --------------------------------------------------------------------------------------


def get_instance(ctx: ServiceContext, *, instance_id: int, project_env: str) -> InstanceView:
    """GetInstance."""
    env = _env(project_env)
    with ctx.db.transaction(readonly=True) as session:
        return instance_view(_instance(session, instance_id, env))


def _dag_id(value: str | int) -> int:
    text = str(value).strip()
    if not text:
        raise MissingParameter("DagId")
    if not text.isdigit():
        raise InvalidParameter(f"DagId={value!r} is not an integer.")
    return int(text)


def get_manual_dag_instances(
    ctx: ServiceContext, *, dag_id: str | int, project_env: str, project_name: str | None = None
) -> list[InstanceView]:
    """GetManualDagInstances: every instance of the Dag, by InstanceId."""
    env = _env(project_env)
    number = _dag_id(dag_id)
    with ctx.db.transaction(readonly=True) as session:
        dag = session.get(Dag, number)
        ws = session.get(Workspace, dag.workspace_id) if dag is not None else None
        if dag is None or dag.env != env or (project_name and ws and ws.identifier != project_name):
            where = f" of workspace {project_name!r}" if project_name else ""
            raise NotFound("Dag", f"The Dag DagId={dag_id} does not exist in {env}{where}.")
        rows = session.scalars(
            sa.select(Instance).where(Instance.dag_id == number).order_by(Instance.id)
        ).all()
        return [instance_view(i) for i in rows]


@dataclass(frozen=True)
class DagProgress:
    """How far one Dag is: its instance count, how many succeeded and failed, and the names
    of its running and of its suspended instances (by InstanceId)."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    running: tuple[str, ...] = ()
    suspended: tuple[str, ...] = ()


def dag_progress(ctx: ServiceContext, dag_ids: Sequence[int]) -> dict[int, DagProgress]:
    """The progress of these Dags, read in one query of five columns: `run --wait` redraws it
    while a run goes, where building every instance's whole view, Dag by Dag, cost more than
    the run of a no-op workflow."""
    found: dict[int, list[Any]] = {d: [0, 0, 0, [], []] for d in dag_ids}
    if not found:
        return {}
    i = Instance.__table__  # Core: the ORM would configure every mapper on its first query
    query = (
        sa.select(i.c.dag_id, i.c.node_name, i.c.status, i.c.suspended)
        .where(i.c.dag_id.in_(sa.bindparam("dag_ids", expanding=True)))
        .order_by(i.c.id)
    )
    with ctx.db.transaction(readonly=True) as session:
        rows = session.execute(query, {"dag_ids": sorted(found)}).all()
    for dag_id, name, status, suspended in rows:
        counts = found[dag_id]
        counts[0] += 1
        if status == S.SUCCESS.value:
            counts[1] += 1
        elif status == S.FAILURE.value:
            counts[2] += 1
        elif status == S.RUNNING.value:
            counts[3].append(name)
        if suspended:
            counts[4].append(name)
    return {
        d: DagProgress(total, ok, failed, tuple(running), tuple(held))
        for d, (total, ok, failed, running, held) in found.items()
    }


def list_manual_dag_instances(
    ctx: ServiceContext, *, dag_id: str | int, project_env: str, project_name: str | None = None
) -> list[InstanceView]:
    """ListManualDagInstances: same request and answer as GetManualDagInstances."""
    return get_manual_dag_instances(
        ctx, dag_id=dag_id, project_env=project_env, project_name=project_name
    )


def _day_ms(ctx: ServiceContext, value: str | None, name: str) -> int | None:
    if not value:
        return None
    return day_start_ms(parse_biz_date(value, name), ctx.settings.tz)


def list_instances(
    ctx: ServiceContext,
    *,
    project_env: str,
    project_id: int,
    dag_id: int | None = None,
    node_id: int | None = None,
    node_name: str | None = None,
    status: str | None = None,
    bizdate: str | None = None,
    begin_bizdate: str | None = None,
    end_bizdate: str | None = None,
    biz_name: str | None = None,
    owner: str | None = None,
    program_type: str | None = None,
    order_by: str | None = None,
    page_number: int = 1,
    page_size: int = 10,
) -> InstancePage:
    """ListInstances of a workspace environment, filtered, newest first by default."""
    env = _env(project_env)
    offset, limit = check_paging(page_number, page_size)
    if status is not None and status not in S.__members__:
        raise InvalidParameter(f"Status={status!r} is not an instance status.")
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(session, project_id=project_id)
        where: list[Any] = [Instance.workspace_id == ws.id, Instance.env == env]
        for column, value in (
            (Instance.dag_id, dag_id),
            (Instance.node_id, node_id),
            (Instance.node_name, node_name),
            (Instance.status, status),
            (Instance.owner, owner),
        ):
            if value not in (None, ""):
                where.append(column == value)
        if (day := _day_ms(ctx, bizdate, "Bizdate")) is not None:
            where.append(Instance.bizdate_ms == day)
        if (day := _day_ms(ctx, begin_bizdate, "BeginBizdate")) is not None:
            where.append(Instance.bizdate_ms >= day)
        if (day := _day_ms(ctx, end_bizdate, "EndBizdate")) is not None:
            where.append(Instance.bizdate_ms <= day)
        if biz_name:
            where.append(Instance.workflow_id.in_(_workflow_ids(ws.id, biz_name)))
        if program_type:
            where.append(Instance.file_type.in_(_file_types(program_type)))
        order = Instance.created_at.desc() if order_by == "CREATE_TIME_DESC" else None
        query = sa.select(Instance).where(*where)
        total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(*(o for o in (order,) if o is not None), Instance.id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return InstancePage([instance_view(i) for i in rows], page_number, page_size, total)


def _workflow_ids(workspace_id: int, name: str) -> sa.Select[Any]:
    return sa.select(Workflow.id).where(
        Workflow.workspace_id == workspace_id, Workflow.name == name
    )


def _file_types(program_type: str) -> list[int]:
    from opcenter.domain.model import FileType

    text = program_type.strip()
    if text.isdigit():
        return [int(text)]
    aliases = {"SHELL": "DIDE_SHELL", "PYTHON3": "PYTHON", "SQL": "ODPS_SQL"}
    name = aliases.get(text.upper(), text.upper())
    if name not in FileType.__members__:
        raise InvalidParameter(f"ProgramType={program_type!r} is not a known node type.")
    return [int(FileType[name])]


# GetInstanceStatusStatistic filters (the SDK's values). Every Dag opcenter makes is MANUAL, every
# instance a day's (SchedulerPeriod DAY); the other values are valid and count nothing.
DAG_TYPES = ("DAILY", "MANUAL", "SMOKE_TEST", "SUPPLY_DATA", "BUSINESS_PROCESS_DAG")
SCHEDULER_TYPES = ("NORMAL", "MANUAL", "PAUSE", "SKIP")
SCHEDULER_PERIODS = ("MINUTE", "HOUR", "DAY", "WEEK", "MONTH")
_INSTANCE_PERIOD = "DAY"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _count_day(value: str | None, ctx: ServiceContext) -> int:
    """The business date of the status counts, `yyyy-MM-dd` or `yyyy-MM-dd 00:00:00`, as the
    epoch milliseconds of its midnight."""
    if value is None or not value.strip():
        raise MissingParameter("BizDate")
    text = value.strip()
    if _DAY.fullmatch(text):
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise InvalidParameterFormat(f"BizDate={value!r} is not a calendar date.") from None
    elif " " in text:
        day = parse_biz_date(text, "BizDate")
    else:
        raise InvalidParameterFormat(
            f"BizDate={value!r} is not a date of the form yyyy-MM-dd (or yyyy-MM-dd 00:00:00)."
        )
    return day_start_ms(day, ctx.settings.tz)


def _choice(value: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidParameter(f"{name}={value!r} is not one of {', '.join(allowed)}.")
    return value


def _scheduler_type_filter(scheduler_type: str) -> sa.ColumnElement[bool]:
    """The instances of a SchedulerType: PAUSE suspended ones, SKIP dry runs, MANUAL the others
    (NORMAL: none; nothing here is scheduled by time)."""
    if scheduler_type == "PAUSE":
        return Instance.suspended.is_(True)
    if scheduler_type == "SKIP":
        dry = (TaskType.SKIP.value, TaskType.SKIP_UNCHOOSE.value)
        return sa.and_(Instance.suspended.is_(False), Instance.task_type.in_(dry))
    if scheduler_type == "MANUAL":
        return sa.and_(Instance.suspended.is_(False), Instance.task_type == TaskType.MANUAL.value)
    return sa.false()


def _count(
    ctx: ServiceContext,
    *,
    project_env: str,
    project_id: int,
    biz_date: str | None,
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> InstanceStatusCount:
    env = _env(project_env)
    day = _count_day(biz_date, ctx)
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(session, project_id=project_id)
        rows = session.execute(
            sa.select(Instance.status, sa.func.count())
            .where(
                Instance.workspace_id == ws.id,
                Instance.env == env,
                Instance.bizdate_ms == day,
                *where,
            )
            .group_by(Instance.status)
        ).all()
    counts = {status: int(n) for status, n in rows}
    return InstanceStatusCount(
        not_run_count=counts.get(S.NOT_RUN.value, 0),
        wait_time_count=counts.get(S.WAIT_TIME.value, 0),
        wait_res_count=counts.get(S.WAIT_RESOURCE.value, 0),
        running_count=counts.get(S.RUNNING.value, 0),
        failure_count=counts.get(S.FAILURE.value, 0),
        success_count=counts.get(S.SUCCESS.value, 0),
        total_count=sum(counts.values()),
    )


def get_instance_status_count(
    ctx: ServiceContext, *, project_env: str, project_id: int, biz_date: str | None
) -> InstanceStatusCount:
    """GetInstanceStatusCount: instances of the workspace environment for one business date
    (`yyyy-MM-dd` or `yyyy-MM-dd 00:00:00`), counted by status."""
    return _count(ctx, project_env=project_env, project_id=project_id, biz_date=biz_date)


def get_instance_status_statistic(
    ctx: ServiceContext,
    *,
    project_env: str,
    project_id: int,
    biz_date: str | None,
    dag_type: str | None = None,
    scheduler_type: str | None = None,
    scheduler_period: str | None = None,
) -> InstanceStatusCount:
    """GetInstanceStatusStatistic: GetInstanceStatusCount narrowed to the instances of Dags of
    `dag_type`, of `scheduler_type` (MANUAL, PAUSE: suspended, SKIP: dry runs) and of
    `scheduler_period`. Each filter takes the SDK's values; a value opcenter has no instance
    of (DagType DAILY, SchedulerType NORMAL, SchedulerPeriod HOUR …) counts nothing, any other
    → InvalidParameter."""
    dag_type = _choice(dag_type, "DagType", DAG_TYPES)
    scheduler_type = _choice(scheduler_type, "SchedulerType", SCHEDULER_TYPES)
    scheduler_period = _choice(scheduler_period, "SchedulerPeriod", SCHEDULER_PERIODS)

    where: list[sa.ColumnElement[bool]] = []
    if dag_type is not None:
        where.append(Instance.dag_id.in_(sa.select(Dag.id).where(Dag.type == dag_type)))
    if scheduler_type is not None:
        where.append(_scheduler_type_filter(scheduler_type))
    if scheduler_period not in (None, _INSTANCE_PERIOD):
        where.append(sa.false())
    return _count(
        ctx, project_env=project_env, project_id=project_id, biz_date=biz_date, where=where
    )
