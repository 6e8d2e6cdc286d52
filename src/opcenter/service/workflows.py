"""Workflows (DataWorks business flows): CreateBusiness, GetBusiness, ListBusiness,
UpdateBusiness, DeleteBusiness.

`UseType` `MANUAL_BIZ` marks a manually triggered workflow (the default here); `NORMAL` is
accepted and stored. A workflow carries its parameters with default values as a parameter
string (`k=v k2=v2`). Deleting keeps the row for the run history (names become free again).

A workflow owns its folder `Business Flow/<name>` (`folders.py`): created with it, moved when
it is renamed (with the folders and files inside), removed when it is deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from opcenter.domain.model import UseType
from opcenter.errors import Conflict, InvalidParameter
from opcenter.service import folders
from opcenter.service._fields import check_name, check_workflow_parameters
from opcenter.service.context import Caller, ServiceContext
from opcenter.service.lookup import (
    check_paging,
    flush_unique,
    resolve_workflow,
    resolve_workspace,
)
from opcenter.service.views import BusinessView, Page
from opcenter.store.tables import File, Workflow, Workspace

__all__ = [
    "business_view",
    "create_business",
    "delete_business",
    "get_business",
    "list_business",
    "update_business",
]


def business_view(wf: Workflow) -> BusinessView:
    return BusinessView(
        business_id=wf.id,
        business_name=wf.name,
        project_id=wf.workspace_id,
        use_type=UseType(wf.use_type),
        description=wf.description,
        owner=wf.owner,
        parameters=wf.parameters,
        created_at=wf.created_at,
        modified_at=wf.modified_at,
    )


def _use_type(value: UseType | str) -> UseType:
    try:
        return UseType(value)
    except ValueError:
        raise InvalidParameter(f"UseType={value!r} is not one of MANUAL_BIZ, NORMAL.") from None


def _duplicate(ws: Workspace, name: str) -> Conflict:
    return Conflict(
        "Business",
        f"BusinessName={name!r} is already a workflow of workspace {ws.identifier!r}.",
        reason="Duplicate",
    )


def _check_free(session: Session, ws: Workspace, name: str, *, except_id: int = 0) -> None:
    taken = session.scalar(
        sa.select(Workflow.id).where(
            Workflow.workspace_id == ws.id,
            Workflow.name == name,
            Workflow.deleted_at.is_(None),
            Workflow.id != except_id,
        )
    )
    if taken is not None:
        raise _duplicate(ws, name)


def create_business(
    ctx: ServiceContext,
    *,
    business_name: str,
    use_type: UseType | str = UseType.MANUAL_BIZ,
    description: str = "",
    owner: str | None = None,
    parameters: str = "",
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> BusinessView:
    """Create a workflow; a name already used in the workspace → `Invalid.Business.Duplicate`."""
    name = check_name(business_name, "BusinessName")
    kind = _use_type(use_type)
    params = check_workflow_parameters(parameters)
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        _check_free(session, ws, name)
        now = ctx.clock()
        wf = Workflow(
            workspace_id=ws.id,
            name=name,
            use_type=kind.value,
            description=description or "",
            owner=owner or caller.name,
            parameters=params,
            created_at=now,
            modified_at=now,
        )
        session.add(wf)
        flush_unique(session, _duplicate(ws, name))
        folders.ensure_folder(session, ws.id, f"{folders.WORKFLOW_ROOT}/{name}", now)
        return business_view(wf)


def get_business(
    ctx: ServiceContext,
    *,
    business_id: int | None = None,
    business_name: str | None = None,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> BusinessView:
    """One live workflow by `BusinessId` (or by name, a convenience of ours)."""
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        wf = resolve_workflow(session, ws, name=business_name, business_id=business_id)
        return business_view(wf)


def list_business(
    ctx: ServiceContext,
    *,
    project_id: int | None = None,
    project_identifier: str | None = None,
    keyword: str | None = None,
    page_number: int = 1,
    page_size: int = 10,
    caller: Caller = Caller(),
) -> Page[BusinessView]:
    """Live workflows of a workspace in id order; `keyword` matches part of the name."""
    offset, limit = check_paging(page_number, page_size)
    with ctx.db.transaction(readonly=True) as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        where = [Workflow.workspace_id == ws.id, Workflow.deleted_at.is_(None)]
        if keyword:
            where.append(Workflow.name.contains(keyword, autoescape=True))
        total = session.scalar(sa.select(sa.func.count()).select_from(Workflow).where(*where))
        rows = session.scalars(
            sa.select(Workflow).where(*where).order_by(Workflow.id).offset(offset).limit(limit)
        ).all()
        return Page(
            items=tuple(business_view(wf) for wf in rows),
            page_number=page_number,
            page_size=page_size,
            total_count=total or 0,
        )


def _rename_folders(session: Session, wf: Workflow, new_name: str) -> None:
    """A file's FileFolderPath names its workflow; renaming the workflow moves its files."""
    files = session.scalars(
        sa.select(File).where(File.workflow_id == wf.id, File.deleted_at.is_(None))
    ).all()
    for file in files:
        segments = file.folder_path.split("/")
        segments[1] = new_name
        file.folder_path = "/".join(segments)


def update_business(
    ctx: ServiceContext,
    *,
    business_id: int,
    business_name: str | None = None,
    description: str | None = None,
    owner: str | None = None,
    parameters: str | None = None,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> BusinessView:
    """Change what is given (None leaves a field as it is). Renaming moves the files' folder
    paths with it; a name already taken → `Invalid.Business.Duplicate`."""
    name = check_name(business_name, "BusinessName") if business_name is not None else None
    params = check_workflow_parameters(parameters) if parameters is not None else None
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        wf = resolve_workflow(session, ws, business_id=business_id)
        if name is not None and name != wf.name:
            _check_free(session, ws, name, except_id=wf.id)
            _rename_folders(session, wf, name)
            folders.move_workflow_folders(session, ws.id, wf.name, name)
            wf.name = name
        if description is not None:
            wf.description = description
        if owner is not None:
            wf.owner = owner
        if params is not None:
            wf.parameters = params
        wf.modified_at = ctx.clock()
        flush_unique(session, _duplicate(ws, wf.name))
        return business_view(wf)


def delete_business(
    ctx: ServiceContext,
    *,
    business_id: int,
    project_id: int | None = None,
    project_identifier: str | None = None,
    caller: Caller = Caller(),
) -> None:
    """Delete a workflow that has no files left; otherwise `Invalid.Business.Status` (409)."""
    with ctx.db.transaction() as session:
        ws = resolve_workspace(
            session, project_id=project_id, project_identifier=project_identifier
        )
        wf = resolve_workflow(session, ws, business_id=business_id)
        files = session.scalars(
            sa.select(File.name)
            .where(File.workflow_id == wf.id, File.deleted_at.is_(None))
            .order_by(File.id)
        ).all()
        if files:
            raise Conflict(
                "Business",
                f"The workflow BusinessId={business_id} ({wf.name!r}) still has files "
                f"({', '.join(files)}); delete them first.",
            )
        folders.delete_workflow_folders(session, ws.id, wf.name)
        wf.deleted_at = ctx.clock()
