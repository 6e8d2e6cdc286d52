"""The schema, as SQLAlchemy 2 declarative models. Alembic migrations create it; nothing else.

Ids are positive 64-bit integers from the database (SQLite `AUTOINCREMENT`, PostgreSQL identity),
so they are never reused. Every time stamp is epoch milliseconds (absolute); business dates are
calendar dates in the server's time zone.

No `from __future__ import annotations` here (nor in store/side_tables.py): with it, every
`Mapped[...]` annotation is a string that the declarative scan evaluates again (an `eval` per
column, ~10 ms of every process's start-up for these models); without it Python builds each
annotation once, as the class body runs.
"""

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

__all__ = [
    "AlertDelivery",
    "AlertEvent",
    "AlertMessage",
    "Base",
    "Dag",
    "Deployment",
    "File",
    "FileVersion",
    "Instance",
    "InstanceEdge",
    "Node",
    "NodeRelease",
    "Remind",
    "RemindTarget",
    "Run",
    "Workflow",
    "Workspace",
]

# A 64-bit id that SQLite still treats as its rowid alias (only `INTEGER PRIMARY KEY` is).
Id = BigInteger().with_variant(Integer(), "sqlite")
Millis = BigInteger


class Base(DeclarativeBase):
    pass


_LIVE = "deleted_at IS NULL"
# The partial unique indexes on live rows: PostgreSQL's `WHERE` is attached by
# `use_postgresql_options` only when a PostgreSQL store is opened, because naming a
# `postgresql_*` option here imports SQLAlchemy's whole PostgreSQL dialect (its asyncpg driver
# module included), about 30 ms of every SQLite process's start-up.
_PARTIAL_INDEXES: list[Index] = []


def _live_unique(name: str, *columns: str) -> Index:
    index = Index(name, *columns, unique=True, sqlite_where=text(_LIVE))
    _PARTIAL_INDEXES.append(index)
    return index


def use_postgresql_options() -> None:
    """Give the partial indexes their PostgreSQL `WHERE` (idempotent). The store calls it when
    it opens a PostgreSQL database; Alembic's comparisons and DDL then see the whole schema."""
    for index in _PARTIAL_INDEXES:
        index.dialect_kwargs["postgresql_where"] = text(_LIVE)


def _pk() -> Mapped[int]:
    return mapped_column(Id, primary_key=True, autoincrement=True)


class Workspace(Base):
    __tablename__ = "workspace"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = _pk()
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(16))  # STANDARD | BASIC
    status: Mapped[str] = mapped_column(String(16), default="AVAILABLE")
    owner: Mapped[str] = mapped_column(String(128), default="")
    sql_url_dev: Mapped[str | None] = mapped_column(Text, nullable=True)
    sql_url_prod: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Variables the workspace gives its jobs (a JSON object of name -> value), on top of the
    # clean job environment (runners/environment.py).
    job_env: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    # The OS user (DolphinScheduler's "tenant") the workspace's jobs run as in each environment
    # when opcenter runs as root; None: the default job user (OPCENTER_JOB_USER).
    tenant_dev: Mapped[str | None] = mapped_column(Text, nullable=True)
    tenant_prod: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Files and folders the workspace's jobs may reach beyond their work directory: a JSON list
    # of {"path": "/abs/path", "write": false} (service/workspaces.py checks them).
    shared_paths: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)


class Workflow(Base):
    """A DataWorks business flow; `use_type` MANUAL_BIZ for manually triggered ones."""

    __tablename__ = "workflow"
    __table_args__ = (
        # Names are unique among live workflows; a deleted one keeps its row for run history.
        _live_unique("uq_workflow_live_name", "workspace_id", "name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    use_type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(128), default="")
    parameters: Mapped[str] = mapped_column(Text, default="")  # a parameter string `k=v k2=v2`
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)
    deleted_at: Mapped[int | None] = mapped_column(Millis, nullable=True)


class File(Base):
    """The draft a developer edits. `node_id` is assigned at its first submit."""

    __tablename__ = "file"
    __table_args__ = (
        # Names are unique among live files; a deleted one keeps its row (versions refer to it).
        _live_unique("uq_file_live_name", "workspace_id", "name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    workflow_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow.id"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    folder_path: Mapped[str] = mapped_column(String(1024))
    file_type: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text, default="")
    para_value: Mapped[str] = mapped_column(Text, default="")
    output_list: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of output names
    input_list: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of upstream outputs
    dependent_type: Mapped[str] = mapped_column(String(32), default="NONE")
    dependent_node_id_list: Mapped[str] = mapped_column(Text, default="")
    rerun_mode: Mapped[str] = mapped_column(String(32), default="ALL_ALLOWED")
    auto_rerun_times: Mapped[int] = mapped_column(Integer, default=0)
    auto_rerun_interval_millis: Mapped[int] = mapped_column(Integer, default=0)
    timeout_hours: Mapped[int] = mapped_column(Integer, default=0)  # 0: the 3-day ceiling
    scheduler_type: Mapped[str] = mapped_column(String(16), default="MANUAL")
    priority: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(128), default="")
    # DataWorks ResourceGroupIdentifier: with Celery workers, the queue of its attempts.
    resource_group: Mapped[str | None] = mapped_column(String(128), nullable=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("node.id"), nullable=True, unique=True)
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)
    deleted_at: Mapped[int | None] = mapped_column(Millis, nullable=True)


class Node(Base):
    """Allocates the node id of a file (one id for both environments, never reused)."""

    __tablename__ = "node"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    created_at: Mapped[int] = mapped_column(Millis)


class FileVersion(Base):
    """An immutable snapshot of a file made by SubmitFile."""

    __tablename__ = "file_version"
    __table_args__ = (
        UniqueConstraint("file_id", "version"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    file_id: Mapped[int] = mapped_column(ForeignKey("file.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id"))
    version: Mapped[int] = mapped_column(Integer)
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflow.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(256))
    file_type: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    para_value: Mapped[str] = mapped_column(Text)
    output_list: Mapped[str] = mapped_column(Text)
    input_list: Mapped[str] = mapped_column(Text)
    dependent_type: Mapped[str] = mapped_column(String(32))
    dependent_node_id_list: Mapped[str] = mapped_column(Text)
    rerun_mode: Mapped[str] = mapped_column(String(32))
    auto_rerun_times: Mapped[int] = mapped_column(Integer)
    auto_rerun_interval_millis: Mapped[int] = mapped_column(Integer)
    timeout_hours: Mapped[int] = mapped_column(Integer)
    scheduler_type: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(128))
    resource_group: Mapped[str | None] = mapped_column(String(128), nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    committed_by: Mapped[str] = mapped_column(String(128), default="")
    committed_at: Mapped[int] = mapped_column(Millis)


class NodeRelease(Base):
    """Which file version a node runs in one environment (DEV after submit, PROD after deploy)."""

    __tablename__ = "node_release"
    __table_args__ = (
        UniqueConstraint("node_id", "env"),
        Index("ix_node_release_flow", "workflow_id", "env"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id"))
    env: Mapped[str] = mapped_column(String(8))  # DEV | PROD
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    workflow_id: Mapped[int | None] = mapped_column(ForeignKey("workflow.id"), nullable=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("file.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("file_version.id"))
    released_at: Mapped[int] = mapped_column(Millis)
    offline_at: Mapped[int | None] = mapped_column(Millis, nullable=True)  # OfflineNode


class Deployment(Base):
    """A DeployFile request; `status` 0 ready, 1 succeeded, 2 failed (GetDeployment)."""

    __tablename__ = "deployment"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("file.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("file_version.id"))
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id"))
    name: Mapped[str] = mapped_column(String(256), default="")  # e.g. `submit load v2`
    from_env: Mapped[str] = mapped_column(String(8), default="DEV")
    to_env: Mapped[str] = mapped_column(String(8), default="PROD")
    status: Mapped[int] = mapped_column(Integer)
    error_message: Mapped[str] = mapped_column(Text, default="")
    creator: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[int] = mapped_column(Millis)
    executed_at: Mapped[int | None] = mapped_column(Millis, nullable=True)


class Run(Base):
    """One RunManualDagNodes call: its Dags share this id (`OpSeq`)."""

    __tablename__ = "run"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id"))
    env: Mapped[str] = mapped_column(String(8))
    dag_parameters: Mapped[str] = mapped_column(Text, default="{}")
    node_parameters: Mapped[str] = mapped_column(Text, default="{}")
    include_node_ids: Mapped[str] = mapped_column(Text, default="")
    exclude_node_ids: Mapped[str] = mapped_column(Text, default="")
    create_user: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[int] = mapped_column(Millis)


class Dag(Base):
    """One run of a workflow for one business date."""

    __tablename__ = "dag"
    __table_args__ = (
        Index("ix_dag_status", "status"),
        Index("ix_dag_modified_at", "modified_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # position of the date within its run, from 0
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id"))
    env: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(32), default="MANUAL")
    status: Mapped[str] = mapped_column(String(16))
    biz_date: Mapped[dt.date] = mapped_column(Date)
    bizdate_ms: Mapped[int] = mapped_column(Millis)
    gmtdate_ms: Mapped[int] = mapped_column(Millis)
    start_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    finish_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    create_user: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)
    # Bumped by every operator write to the Dag or its instances (not by the engine's own), so
    # an engine sees changes made by another process with one cheap query (engine/changes.py).
    revision: Mapped[int] = mapped_column(Integer, default=0)


class Instance(Base):
    """One node within one Dag; carries the snapshot it runs (version, resolved parameters)."""

    __tablename__ = "instance"
    __table_args__ = (
        # By Dag, and within a Dag by last change: the page's change feed reads what changed
        # in the Dags it watches since its last look (console/feed.py).
        Index("ix_instance_dag_modified", "dag_id", "modified_at"),
        Index("ix_instance_status", "status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    dag_id: Mapped[int] = mapped_column(ForeignKey("dag.id"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id"))
    env: Mapped[str] = mapped_column(String(8))
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("file_version.id"))
    node_name: Mapped[str] = mapped_column(String(256))
    file_type: Mapped[int] = mapped_column(Integer)
    task_type: Mapped[str] = mapped_column(String(16))  # MANUAL | SKIP | SKIP_UNCHOOSE
    status: Mapped[str] = mapped_column(String(16))
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    param_values: Mapped[str] = mapped_column(Text, default="")
    resolved_params: Mapped[str] = mapped_column(Text, default="{}")  # JSON named/positional
    bizdate_ms: Mapped[int] = mapped_column(Millis)
    cyctime_ms: Mapped[int] = mapped_column(Millis)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    auto_rerun_left: Mapped[int] = mapped_column(Integer, default=0)
    auto_rerun_interval_millis: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[int | None] = mapped_column(Millis, nullable=True)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    rerun_mode: Mapped[str] = mapped_column(String(32), default="ALL_ALLOWED")
    priority: Mapped[int] = mapped_column(Integer, default=1)
    owner: Mapped[str] = mapped_column(String(128), default="")
    create_user: Mapped[str] = mapped_column(String(128), default="")
    stopped_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    begin_wait_time_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    begin_wait_res_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    begin_running_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    finish_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    # Why the latest attempt ended as it did, when not by its own exit ("stopped by …",
    # "interrupted by a restart", "cannot start: …"); '' otherwise.
    error_message: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The process group of the latest attempt while it runs, as the executor reported it: group
    # id, the leader's start time (clock ticks since boot) and the machine's boot id. Recovery
    # kills a group that is still alive before anything is rerun (runners/reaper.py).
    pgid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    proc_start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    proc_boot: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)
    # Not a column: the AutoRerunTimes of the version the instance runs, read with it (one
    # primary-key lookup per row), for TaskRerunTime.
    auto_rerun_times: Mapped[int] = column_property(
        select(FileVersion.auto_rerun_times).where(FileVersion.id == version_id).scalar_subquery()
    )


class InstanceAttempt(Base):
    """One attempt of an instance (ListInstanceHistory; its id is the `InstanceHistoryId`):
    written when the attempt starts, updated when it ends."""

    __tablename__ = "instance_attempt"
    __table_args__ = (
        UniqueConstraint("instance_id", "attempt"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    dag_id: Mapped[int] = mapped_column(Id)
    workspace_id: Mapped[int] = mapped_column(Id)
    env: Mapped[str] = mapped_column(String(8))
    node_id: Mapped[int] = mapped_column(Id)
    version_id: Mapped[int] = mapped_column(ForeignKey("file_version.id"))  # the code it ran
    task_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # RUNNING, then how the attempt ended
    error_message: Mapped[str] = mapped_column(Text, default="", server_default="")
    begin_wait_time_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    begin_wait_res_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    begin_running_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    finish_time: Mapped[int | None] = mapped_column(Millis, nullable=True)
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)


class InstanceEdge(Base):
    """Same-cycle dependency between two instances of one Dag, fixed when the Dag is created."""

    __tablename__ = "instance_edge"

    dag_id: Mapped[int] = mapped_column(ForeignKey("dag.id"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("instance.id"), primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("instance.id"), primary_key=True, index=True)


class WorkerAttempt(Base):
    """One attempt handed to a Celery worker (OPCENTER_EXECUTOR=celery): which worker claimed
    it (a compare-and-set on this row, so a redelivered message never runs it twice), its
    heartbeat, a stop request, and how it ended. The scheduler reads these rows; the worker
    writes them."""

    __tablename__ = "worker_attempt"
    __table_args__ = (Index("ix_worker_attempt_state", "state"),)

    instance_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))  # queued | running | finished
    worker: Mapped[str] = mapped_column(String(256), default="")
    host: Mapped[str] = mapped_column(String(256), default="")
    pgid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    heartbeat_at: Mapped[int | None] = mapped_column(Millis, nullable=True)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[str] = mapped_column(Text, default="")  # the message's JSON, to send it again
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)


class LogChunk(Base):
    """A piece of an attempt's log written by a remote worker, so every API process can read
    the log while the job runs and after the worker is gone."""

    __tablename__ = "log_chunk"
    __table_args__ = (
        UniqueConstraint("instance_id", "attempt", "seq"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    instance_id: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[int] = mapped_column(Millis)


class WorkerProcess(Base):
    """A running `opcenter worker`: its queues, slots and last heartbeat."""

    __tablename__ = "worker_process"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    host: Mapped[str] = mapped_column(String(256))
    queues: Mapped[str] = mapped_column(Text)
    concurrency: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[int] = mapped_column(Millis)
    heartbeat_at: Mapped[int] = mapped_column(Millis)


# --- alerts: rules (CreateRemind, ...) and the outbox of the messages they raise ------------------
# Here, not in store/side_tables.py: the engine reads the rules and writes the messages in the
# transaction of the state change that raises them (store/alerts.py, `record_alert`).


class Remind(Base):
    """A custom alert rule of a workspace (CreateRemind). List-valued fields are JSON lists;
    what it watches is in `RemindTarget` (the workspace itself for RemindUnit PROJECT)."""

    __tablename__ = "reminds"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    remind_unit: Mapped[str] = mapped_column(String(16))  # PROJECT | BIZPROCESS | NODE
    remind_type: Mapped[str] = mapped_column(String(16))  # ERROR | FINISHED | TIMEOUT | UNFINISHED
    detail: Mapped[str] = mapped_column(Text, default="")
    alert_unit: Mapped[str] = mapped_column(String(16))  # OWNER | OTHER
    alert_targets: Mapped[str] = mapped_column(Text, default="[]")
    alert_methods: Mapped[str] = mapped_column(Text, default="[]")
    robot_urls: Mapped[str] = mapped_column(Text, default="[]")
    webhooks: Mapped[str] = mapped_column(Text, default="[]")
    alert_interval: Mapped[int] = mapped_column(Integer)  # seconds
    max_alert_times: Mapped[int] = mapped_column(Integer)
    dnd_end: Mapped[str | None] = mapped_column(String(5), nullable=True)  # HH:mm
    use_flag: Mapped[bool] = mapped_column(Boolean, default=True)
    founder: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[int] = mapped_column(Millis)
    modified_at: Mapped[int] = mapped_column(Millis)


class RemindTarget(Base):
    """What a rule watches: `kind` PROJECT (a workspace id), BIZPROCESS (a workflow id) or NODE
    (a node id). Indexed by target, so an event finds its rules in one query."""

    __tablename__ = "remind_targets"
    __table_args__ = (Index("ix_remind_targets_target", "kind", "target_id"),)

    remind_id: Mapped[int] = mapped_column(
        ForeignKey("reminds.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class AlertMessage(Base):
    """One alert raised by a rule for one event (its `id` is the AlertId): a durable outbox row,
    written in the transaction of the state change that raised it; `dedupe_key` makes that at
    most once per event. The rule's name and the node's are copied: the message outlives them."""

    __tablename__ = "alert_messages"
    __table_args__ = (
        Index("ix_alert_messages_workspace_created", "workspace_id", "created_at"),
        Index("ix_alert_messages_remind", "remind_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    remind_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    remind_name: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(String(32), default="REMIND_ALERT")
    trigger: Mapped[str] = mapped_column(String(16))  # the rule's RemindType that fired
    dag_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    instance_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    node_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    node_name: Mapped[str] = mapped_column(String(256), default="")
    node_owner: Mapped[str] = mapped_column(String(128), default="")
    instance_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    subject: Mapped[str] = mapped_column(String(512), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[int] = mapped_column(Millis)


class AlertDelivery(Base):
    """One receiver of an alert on one channel, and where its sending stands: `status`
    PENDING (to send at `next_attempt_at`), SENT or FAILED (given up after `attempts`)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "channel", "receiver"),
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = _pk()
    message_id: Mapped[int] = mapped_column(ForeignKey("alert_messages.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # MAIL | WEBHOOKS | DINGROBOTS | ...
    receiver: Mapped[str] = mapped_column(String(1024))  # a user id, or a robot/webhook URL
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int | None] = mapped_column(Millis, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[int | None] = mapped_column(Millis, nullable=True)


class AlertEvent(Base):
    """One event a rule saw (an attempt failed, an instance or a Dag finished, an instance ran
    too long or was not finished in time), keyed by `key`: recorded once, whether it raised a
    message (`message_id`) or was counted into the next message of its rule and run (the
    per-run budget, engine/alerts.py)."""

    __tablename__ = "alert_events"
    __table_args__ = (
        Index("ix_alert_events_budget", "remind_id", "run_id"),
        Index("ix_alert_events_created", "created_at"),
    )

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    remind_id: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[str] = mapped_column(String(16))
    dag_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    instance_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(Millis)


# --- tables no run needs, mapped on first use ----------------------------------------------------

# Identity and access, the audit trail, console sign-ins, request nonces, rate limits and folders
# are defined in store/side_tables.py, on the same `Base`: mapping a model costs every process at
# start-up (declarative scan, instrumentation, configuration; these 14 about 25 ms of CPU), and a
# run (`opcenter run`, the engine) never touches them. They load on first use of their names
# here (`from opcenter.store.tables import IamUser` works as before); `full_metadata()` gives
# the whole schema (Alembic, schema comparisons).
_SIDE_TABLES = frozenset(
    {
        "AuditEvent",
        "ConsoleSession",
        "Folder",
        "IamAccessKey",
        "IamAccount",
        "IamPolicy",
        "IamPolicyAttachment",
        "IamUser",
        "LoginFailure",
        "LoginPassword",
        "RateLimit",
        "RequestNonce",
        "WorkspaceMember",
        "WorkspaceMemberRole",
    }
)
__all__ += sorted(_SIDE_TABLES)


def __getattr__(name: str) -> Any:
    if name in _SIDE_TABLES:
        from opcenter.store import side_tables

        return getattr(side_tables, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def full_metadata() -> MetaData:
    """`Base.metadata` with every table of the schema, the side tables loaded."""
    from opcenter.store import side_tables  # noqa: F401  (defines them on Base)

    return Base.metadata
