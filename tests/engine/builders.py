"""Building deployed manual workflows through the authoring services, and waiting on runs.

Every test of the engine and of the running operations sets up its workflows here, so the
setup goes through the same service functions a user calls (create, submit, deploy).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opcenter.domain.model import DagStatus, FileType
from opcenter.service import deployments, files, workflows, workspaces
from opcenter.service.context import ServiceContext
from opcenter.service.history import list_instance_history
from opcenter.service.instances import get_manual_dag_instances
from opcenter.service.logs import get_instance_log
from opcenter.service.run_views import InstanceView
from opcenter.service.runs import get_dag, start_manual_run

__all__ = [
    "Flow",
    "NodeDef",
    "attempt_log",
    "biz",
    "by_name",
    "make_flow",
    "make_workspace",
    "node",
    "run_flow",
    "share_folder",
    "wait_dag",
    "wait_for",
]

KINDS = {
    "shell": FileType.DIDE_SHELL,
    "python": FileType.PYTHON,
    "sql": FileType.ODPS_SQL,
    "virtual": FileType.VIRTUAL,
}
YESTERDAY = dt.date.today() - dt.timedelta(days=2)  # safely "at most today - 1" in any zone


def biz(day: dt.date | None = None, days_ago: int = 0) -> str:
    """A BizDate in the API form; default: two days ago."""
    value = (day or YESTERDAY) - dt.timedelta(days=days_ago)
    return f"{value.isoformat()} 00:00:00"


@dataclass
class NodeDef:
    name: str
    kind: str = "virtual"
    code: str = ""
    params: str = ""
    after: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


def node(
    name: str,
    kind: str = "virtual",
    code: str = "",
    params: str = "",
    after: Iterable[str] = (),
    **options: Any,
) -> NodeDef:
    return NodeDef(name, kind, code, params, tuple(after), options)


@dataclass
class Flow:
    ctx: ServiceContext
    workspace: str
    project_id: int
    name: str
    node_ids: dict[str, int]
    file_ids: dict[str, int]

    def id(self, name: str) -> int:
        return self.node_ids[name]

    def ids(self, *names: str) -> str:
        return ",".join(str(self.node_ids[n]) for n in names)


def make_workspace(ctx: ServiceContext, identifier: str = "ws", mode: str = "STANDARD") -> int:
    return workspaces.create_project(
        ctx, project_identifier=identifier, project_name=identifier, project_mode=mode
    ).project_id


def make_flow(
    ctx: ServiceContext,
    nodes: Iterable[NodeDef],
    *,
    workspace: str = "ws",
    name: str = "flow",
    parameters: str = "",
    deploy: bool = True,
    mode: str = "STANDARD",
    create_workspace: bool = True,
    shared: Iterable[Path] = (),
) -> Flow:
    """A MANUAL_BIZ workflow with the given nodes (edges from `after`), submitted and (unless
    `deploy` is False) deployed to PROD. `shared`: folders the workspace's jobs may read and
    write (made, and open to the job users), for tests whose jobs leave markers outside their
    work directory: a job reaches nothing else (runners/sandbox.py)."""
    project_id = (
        make_workspace(ctx, workspace, mode)
        if create_workspace
        else workspaces.get_project(ctx, project_identifier=workspace).project_id
    )
    for folder in shared:
        share_folder(ctx, workspace, folder)
    workflows.create_business(ctx, project_id=project_id, business_name=name, parameters=parameters)
    file_ids: dict[str, int] = {}
    node_ids: dict[str, int] = {}
    for item in nodes:
        view = files.create_file(
            ctx,
            project_id=project_id,
            file_name=item.name,
            file_folder_path=f"Business Flow/{name}/{item.kind}",
            file_type=int(KINDS[item.kind]),
            content=item.code,
            para_value=item.params,
            output_list=[f"{workspace}.{item.name}"],
            input_list=[f"{workspace}.{p}" for p in item.after] or [f"{workspace}_root"],
            **item.options,
        )
        file_ids[item.name] = view.file_id
        dep = deployments.submit_file(ctx, project_id=project_id, file_id=view.file_id)
        node_ids[item.name] = dep.node_id
    if deploy and mode == "STANDARD":
        for file_id in file_ids.values():
            deployments.deploy_file(ctx, project_id=project_id, file_id=file_id)
    return Flow(ctx, workspace, project_id, name, node_ids, file_ids)


def share_folder(ctx: ServiceContext, workspace: str, folder: Path) -> Path:
    """Make `folder`, open it to every user (a job may run as a tenant user) and share it with
    the workspace's jobs, read-write."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)
    workspaces.share_path(ctx, project_identifier=workspace, path=str(folder), write=True)
    return folder


def run_flow(flow: Flow, *, env: str = "PROD", **kw: Any):  # type: ignore[no-untyped-def]
    if "biz_date" not in kw and "start_biz_date" not in kw:
        kw["biz_date"] = biz()
    return start_manual_run(
        flow.ctx, project_env=env, project_name=flow.workspace, flow_name=flow.name, **kw
    )


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def wait_dag(
    ctx: ServiceContext,
    dag_id: int,
    statuses: Iterable[DagStatus] = (DagStatus.SUCCESS, DagStatus.FAILURE),
    timeout: float = 15.0,
    env: str = "PROD",
) -> DagStatus:
    wanted = set(statuses)

    def done() -> DagStatus | None:
        status = get_dag(ctx, dag_id=dag_id, project_env=env).status
        return status if status in wanted else None

    return wait_for(done, timeout)


def by_name(ctx: ServiceContext, dag_id: int, env: str = "PROD") -> dict[str, InstanceView]:
    """The instances of a Dag keyed by node name."""
    return {i.node_name: i for i in get_manual_dag_instances(ctx, dag_id=dag_id, project_env=env)}


def attempt_log(ctx: ServiceContext, instance_id: int, attempt: int, env: str = "PROD") -> str:
    """GetInstanceLog of one attempt, by the InstanceHistoryId ListInstanceHistory gives it."""
    history = {
        a.attempt: a for a in list_instance_history(ctx, instance_id=instance_id, project_env=env)
    }
    entry = history[attempt]
    assert entry.recorded, f"attempt {attempt} of instance {instance_id} has no attempt row"
    return get_instance_log(
        ctx, instance_id=instance_id, project_env=env, instance_history_id=entry.instance_history_id
    )
