"""What the running operations return: plain values named after the DataWorks fields.

Adapters spell them on the wire (`DagId`, `BeginWaitTimeTime` …); every time is epoch
milliseconds (None when the step has not happened), statuses are the enum names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from opcenter.domain.model import DagStatus, InstanceStatus, TaskType
from opcenter.store.tables import Dag, Instance

__all__ = [
    "AttemptView",
    "DagView",
    "InstancePage",
    "InstanceStatusCount",
    "InstanceView",
    "RunCreated",
    "dag_view",
    "instance_view",
    "shown_task_type",
    "task_rerun_time",
]

DAG_TYPE = "MANUAL"  # every Dag RunManualDagNodes / CreateManualDag creates


@dataclass(frozen=True)
class RunCreated:
    """One RunManualDagNodes call: its run id (`OpSeq`) and its Dags in date order."""

    op_seq: int
    dag_ids: tuple[int, ...]
    biz_dates: tuple[dt.date, ...]

    @property
    def dag_id(self) -> int:
        """The `DagId` the operation returns: the first date's Dag."""
        return self.dag_ids[0]


@dataclass(frozen=True)
class DagView:
    """GetDag / ListDags `Data`."""

    dag_id: int
    name: str
    type: str
    status: DagStatus
    bizdate: int
    gmtdate: int
    start_time: int | None
    finish_time: int | None
    create_time: int
    modify_time: int
    create_user: str
    op_seq: int
    project_id: int
    biz_date: dt.date
    seq: int
    workflow_id: int
    env: str


def dag_view(dag: Dag) -> DagView:
    return DagView(
        dag_id=dag.id,
        name=dag.name,
        type=dag.type,
        status=DagStatus(dag.status),
        bizdate=dag.bizdate_ms,
        gmtdate=dag.gmtdate_ms,
        start_time=dag.start_time,
        finish_time=dag.finish_time,
        create_time=dag.created_at,
        modify_time=dag.modified_at,
        create_user=dag.create_user,
        op_seq=dag.run_id,
        project_id=dag.workspace_id,
        biz_date=dag.biz_date,
        seq=dag.seq,
        workflow_id=dag.workflow_id,
        env=dag.env,
    )


@dataclass(frozen=True)
class InstanceView:
    """The instance fields of GetInstance / ListInstances / GetManualDagInstances."""

    instance_id: int
    dag_id: int
    dag_type: str
    node_id: int
    node_name: str
    status: InstanceStatus
    task_type: TaskType
    bizdate: int
    cyc_time: int
    create_time: int
    modify_time: int
    create_user: str
    owner: str
    begin_wait_time_time: int | None
    begin_wait_res_time: int | None
    begin_running_time: int | None
    finish_time: int | None
    param_values: str
    priority: int
    business_id: int
    project_id: int
    env: str
    file_type: int
    suspended: bool
    attempt: int
    stopped_by: str | None
    repeatability: bool
    repeat_interval: int
    task_rerun_time: int | None
    connection: str = ""
    error_message: str = ""
    version_id: int | None = None  # the FileVersionId it runs (its latest attempt's)


def task_rerun_time(inst: Instance) -> int | None:
    """`TaskRerunTime` as the SDK documents it: how many more times the instance may still be
    run automatically. None (empty) when its node has no automatic rerun (`AutoRerunTimes` 0);
    0 when it cannot be rerun (`RerunMode` ALL_DENIED, or its reruns are used up); else the
    reruns left, counting the attempt about to start: `AutoRerunTimes + 1` before the first
    attempt (and after RestartInstance), then one less as each attempt starts."""
    configured = inst.auto_rerun_times
    if not configured:
        return None
    if inst.rerun_mode == "ALL_DENIED":
        return 0
    left = inst.auto_rerun_left
    # NOT_RUN: no attempt of this round has started; WAIT_TIME: the automatic rerun is due.
    pending = inst.status in (InstanceStatus.NOT_RUN.value, InstanceStatus.WAIT_TIME.value)
    return left + 1 if pending else left


def shown_task_type(task_type: str, suspended: bool) -> TaskType:
    """The TaskType a response shows: PAUSE for a suspended instance (DataWorks' frozen
    instance), else the instance's own."""
    return TaskType.PAUSE if suspended else TaskType(task_type)


def instance_view(inst: Instance) -> InstanceView:
    return InstanceView(
        instance_id=inst.id,
        dag_id=inst.dag_id,
        dag_type=DAG_TYPE,
        node_id=inst.node_id,
        node_name=inst.node_name,
        status=InstanceStatus(inst.status),
        task_type=shown_task_type(inst.task_type, bool(inst.suspended)),
        bizdate=inst.bizdate_ms,
        cyc_time=inst.cyctime_ms,
        create_time=inst.created_at,
        modify_time=inst.modified_at,
        create_user=inst.create_user,
        owner=inst.owner,
        begin_wait_time_time=inst.begin_wait_time_time,
        begin_wait_res_time=inst.begin_wait_res_time,
        begin_running_time=inst.begin_running_time,
        finish_time=inst.finish_time,
        param_values=inst.param_values,
        priority=inst.priority,
        business_id=inst.workflow_id,
        project_id=inst.workspace_id,
        env=inst.env,
        file_type=inst.file_type,
        suspended=bool(inst.suspended),
        attempt=inst.attempt,
        stopped_by=inst.stopped_by,
        error_message=inst.error_message or "",
        repeatability=inst.rerun_mode != "ALL_DENIED",
        repeat_interval=inst.auto_rerun_interval_millis,
        task_rerun_time=task_rerun_time(inst),
        version_id=inst.version_id,
    )


@dataclass(frozen=True)
class AttemptView:
    """One attempt of an instance (ListInstanceHistory `Instances[]`): `instance_history_id`
    is its `InstanceHistoryId` (the attempt number for an attempt recorded before opcenter
    kept attempt rows, see service/history.py)."""

    instance_history_id: int
    instance_id: int
    attempt: int
    dag_id: int
    dag_type: str
    node_id: int
    node_name: str
    status: InstanceStatus
    task_type: TaskType
    bizdate: int
    cyc_time: int
    create_time: int | None
    modify_time: int | None
    begin_wait_time_time: int | None
    begin_wait_res_time: int | None
    begin_running_time: int | None
    finish_time: int | None
    error_message: str
    version_id: int | None  # the FileVersionId it ran
    recorded: bool  # False: rebuilt from the instance and its log (an attempt of before 0005)


@dataclass(frozen=True)
class InstancePage:
    """ListInstances `Data`."""

    instances: list[InstanceView]
    page_number: int
    page_size: int
    total_count: int


@dataclass(frozen=True)
class InstanceStatusCount:
    """GetInstanceStatusCount `StatusCount`."""

    not_run_count: int
    wait_time_count: int
    wait_res_count: int
    running_count: int
    failure_count: int
    success_count: int
    total_count: int
