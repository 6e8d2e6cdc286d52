"""What the authoring service functions return: frozen, plain values with snake_case fields.

Adapters render them (PascalCase JSON on the wire, tables in the CLI); nothing here knows a wire
format. Times are epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from opcenter.domain.model import (
    DEFAULT_AUTO_RERUN_INTERVAL_MILLIS,
    DEFAULT_AUTO_RERUN_TIMES,
    DeploymentStatus,
    Env,
    FileType,
    UseType,
    WorkspaceMode,
)

__all__ = [
    "BusinessView",
    "DeploymentView",
    "FileVersionView",
    "FileView",
    "FolderView",
    "NodeIOView",
    "NodeView",
    "Page",
    "ProjectView",
    "program_type",
]

T = TypeVar("T")


def program_type(file_type: int) -> str:
    """The node type name DataWorks shows as `ProgramType` (`DIDE_SHELL`, ...), else the code."""
    try:
        return FileType(file_type).name
    except ValueError:
        return str(file_type)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; `page_number` counts from 1."""

    items: tuple[T, ...]
    page_number: int
    page_size: int
    total_count: int


@dataclass(frozen=True)
class ProjectView:
    """A workspace (DataWorks project); `project_name` is the display name."""

    project_id: int
    project_identifier: str
    project_name: str
    project_description: str
    project_mode: WorkspaceMode
    status: str
    owner: str
    created_at: int
    modified_at: int

    @property
    def env_types(self) -> tuple[Env, ...]:
        return self.project_mode.envs

    @property
    def project_mode_code(self) -> int:
        """DataWorks `ProjectMode`: 2 basic, 3 standard."""
        return self.project_mode.project_mode

    @property
    def scheduler_max_retry_times(self) -> int:
        """The automatic reruns a node gets when its file does not set AutoRerunTimes."""
        return DEFAULT_AUTO_RERUN_TIMES

    @property
    def scheduler_retry_interval(self) -> int:
        """Milliseconds between them when the file does not set AutoRerunIntervalMillis."""
        return DEFAULT_AUTO_RERUN_INTERVAL_MILLIS


@dataclass(frozen=True)
class BusinessView:
    """A workflow (DataWorks business flow) with its workflow parameters (`k=v k2=v2`)."""

    business_id: int
    business_name: str
    project_id: int
    use_type: UseType
    description: str
    owner: str
    parameters: str
    created_at: int
    modified_at: int


@dataclass(frozen=True)
class FileView:
    """A file's draft. `current_version` is its latest submitted version (None: never
    submitted); `commit_status` is 1 when the draft equals that version, else 0."""

    file_id: int
    file_name: str
    project_id: int
    business_id: int | None
    use_type: UseType | None
    file_folder_path: str
    file_type: int
    content: str
    para_value: str
    output_list: tuple[str, ...]
    input_list: tuple[str, ...]
    dependent_type: str
    dependent_node_id_list: str
    rerun_mode: str
    auto_rerun_times: int
    auto_rerun_interval_millis: int
    timeout: int
    scheduler_type: str
    priority: int
    file_description: str
    owner: str
    node_id: int | None
    current_version: int | None
    commit_status: int
    created_at: int
    modified_at: int
    file_folder_id: str | None  # the folder whose path is `file_folder_path`
    resource_group: str | None = None  # ResourceGroupIdentifier: its attempts' Celery queue

    @property
    def program_type(self) -> str:
        return program_type(self.file_type)


@dataclass(frozen=True)
class FileVersionView:
    """One submitted version of a file (ListFileVersions, GetFileVersion): the draft as it was
    submitted, with `status` `COMMITTED`, or `DEPLOYED` once it has been released to PROD, and
    `is_current_prod` when PROD runs it now. `change_type` is `CREATE` for version 1, else
    `UPDATE`. `workflow_name` is the name of the workflow it belonged to, None when gone."""

    file_id: int
    file_version: int
    node_id: int
    business_id: int | None
    workflow_name: str | None
    use_type: UseType | None
    file_name: str
    file_type: int
    content: str
    para_value: str
    output_list: tuple[str, ...]
    input_list: tuple[str, ...]
    dependent_type: str
    dependent_node_id_list: str
    rerun_mode: str
    auto_rerun_times: int
    auto_rerun_interval_millis: int
    timeout: int
    scheduler_type: str
    priority: int
    file_description: str
    owner: str
    comment: str
    commit_user: str
    commit_time: int
    change_type: str
    status: str
    is_current_prod: bool

    @property
    def program_type(self) -> str:
        return program_type(self.file_type)


@dataclass(frozen=True)
class FolderView:
    """A folder of a workspace's files; `parent_id` is None for a root (`Business Flow`)."""

    folder_id: str
    folder_path: str
    parent_id: str | None
    project_id: int
    created_at: int
    modified_at: int


@dataclass(frozen=True)
class DeploymentView:
    """A publication of one file version (SubmitFile, DeployFile, DeleteFile) to `to_env`.

    `from_env` is `LOCAL` for a submit (DataWorks FromEnvironment 0) or `DEV` for a deploy
    (1); `to_env` is `DEV` or `PROD` (ToEnvironment 1 or 2)."""

    deployment_id: int
    name: str
    project_id: int
    file_id: int
    node_id: int
    file_version: int
    from_env: str
    to_env: str
    status: DeploymentStatus
    error_message: str
    creator: str
    created_at: int
    executed_at: int | None


@dataclass(frozen=True)
class NodeView:
    """A node as released in one environment: the file version it runs there.

    `scheduler_type` is the version's, except `SKIP` (dry run) while the node is offline there.
    """

    node_id: int
    node_name: str
    project_id: int
    business_id: int | None
    env: Env
    file_id: int
    file_version: int
    file_type: int
    scheduler_type: str
    para_value: str
    priority: int
    owner: str
    description: str
    rerun_mode: str
    auto_rerun_times: int
    auto_rerun_interval_millis: int
    timeout_hours: int
    output_list: tuple[str, ...]
    input_list: tuple[str, ...]
    created_at: int
    deploy_date: int
    offline_at: int | None = None  # OfflineNode took it offline there (None: online)

    @property
    def program_type(self) -> str:
        return program_type(self.file_type)

    @property
    def offline(self) -> bool:
        return self.offline_at is not None

    @property
    def repeatability(self) -> bool:
        return self.rerun_mode != "ALL_DENIED"

    @property
    def repeat_mode(self) -> int:
        """DataWorks `RepeatMode`: 0 rerun on failure only, 1 always, 2 never."""
        return {"FAILURE_ALLOWED": 0, "ALL_ALLOWED": 1}.get(self.rerun_mode, 2)


@dataclass(frozen=True)
class NodeIOView:
    """One input or output of a node in one environment (ListNodeIO, ListNodeInputOrOutput).

    `data` is the output name; `node_id` the node on the other side of the edge: for an input,
    the node that produces it; for an output, a node that consumes it. None when there is no
    such node in the environment (the workspace root, an output nobody consumes)."""

    data: str
    node_id: int | None
    table_name: str = ""
