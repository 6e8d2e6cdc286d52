"""Files (the drafts developers edit): CreateFile, GetFile, ListFiles, UpdateFile, DeleteFile.

`FileFolderPath` ties a file to its workflow (`Business Flow/<workflow>/...`). `OutputList`
defaults to `<workspace identifier>.<file name>` (DataWorks' `projectName.nodeName` output; it
stays as it is when the file is renamed); `InputList` names upstream outputs. Inputs, the
FileType's runnability and cycles are checked at submit (see `deployments.py`); the form of
every field is checked here. Deleting keeps the row (versions and runs refer to it) and takes
its node out of every environment.

Every folder of a file's path exists (`folders.py`): creating or moving a file creates the
missing ones, and `FileFolderId` is the id of the folder at its `FileFolderPath`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.flowspec import RESOURCE_GROUP
from opcenter.domain.model import (
    DEFAULT_AUTO_RERUN_INTERVAL_MILLIS,
    DEFAULT_AUTO_RERUN_TIMES,
    DeploymentStatus,
    UseType,
    WorkspaceMode,
)
from opcenter.errors import Conflict, InvalidParameter
from opcenter.service import _fields as fields
from opcenter.service import folders
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.flows import root_output
from opcenter.service.lookup import (
    check_paging,
    flush_unique,
    resolve_file,
    resolve_workflow,
    resolve_workspace,
)
from opcenter.service.views import FileView, Page
from opcenter.store.tables import (
    Deployment,
    File,
    FileVersion,
    NodeRelease,
    Workflow,
    Workspace,
)

__all__ = [
    "VERSIONED_FIELDS",
    "create_file",
    "delete_file",
    "file_view",
    "get_file",
    "latest_version",
    "latest_versions",
    "list_files",
    "matches_draft",
    "update_file",
]

# The draft fields a FileVersion snapshots (same names on File and FileVersion).
VERSIONED_FIELDS = (
    "workflow_id",
    "name",
    "file_type",
    "content",
    "para_value",
    "output_list",
    "input_list",
    "dependent_type",
    "dependent_node_id_list",
    "rerun_mode",
    "auto_rerun_times",
    "auto_rerun_interval_millis",
    "timeout_hours",
    "scheduler_type",
    "priority",
    "description",
    "owner",
    "resource_group",
)
MAX_AUTO_RERUN_TIMES = 10
MAX_AUTO_RERUN_INTERVAL_MILLIS = 30 * 60 * 1000
MAX_TIMEOUT_HOURS = 168  # 0 means the 3-day ceiling of manual instances


def latest_version(session: Session, file_id: int) -> FileVersion | None:
    return session.scalar(
        sa.select(FileVersion)
        .where(FileVersion.file_id == file_id)
        .order_by(FileVersion.version.desc())
        .limit(1)
    )


def latest_versions(session: Session, file_ids: Sequence[int]) -> dict[int, FileVersion]:
    """file id -> its latest version, for files that have one: one query for a whole page."""
    if not file_ids:
        return {}
    newest = (
        sa.select(FileVersion.file_id, sa.func.max(FileVersion.version).label("version"))
        .where(FileVersion.file_id.in_(file_ids))
        .group_by(FileVersion.file_id)
        .subquery()
    )
    rows = session.scalars(
        sa.select(FileVersion).join(
            newest,
            (FileVersion.file_id == newest.c.file_id) & (FileVersion.version == newest.c.version),
        )
    )
    return {v.file_id: v for v in rows}


def matches_draft(file: File, version: FileVersion | None) -> bool:
    """True when `version` snapshots the file's draft as it is now."""
    return version is not None and all(
        getattr(file, f) == getattr(version, f) for f in VERSIONED_FIELDS
    )


def file_view(
    file: File, workflow: Workflow | None, latest: FileVersion | None, folder_id: str | None
) -> FileView:
    clean = matches_draft(file, latest)
    return FileView(
        file_id=file.id,
        file_name=file.name,
        project_id=file.workspace_id,
        business_id=file.workflow_id,
        use_type=UseType(workflow.use_type) if workflow is not None else None,
        file_folder_path=file.folder_path,
        file_type=file.file_type,
        content=file.content,
        para_value=file.para_value,
        output_list=tuple(json.loads(file.output_list)),
        input_list=tuple(json.loads(file.input_list)),
        dependent_type=file.dependent_type,
        dependent_node_id_list=file.dependent_node_id_list,
        rerun_mode=file.rerun_mode,
        auto_rerun_times=file.auto_rerun_times,
        auto_rerun_interval_millis=file.auto_rerun_interval_millis,
        timeout=file.timeout_hours,
        scheduler_type=file.scheduler_type,
        priority=file.priority,
        file_description=file.description,
        owner=file.owner,
        node_id=file.node_id,
        current_version=latest.version if latest is not None else None,
        commit_status=1 if clean else 0,
        created_at=file.created_at,
        modified_at=file.modified_at,
        file_folder_id=folder_id,
        resource_group=file.resource_group,
    )


def _with_folder_ids(
    ctx: ServiceContext, workspace_id: int, views: Sequence[FileView], ids: dict[str, str]
) -> tuple[FileView, ...]:
    """The views with `file_folder_id` filled from `ids` (folder path → id, as read with the
    views). Files made before folders existed have none yet: their workspace's folders are
    created then (`folders.backfill`)."""
    paths = {v.file_folder_path for v in views}
    if paths - ids.keys():
        folders.backfill(ctx, workspace_id)
        with ctx.db.transaction(readonly=True) as session:
            ids = folders.folder_ids(session, workspace_id, paths)
    return tuple(replace(v, file_folder_id=ids.get(v.file_folder_path)) for v in views)


@dataclass
class _Changes:
    """The validated fields of a CreateFile/UpdateFile request; None: not given."""

    name: str | None = None
    folder: tuple[str, str] | None = None  # (path, workflow name)
    file_type: int | None = None
    content: str | None = None
    para_value: str | None = None
    outputs: tuple[str, ...] | None = None
    inputs: tuple[str, ...] | None = None
    dependent_type: str | None = None
    dependent_node_id_list: str | None = None
    rerun_mode: str | None = None
    auto_rerun_times: int | None = None
    auto_rerun_interval_millis: int | None = None
    timeout_hours: int | None = None
    scheduler_type: str | None = None
    description: str | None = None
    owner: str | None = None
    resource_group: str | None = None


_GROUP = RESOURCE_GROUP  # the form a Spec `runtimeResource.resourceGroup` must have too


def _check_group(value: str) -> str:
    """A resource group names a Celery queue: letters, digits, `_`, `.`, `-`."""
    if not _GROUP.match(value):
        raise InvalidParameter(
            f"ResourceGroupIdentifier={value!r} must be 1 to 128 letters, digits, '_', '.' or '-'."
        )
    return value


def _validate(
    *,
    file_name: str | None,
    file_folder_path: str | None,
    file_type: int | None,
    content: str | None,
    para_value: str | None,
    output_list: str | Sequence[str] | None,
    input_list: str | Sequence[str] | None,
    dependent_type: str | None,
    dependent_node_id_list: str | Sequence[int] | None,
    rerun_mode: str | None,
    auto_rerun_times: int | None,
    auto_rerun_interval_millis: int | None,
    timeout: int | None,
    scheduler_type: str | None,
    file_description: str | None,
    owner: str | None,
    resource_group: str | None = None,
) -> _Changes:
    def given(value: object) -> bool:
        return value is not None

    return _Changes(
        name=fields.check_name(file_name, "FileName") if given(file_name) else None,
        folder=fields.parse_folder_path(file_folder_path) if given(file_folder_path) else None,
        file_type=fields.check_file_type(file_type) if given(file_type) else None,
        content=content,
        para_value=fields.check_para_value(para_value) if given(para_value) else None,
        outputs=fields.name_list(output_list, "OutputList") if given(output_list) else None,
        inputs=fields.name_list(input_list, "InputList") if given(input_list) else None,
        dependent_type=(
            fields.check_choice(dependent_type, fields.DEPENDENT_TYPES, "DependentType")
            if dependent_type is not None
            else None
        ),
        dependent_node_id_list=(
            fields.check_node_id_list(dependent_node_id_list)
            if given(dependent_node_id_list)
            else None
        ),
        rerun_mode=(
            fields.check_choice(rerun_mode, fields.RERUN_MODES, "RerunMode")
            if rerun_mode is not None
            else None
        ),
        auto_rerun_times=(
            fields.check_range(auto_rerun_times, 0, MAX_AUTO_RERUN_TIMES, "AutoRerunTimes")
            if auto_rerun_times is not None
            else None
        ),
        auto_rerun_interval_millis=(
            fields.check_range(
                auto_rerun_interval_millis,
                0,
                MAX_AUTO_RERUN_INTERVAL_MILLIS,
                "AutoRerunIntervalMillis",
            )
            if auto_rerun_interval_millis is not None
            else None
        ),
        timeout_hours=(
            fields.check_range(timeout, 0, MAX_TIMEOUT_HOURS, "Timeout")
            if timeout is not None
            else None
        ),
        scheduler_type=(
            fields.check_choice(scheduler_type, fields.SCHEDULER_TYPES, "SchedulerType")
            if scheduler_type is not None
            else None
        ),
        description=file_description,
        owner=owner,
        # "" clears the group (UpdateFile); None leaves it as it is.
        resource_group=_check_group(resource_group) if resource_group else resource_group,
    )


def _check_name_free(session: Session, ws: Workspace, name: str, except_id: int) -> None:
    taken = session.scalar(
        sa.select(File.id).where(
            File.workspace_id == ws.id,
            File.name == name,
            File.deleted_at.is_(None),
            File.id != except_id,
        )
    )
    if taken is not None:
        raise _duplicate_name(ws, name)


def _duplicate_name(ws: Workspace, name: str) -> Conflict:
    return Conflict(
        "File",
        f"FileName={name!r} is already a file of workspace {ws.identifier!r}.",
        reason="Duplicate",
    )


def _check_outputs(
    session: Session, ws: Workspace, outputs: tuple[str, ...], except_id: int
) -> None:
    """An output name belongs to one live file of the workspace; the root is nobody's."""
    if root_output(ws.identifier) in outputs:
        raise InvalidParameter(
            f"OutputList must not name the workspace root {root_output(ws.identifier)!r}."
        )
    others = session.execute(
        sa.select(File.name, File.output_list).where(
            File.workspace_id == ws.id, File.deleted_at.is_(None), File.id != except_id
        )
    ).all()
    for other_name, other_outputs in others:
        for name in sorted(set(outputs) & set(json.loads(other_outputs))):
            raise Conflict(
                "File",
                f"OutputList entry {name!r} is already an output of file {other_name!r}.",
                reason="Duplicate",
            )


def _apply(file: File, changes: _Changes) -> None:
    simple = {
        "name": changes.name,
        "file_type": changes.file_type,
        "content": changes.content,
        "para_value": changes.para_value,
        "dependent_type": changes.dependent_type,
        "dependent_node_id_list": changes.dependent_node_id_list,
        "rerun_mode": changes.rerun_mode,
        "auto_rerun_times": changes.auto_rerun_times,
        "auto_rerun_interval_millis": changes.auto_rerun_interval_millis,
        "timeout_hours": changes.timeout_hours,
        "scheduler_type": changes.scheduler_type,
        "description": changes.description,
        "owner": changes.owner,
        "resource_group": changes.resource_group,
    }
    for attr, value in simple.items():
        if value is not None:
            setattr(file, attr, value)
    if changes.resource_group == "":
        file.resource_group = None
    if changes.outputs is not None:
        file.output_list = json.dumps(list(changes.outputs), ensure_ascii=False)
    if changes.inputs is not None:
        file.input_list = json.dumps(list(changes.inputs), ensure_ascii=False)


def create_file(
    ctx: ServiceContext,
    *,
    file_name: str,
    file_folder_path: str,
    file_type: int,
    content: str = "",
    para_value: str = "",
    output_list: str | Sequence[str] | None = None,
    input_list: str | Sequence[str] | None = None,
    dependent_type: str = "NONE",
    dependent_node_id_list: str | Sequence[int] | None = None,
    rerun_mode: str = "ALL_ALLOWED",
    auto_rerun_times: int = DEFAULT_AUTO_RERUN_TIMES,
    auto_rerun_interval_millis: int = DEFAULT_AUTO_RERUN_INTERVAL_MILLIS,
    timeout: int = 0,
    scheduler_type: str | None = None,
    file_description: str = "",
    owner: str | None = None,
    resource_group: str | None = None,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> FileView:
    """Create a draft in the workflow its `FileFolderPath` names.

    `SchedulerType` defaults to MANUAL in a MANUAL_BIZ workflow, NORMAL otherwise; `owner`
    to the caller. A taken name or output → `Invalid.File.Duplicate`; an unknown workflow →
    `Invalid.Business.NotExists`.
    """
    changes = _validate(
        file_name=file_name,
        file_folder_path=file_folder_path,
        file_type=file_type,
        content=content or "",
        para_value=para_value or "",
        output_list=output_list,
        input_list=input_list if input_list is not None else (),
        dependent_type=dependent_type,
        dependent_node_id_list=dependent_node_id_list or "",
        rerun_mode=rerun_mode,
        auto_rerun_times=auto_rerun_times,
        auto_rerun_interval_millis=auto_rerun_interval_millis,
        timeout=timeout,
        scheduler_type=scheduler_type,
        file_description=file_description or "",
        owner=owner or caller.name,
        resource_group=resource_group,
    )
    assert changes.name is not None and changes.folder is not None
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        wf = resolve_workflow(session, ws, name=changes.folder[1])
        _check_name_free(session, ws, changes.name, except_id=0)
        if changes.outputs is None or not changes.outputs:
            changes.outputs = (f"{ws.identifier}.{changes.name}",)
        _check_outputs(session, ws, changes.outputs, except_id=0)
        if changes.scheduler_type is None:
            manual = wf.use_type == UseType.MANUAL_BIZ.value
            changes.scheduler_type = "MANUAL" if manual else "NORMAL"
        now = ctx.clock()
        file = File(
            workspace_id=ws.id,
            workflow_id=wf.id,
            folder_path=changes.folder[0],
            priority=1,
            created_at=now,
            modified_at=now,
        )
        _apply(file, changes)
        session.add(file)
        flush_unique(session, _duplicate_name(ws, changes.name))
        folder = folders.ensure_folder(session, ws.id, file.folder_path, now)
        return file_view(file, wf, None, folder.id)


def get_file(
    ctx: ServiceContext,
    *,
    file_id: int | None = None,
    node_id: int | None = None,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> FileView:
    """One live file by `FileId` or by its `NodeId`."""
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        file = resolve_file(session, ws, file_id=file_id, node_id=node_id)
        wf = session.get(Workflow, file.workflow_id) if file.workflow_id else None
        view = file_view(file, wf, latest_version(session, file.id), None)
        ids = folders.folder_ids(session, ws.id, [file.folder_path])
    return _with_folder_ids(ctx, ws.id, [view], ids)[0]


def _file_types(value: str | Sequence[int] | None) -> list[int] | None:
    if value is None or value == "":
        return None
    pieces = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    codes = []
    for piece in pieces:
        if not piece.strip().isdigit():
            raise InvalidParameter(f"FileTypes entry {piece.strip()!r} is not a FileType code.")
        codes.append(int(piece))
    return codes


def _list_filters(
    ws: Workspace,
    *,
    keyword: str | None,
    exact_file_name: str | None,
    file_folder_path: str | None,
    file_types: str | Sequence[int] | None,
    node_id: int | None,
    owner: str | None,
    business_id: int | None,
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [
        File.workspace_id == ws.id,
        File.deleted_at.is_(None),
    ]
    if keyword:
        where.append(File.name.contains(keyword, autoescape=True))
    if exact_file_name:
        where.append(File.name == exact_file_name)
    if file_folder_path:
        folder = "/".join(s.strip() for s in file_folder_path.split("/") if s.strip())
        where.append(sa.or_(File.folder_path == folder, File.folder_path.startswith(folder + "/")))
    if (codes := _file_types(file_types)) is not None:
        where.append(File.file_type.in_(codes))
    if node_id is not None:
        where.append(File.node_id == node_id)
    if owner:
        where.append(File.owner == owner)
    if business_id is not None:
        where.append(File.workflow_id == business_id)
    return where


def list_files(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_identifier: str | None = None,
    keyword: str | None = None,
    exact_file_name: str | None = None,
    file_folder_path: str | None = None,
    file_types: str | Sequence[int] | None = None,
    node_id: int | None = None,
    owner: str | None = None,
    use_type: str | None = None,
    business_id: int | None = None,
    page_number: int = 1,
    page_size: int = 10,
    caller: Caller = Caller(),
) -> Page[FileView]:
    """Live files of a workspace in id order. `file_folder_path` matches the folder and its
    subfolders; `use_type` the workflow's UseType; `business_id` the workflow (ours)."""
    offset, limit = check_paging(page_number, page_size)
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        where = _list_filters(
            ws,
            keyword=keyword,
            exact_file_name=exact_file_name,
            file_folder_path=file_folder_path,
            file_types=file_types,
            node_id=node_id,
            owner=owner,
            business_id=business_id,
        )
        query = sa.select(File, Workflow).outerjoin(Workflow, Workflow.id == File.workflow_id)
        if use_type:
            where.append(Workflow.use_type == use_type)
        total = session.scalar(
            sa.select(sa.func.count())
            .select_from(File)
            .outerjoin(Workflow, Workflow.id == File.workflow_id)
            .where(*where)
        )
        rows = session.execute(
            query.where(*where).order_by(File.id).offset(offset).limit(limit)
        ).all()
        latest = latest_versions(session, [f.id for f, _ in rows])
        items = [file_view(f, wf, latest.get(f.id), None) for f, wf in rows]
        ids = folders.folder_ids(session, ws.id, {f.folder_path for f, _ in rows})
    return Page(
        items=_with_folder_ids(ctx, ws.id, items, ids),
        page_number=page_number,
        page_size=page_size,
        total_count=total or 0,
    )


def update_file(
    ctx: ServiceContext,
    *,
    file_id: int,
    file_name: str | None = None,
    file_folder_path: str | None = None,
    content: str | None = None,
    para_value: str | None = None,
    output_list: str | Sequence[str] | None = None,
    input_list: str | Sequence[str] | None = None,
    dependent_type: str | None = None,
    dependent_node_id_list: str | Sequence[int] | None = None,
    rerun_mode: str | None = None,
    auto_rerun_times: int | None = None,
    auto_rerun_interval_millis: int | None = None,
    timeout: int | None = None,
    scheduler_type: str | None = None,
    file_description: str | None = None,
    owner: str | None = None,
    resource_group: str | None = None,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> FileView:
    """Change the given fields of a draft (None: unchanged; FileType cannot change, as in
    UpdateFile). An empty `output_list` restores the default output. Nodes change only when
    the file is submitted (DEV) and deployed (PROD)."""
    changes = _validate(
        file_name=file_name,
        file_folder_path=file_folder_path,
        file_type=None,
        content=content,
        para_value=para_value,
        output_list=output_list,
        input_list=input_list,
        dependent_type=dependent_type,
        dependent_node_id_list=dependent_node_id_list,
        rerun_mode=rerun_mode,
        auto_rerun_times=auto_rerun_times,
        auto_rerun_interval_millis=auto_rerun_interval_millis,
        timeout=timeout,
        scheduler_type=scheduler_type,
        file_description=file_description,
        owner=owner,
        resource_group=resource_group,
    )
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        file = resolve_file(session, ws, file_id=file_id)
        if changes.name is not None:
            _check_name_free(session, ws, changes.name, except_id=file.id)
        if changes.outputs is not None:
            if not changes.outputs:
                changes.outputs = (f"{ws.identifier}.{changes.name or file.name}",)
            _check_outputs(session, ws, changes.outputs, except_id=file.id)
        if changes.folder is not None:
            wf = resolve_workflow(session, ws, name=changes.folder[1])
            file.workflow_id = wf.id
            file.folder_path = changes.folder[0]
        _apply(file, changes)
        file.modified_at = ctx.clock()
        flush_unique(session, _duplicate_name(ws, file.name))
        folder = folders.ensure_folder(session, ws.id, file.folder_path, file.modified_at)
        wf_row = session.get(Workflow, file.workflow_id) if file.workflow_id else None
        return file_view(file, wf_row, latest_version(session, file.id), folder.id)


def delete_file(
    ctx: ServiceContext,
    *,
    file_id: int,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> int | None:
    """Delete a file. A submitted one also leaves every environment at once: its node
    releases are removed and a deployment records that; its id is returned (DataWorks'
    `DeploymentId`). A never-submitted file returns None."""
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        file = resolve_file(session, ws, file_id=file_id)
        now = ctx.clock()
        file.deleted_at = now
        file.modified_at = now
        latest = latest_version(session, file.id)
        if file.node_id is None or latest is None:
            return None
        session.execute(sa.delete(NodeRelease).where(NodeRelease.node_id == file.node_id))
        basic = ws.mode == WorkspaceMode.BASIC.value
        deployment = Deployment(
            workspace_id=ws.id,
            file_id=file.id,
            version_id=latest.id,
            node_id=file.node_id,
            name=f"delete {file.name}",
            from_env="LOCAL" if basic else "DEV",
            to_env="PROD",
            status=int(DeploymentStatus.SUCCESS),
            error_message="",
            creator=caller.name,
            created_at=now,
            executed_at=now,
        )
        session.add(deployment)
        session.flush()
        return deployment.id
